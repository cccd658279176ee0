"""`recorder otlp export`: recorded executions as OpenTelemetry traces, sent over OTLP/HTTP.

A projection of `Recorder.export_otlp`: parse the options, call, print. Header values are never
printed (they are usually API keys); the endpoint is shown without credentials.
"""

from __future__ import annotations

import io

import click

from recorder.cli.context import CliContext, pass_context
from recorder.cli.options import MOMENT
from recorder.cli.output import print_json, stderr, stdout


@click.group()
def otlp() -> None:
    """Send recorded executions to an OpenTelemetry receiver (OTLP/HTTP)."""


@otlp.command("export")
@click.option("--since", type=MOMENT, help="Only executions started at or after T (ISO-8601 or an age: 30m, 2h, 7d).")
@click.option("--until", type=MOMENT, help="Only executions started before T.")
@click.option("--deployment", metavar="D", help="Only executions of this deployment (name or id).")
@click.option(
    "--endpoint", metavar="URL",
    help="OTLP/HTTP traces endpoint. Default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT "
         "+ /v1/traces, else http://localhost:6006/v1/traces (Phoenix).",
)
@click.option("--headers", "header_pairs", metavar="K=V", multiple=True,
              help="A header to send (repeatable; added to OTEL_EXPORTER_OTLP_HEADERS). Values are never printed.")
@click.option("--all/--resume", "send_all", default=False,
              help="--resume (default): only what was recorded since the endpoint's cursor. --all: everything again.")
@click.option("--dry-run", is_flag=True, help="Map and count what would be sent; send nothing, keep the cursor.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds the exporter may spend on one batch, retries included.")
@click.option("--json", "as_json", is_flag=True, help="Print {executions, spans, batches, endpoint, cursor, ...} as JSON.")
@pass_context
def export(
    context: CliContext,
    since: int | None,
    until: int | None,
    deployment: str | None,
    endpoint: str | None,
    header_pairs: tuple[str, ...],
    send_all: bool,
    dry_run: bool,
    timeout_s: float,
    as_json: bool,
) -> None:
    """Send terminal executions as traces: one per execution, the workflow as root span, node runs
    as its children with their recorded times. INCOMPLETE executions wait until they end."""
    from recorder.extras import require

    for module in ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter"):
        require(module, "recorder otlp export")
    from recorder.otel.exporter import OtlpExportError, parse_headers

    try:
        headers = parse_headers(header_pairs)
        with _progress() as progress:
            task = progress.add_task("exporting", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = context.recorder.export_otlp(
                endpoint=endpoint, headers=headers, since=since, until=until, deployment=deployment,
                resume=not send_all, dry_run=dry_run, timeout_s=timeout_s, on_progress=advance,
            )
    except OtlpExportError as exc:
        raise click.ClickException(" ".join(str(exc).split())) from exc
    if as_json:
        print_json(result.to_dict())
        return
    verb = "would send" if dry_run else "sent"
    stdout.print(
        f"{verb} {result.executions} executions ({result.spans} spans, {result.batches} batches) to {result.endpoint}"
    )
    if not dry_run:
        stdout.print(f"cursor {result.cursor}" + ("" if result.resumed_from is None else f" (resumed after {result.resumed_from})"))


def _progress():
    """A bar over executions sent, on stderr, only on a terminal (a pipe or a log gets no bar)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr if stderr.is_terminal else Console(file=io.StringIO()),
        transient=True,
        disable=not stderr.is_terminal,
    )


COMMANDS = (otlp,)
