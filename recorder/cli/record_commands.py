"""Commands that talk to Vellum: record, reconcile, actuals."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from recorder.cli.live_view import LiveView
from recorder.cli.context import CliContext, pass_context
from recorder.cli.output import print_json, short, stderr, stdout, styled_status
from recorder.model.endpoints import BASE_URL_ENV, DEFAULT_BASE_URL
from recorder.model.endpoints import WorkflowStream
from recorder.model.request import build_deployment_stream_body, build_request_body, infer_inputs, plain_inputs

if TYPE_CHECKING:
    from recorder.api import Recorder
    from recorder.store import FlushPolicy
    from recorder.stream.http import LiveResult
    from recorder.stream.vellum_api import Timeouts

# Exit codes of `recorder record`, so scripts can tell what happened without parsing text.
EXIT_FULFILLED, EXIT_REJECTED, EXIT_HTTP_ERROR, EXIT_CONNECTION_ERROR, EXIT_CUT = 0, 1, 3, 4, 5
EXIT_SIGINT, EXIT_SIGTERM = 130, 143

# The environment variable and the default are applied by recorder.stream.vellum_api (base_url_from_env),
# which imports httpx: named here in the help only, so `--help` does not import it.
base_url_option = click.option(
    "--base-url", metavar="URL", help=f"Vellum predict API. Env: {BASE_URL_ENV}. Default: {DEFAULT_BASE_URL}."
)


def _json_option(value: str | None, what: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"{what} must be JSON: {exc}") from exc


def _inputs(pairs: tuple[str, ...], inputs_json: str | None) -> list[dict[str, Any]]:
    inputs: list[dict[str, Any]] = []
    if inputs_json:
        try:
            loaded = json.loads(Path(inputs_json).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"{inputs_json}: {exc}", param_hint="--inputs-json") from exc
        if isinstance(loaded, dict):
            inputs = infer_inputs(loaded)
        elif isinstance(loaded, list) and all(isinstance(i, dict) and {"name", "type", "value"} <= i.keys() for i in loaded):
            inputs = loaded
        else:
            raise click.BadParameter("give a typed list [{name, type, value}] or a {name: value} object", param_hint="--inputs-json")
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--input")
        inputs = [i for i in inputs if i["name"] != name] + [{"name": name, "type": "STRING", "value": value}]
    return inputs


def _sigterm_as_exit(_signum, _frame) -> None:
    raise SystemExit(EXIT_SIGTERM)


DEFAULT_EVENT_TYPES = "WORKFLOW,NODE"


@click.command()
@click.option("--deployment", metavar="NAME", help="Workflow deployment name.")
@click.option("--deployment-id", metavar="UUID", help="Workflow deployment id.")
@click.option("--release-tag", metavar="TAG", help="Release to run (default: the latest).")
@click.option("--input", "input_pairs", multiple=True, metavar="NAME=VALUE", help="A STRING input; repeatable.")
@click.option("--inputs-json", type=click.Path(dir_okay=False), metavar="FILE", help="Typed input list, or a {name: value} object whose types are inferred.")
@click.option("--metadata", metavar="JSON", help="Free-form JSON kept with the execution.")
@click.option("--previous-execution-id", metavar="ID", help="Continue from an earlier execution.")
@click.option("--external-id", metavar="ID", help="Your own id for this execution.")
@click.option("--stream", "stream", type=click.Choice([s.value for s in WorkflowStream]), default=WorkflowStream.V1.value, show_default=True,
              help="v1: POST /v1/execute-workflow-stream (legacy WORKFLOW/NODE events); "
                   "v2: POST /v1/workflow-deployments/{id}/execute-stream (SDK events).")
@click.option("--trigger", metavar="NAME_OR_ID", help="v2 only: the workflow trigger to use (default: the manual one).")
@click.option("--event-types", help=f"v1 only: event types to ask for. Default: {DEFAULT_EVENT_TYPES}.")
@click.option("--expand-meta", metavar="usage,cost,model_name", help="v1 only: ask prompt nodes for usage, cost and model name.")
@base_url_option
@click.option("--connect-timeout", type=float, default=10.0, show_default=True, help="Seconds to connect.")
@click.option("--read-timeout", type=float, default=300.0, show_default=True, help="Seconds to wait for data before the stream counts as cut.")
@click.option("--flush-events", type=click.IntRange(1), default=50, show_default=True, help="Commit after this many lines...")
@click.option("--flush-ms", type=click.IntRange(1), default=100, show_default=True, help="...or after a line has waited this long.")
@click.option("--quiet", is_flag=True, help="Print only the final status.")
@click.option("--json", "as_json", is_flag=True, help="Pass the raw stream through to stdout; the status goes to stderr.")
@pass_context
def record(context: CliContext, deployment, deployment_id, release_tag, input_pairs, inputs_json, metadata, previous_execution_id,
           external_id, stream, trigger, event_types, expand_meta, base_url, connect_timeout, read_timeout, flush_events, flush_ms, quiet,
           as_json) -> None:
    """Execute a deployed workflow and record its stream as it arrives.

    The API key is read from VELLUM_API_KEY only. An execution is never retried. Exit codes:
    0 fulfilled, 1 rejected, 3 HTTP error, 4 connection error, 5 stream cut, 130/143 interrupted.
    """
    inputs = _inputs(input_pairs, inputs_json)
    try:
        if stream == WorkflowStream.V2:
            for given, option in ((event_types, "--event-types"), (expand_meta, "--expand-meta")):
                if given:
                    raise click.UsageError(f"{option} is for the v1 stream; the v2 stream sends every event and has no such field")
            body = build_deployment_stream_body(
                inputs=plain_inputs(inputs),
                workflow_deployment_name=deployment,
                workflow_deployment_id=deployment_id,
                trigger=trigger,
                release_tag=release_tag,
                external_id=external_id,
                metadata=_json_option(metadata, "--metadata"),
                previous_execution_id=previous_execution_id,
            )
        else:
            if trigger:
                raise click.UsageError("--trigger is for the v2 stream (--stream v2)")
            body = build_request_body(
                inputs=inputs,
                workflow_deployment_name=deployment,
                workflow_deployment_id=deployment_id,
                release_tag=release_tag,
                external_id=external_id,
                metadata=_json_option(metadata, "--metadata"),
                previous_execution_id=previous_execution_id,
                event_types=[t.strip().upper() for t in (event_types or DEFAULT_EVENT_TYPES).split(",") if t.strip()],
                expand_meta={flag.strip(): True for flag in expand_meta.split(",")} if expand_meta else None,
            )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    from recorder.store import FlushPolicy
    from recorder.stream.vellum_api import Timeouts

    code = run_recording(context, body, base_url=base_url, timeouts=Timeouts(connect_timeout, read_timeout),
                         policy=FlushPolicy(flush_events, flush_ms / 1000), quiet=quiet, passthrough=as_json)
    sys.exit(code)


def run_recording(context: CliContext, body: dict[str, Any], *, base_url: str | None, timeouts: Timeouts,
                  policy: FlushPolicy, quiet: bool, passthrough: bool) -> int:
    """Record one execution with the live view and return the exit code."""
    from recorder.model.secrets import ScrubbedLines, SecretScrubber
    from recorder.stream.vellum_api import api_key_from_env

    api_key = api_key_from_env()
    view = None if quiet or passthrough else LiveView()
    # The raw stream goes to stdout a whole line at a time, so that an echoed key is scrubbed even
    # when a chunk boundary falls inside it.
    passed_on = ScrubbedLines(_passthrough, SecretScrubber([api_key])) if passthrough else None
    previous = signal.signal(signal.SIGTERM, _sigterm_as_exit)
    try:
        result = context.recorder.record(body, api_key=api_key, base_url=base_url, timeouts=timeouts, policy=policy,
                                         on_parsed=view, on_bytes=passed_on.feed if passed_on else None)
    except KeyboardInterrupt:
        stderr.print("[yellow]interrupted: everything received was recorded, the recording is marked interrupted[/yellow]")
        return EXIT_SIGINT
    except SystemExit as exc:
        if exc.code == EXIT_SIGTERM:
            stderr.print("[yellow]terminated: everything received was recorded, the recording is marked interrupted[/yellow]")
        return int(exc.code or 0)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if passed_on is not None:
            passed_on.finish()
    return _exit_code(result.outcome, print_result(context.recorder, result))


def print_result(recorder: Recorder, result: LiveResult) -> str | None:
    """The recorded execution's status, duration and counts on stderr; returns its status."""
    execution = recorder.store.execution(result.execution_id) if result.execution_id else None
    counts = f"{result.recording.events_stored} events, {result.recording.rejects} rejected lines, recording {result.recording.recording_id}"
    if result.error:
        stderr.print(f"[red]error:[/red] {result.error}")
    if execution is not None:
        duration = "" if execution.ended_at_us is None else f" in {(execution.ended_at_us - execution.started_at_us) / 1000:.1f} ms"
        stderr.print(f"execution {execution.execution_id} {styled_status(execution.status)}{duration} ({counts})")
    else:
        stderr.print(f"no execution recorded ({counts})")
    return execution.status if execution else None


