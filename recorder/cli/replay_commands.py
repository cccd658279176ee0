"""Commands that replay: export (store -> cassette) and serve (a replay server)."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import click
from rich.markup import escape

from recorder.cli.context import CliContext, pass_context
from recorder.cli.output import stderr
from recorder.model.cassette import CassetteError
from recorder.replay.library import FolderLibrary, Library
from recorder.replay.matching import DEFAULT_FIELDS, KNOWN_FIELDS, STRICT, MatchRule
from recorder.replay.redaction import redact
from recorder.replay.server import LOOPBACK, ReplayServer, Served
from recorder.replay.timing import INSTANT, RECORDED, Timing
from recorder.replay.vocabulary import MatchMode, TimingMode, choices

DEFAULT_PORT = 8765


@click.command()
@click.argument("execution_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE", help="Write to FILE instead of stdout.")
@click.option("--body", is_flag=True, help="Write only the response body, byte for byte as it was received.")
@click.option("--redact", "redact_keys", multiple=True, metavar="KEY",
              help="Take this value out of the cassette, request and lines alike: inputs.NAME, metadata.KEY, external_id, "
                   "or NAME (any input or metadata key). Repeatable.")
@click.option("--cut-after", type=click.IntRange(min=0), metavar="N", help="Fault: replays break the connection after N lines.")
@click.option("--http-error", type=click.IntRange(400, 599), metavar="STATUS", help="Fault: replays answer this HTTP error instead.")
@click.option("--first-byte-delay", type=click.FloatRange(min=0), metavar="SECONDS", help="Fault: replays wait this long before answering.")
@pass_context
def export(context: CliContext, execution_id: str, output: str | None, body: bool, redact_keys: tuple[str, ...],
           cut_after: int | None, http_error: int | None, first_byte_delay: float | None) -> None:
    """Write the cassette of a recorded execution: its request, status, headers and every received
    line with its arrival offset (see README, Replay). EXECUTION_ID may be a unique prefix.

    `--body` writes the response body exactly as received (with --redact: minus the redacted values).
    """
    from recorder.replay.export import ExportError

    given = {"cut_after_lines": cut_after, "status": http_error, "first_byte_delay_s": first_byte_delay}
    try:
        cassette = context.recorder.export(execution_id, **{name: value for name, value in given.items() if value is not None})
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    if redact_keys:
        redaction = redact(cassette, redact_keys)
        cassette = redaction.cassette
        for key in redaction.unmatched:
            stderr.print(f"[yellow]--redact {escape(key)}: the request has no such input or metadata key; nothing redacted for it[/yellow]")
    data = cassette.body() if body else cassette.dumps()
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(output).write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"{output}: cannot write ({exc.strerror or exc})") from exc
    what = "body" if body else "cassette"
    stderr.print(f"wrote the {what} of execution {execution_id} to {output}: {len(cassette.response.lines)} lines, "
                 f"{len(data)} bytes, outcome {cassette.response.outcome}")


@click.command()
@click.argument("cassette_dir", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--host", default=LOOPBACK, show_default=True, help="Address to bind. Anything but loopback serves the recordings to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True, help="Port (0: any free one).")
@click.option("--timing", type=click.Choice(choices(TimingMode)), help="instant: as fast as possible (default); recorded: the original gaps.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), metavar="X", help="Recorded gaps, X times faster (implies --timing recorded).")
@click.option("--match", "match_mode", type=click.Choice(choices(MatchMode)), default=STRICT.value, show_default=True,
              help="strict: every field must agree; loose: the deployment must, the rest picks the closest.")
@click.option("--match-on", metavar="FIELDS", default=",".join(DEFAULT_FIELDS), show_default=True,
              help=f"Comma-separated fields compared: {', '.join(KNOWN_FIELDS)}.")
@pass_context
def serve(context: CliContext, cassette_dir: str | None, host: str, port: int, timing: str | None, speed: float | None,
          match_mode: str, match_on: str) -> None:
    """Serve recorded exchanges as Vellum's predict API: POST /v1/execute-workflow-stream (v1),
    POST /v1/workflow-deployments/{id}/execute-stream (v2), POST /v1/execute-workflow and GET
    /v1/workflows/executions/{id}/status, from CASSETTE_DIR (every cassette under it) or, without
    one, from the store.

    Point a client at it: Vellum(api_key="any", environment=VellumEnvironment(predict=URL, default=URL, documents=URL)).
    """
    from recorder.replay.store_library import StoreLibrary

    if timing == INSTANT and speed is not None:
        raise click.UsageError("--speed replays the recorded gaps faster; it cannot go with --timing instant")
    try:
        rule = MatchRule(match_mode, tuple(name.strip() for name in match_on.split(",") if name.strip()))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--match-on") from exc
    pace = Timing(RECORDED, speed or 1.0) if (timing == RECORDED or speed is not None) else Timing()
    library: Library
    try:
        library = FolderLibrary(cassette_dir) if cassette_dir else StoreLibrary(context.recorder.store)
    except CassetteError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        server = ReplayServer(library, host=host, port=port, match=rule, timing=pace, on_served=_report)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    if not _is_loopback(host):
        stderr.print(f"[yellow]listening on {host}: every recorded stream is served to whoever can reach this address[/yellow]")
    stderr.print(f"[bold]replaying {escape(library.describe())} at {server.base_url}[/bold] ({rule.describe()}; {pace.describe()} timing)")
    stderr.print(f'  point a client here: VellumEnvironment(predict="{server.base_url}", default=..., documents=...); Ctrl-C stops')
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        stderr.print("stopped")
    finally:
        server.stop()


def _report(served: Served) -> None:
    origin = f" from {escape(served.replayed_from)}" if served.replayed_from else ""
    style = "green" if served.status < 400 else "red"
    stderr.print(f"{served.method} {escape(served.path)} -> [{style}]{served.status}[/{style}]{origin}")
    if served.detail:
        stderr.print(f"[dim]{escape(served.detail)}[/dim]")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


COMMANDS = (export, serve)