def _exit_code(outcome: str, status: str | None) -> int:
    from recorder.store import Outcome

    if outcome == Outcome.HTTP_ERROR:
        return EXIT_HTTP_ERROR
    if outcome == Outcome.CONNECTION_ERROR:
        return EXIT_CONNECTION_ERROR
    if outcome == Outcome.CUT:
        return EXIT_CUT
    return EXIT_FULFILLED if status == "FULFILLED" else EXIT_REJECTED


def _passthrough(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


@click.command()
@click.argument("execution_ids", nargs=-1, metavar="[EXECUTION_ID]...")
@base_url_option
@click.option("--abandoned-after", type=float, default=60.0, show_default=True, metavar="SECONDS",
              help="First mark in-progress recordings silent this long as cut (their recorder died).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_context
def reconcile(context: CliContext, execution_ids: tuple[str, ...], base_url: str | None, abandoned_after: float, as_json: bool) -> None:
    """Ask Vellum for the final status of INCOMPLETE executions (all of them by default).

    Each answer is recorded as a separate fact; recorded events are never rewritten.
    """
    rows = context.recorder.reconcile(execution_ids or None, base_url=base_url, abandoned_after_s=abandoned_after)
    if as_json:
        print_json(rows)
        return
    if not rows:
        stdout.print("no INCOMPLETE executions to reconcile")
        return
    table = Table(title=f"{len(rows)} executions reconciled", title_justify="left")
    for header in ("execution", "recorded", "reported by Vellum", "error"):
        table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(short(row["execution_id"]), styled_status(row["recorded_status"]), styled_status(row["reported_status"]),
                      row["error"] or row["error_code"] or "")
    stdout.print(table)


@click.command()
@click.argument("execution_id")
@click.option("--output", required=True, metavar="NAME", help="The workflow output the feedback is about.")
@click.option("--quality", type=click.FloatRange(0.0, 1.0), help="0.0 (bad) to 1.0 (good).")
@click.option("--value", metavar="V", help="The desired output value.")
@click.option("--type", "output_type", type=click.Choice(["STRING", "JSON", "CHAT_HISTORY"], case_sensitive=False), default="STRING",
              show_default=True, help="Type of --value (JSON and CHAT_HISTORY values are parsed as JSON).")
@click.option("--metadata", metavar="JSON", help="Free-form JSON sent with the feedback.")
@base_url_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def actuals(context: CliContext, execution_id, output, quality, value, output_type, metadata, base_url, as_json) -> None:
    """Submit feedback on an execution's output to Vellum and record it beside the execution."""
    output_type = output_type.upper()
    parsed_value = _json_option(value, "--value") if output_type != "STRING" else value
    if quality is None and value is None:
        raise click.UsageError("give --quality, --value, or both")
    row = context.recorder.submit_actual(execution_id, output=output, quality=quality, value=parsed_value, output_type=output_type,
                                         metadata=_json_option(metadata, "--metadata"), base_url=base_url)
    if as_json:
        print_json(row)
    if row["error"]:
        raise click.ClickException(f"{row['error']} (the attempt is recorded)")
    if not as_json:
        stdout.print(f"feedback on {output!r} of {short(row['execution_id'])} submitted and recorded")


COMMANDS = (record, reconcile, actuals)
