"""Commands over the store itself: init, ingest, executions, show."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import click
from rich.table import Table

from recorder.cli.context import CliContext, pass_context
from recorder.cli.options import MOMENT
from recorder.cli.output import byte_progress, print_json, short, stderr, stdout, styled_status


@click.command()
@click.option("--allow-other-tables", is_flag=True,
              help="Add the recorder's tables to a database that already holds another application's tables.")
@pass_context
def init(context: CliContext, allow_other_tables: bool) -> None:
    """Create the schema, or migrate it to this version (alembic upgrade head)."""
    from recorder.api import Recorder

    done = Recorder.init(context.url, allow_other_tables=allow_other_tables)
    if not done.migrated:
        stdout.print(f"{done.url}: schema already at revision {done.after} (head)")
    else:
        stdout.print(f"{done.url}: schema migrated from {done.before or 'empty'} to {done.after} (head {done.head})")


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--request", "request_file", metavar="REQUEST.json", help="The request body that produced these bodies (metadata, previous_execution_id, release_tag, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print the result of each file as JSON.")
@pass_context
def ingest(context: CliContext, files: tuple[str, ...], request_file: str | None, as_json: bool) -> None:
    """Record saved response bodies: NDJSON files or cassettes (`-` for stdin).

    Ingesting the same body again adds nothing; malformed lines are kept as rejects.
    """
    from recorder.stream.ingest import STDIN, read_request_file

    request = read_request_file(request_file) if request_file else None
    recorder = context.recorder
    results: list[dict[str, Any]] = []
    with byte_progress() as progress:
        for path in files:
            size = os.path.getsize(path) if path != STDIN and os.path.isfile(path) else None
            task = progress.add_task(os.path.basename(path) if path != STDIN else "stdin", total=size)
            result = recorder.ingest(path, request=request, on_bytes=lambda n, task=task: progress.advance(task, n))
            progress.remove_task(task)
            results.append({"file": path, **asdict(result)})
            if not as_json:
                _print_ingest_line(results[-1])
    if as_json:
        print_json(results)
    elif len(results) > 1:
        totals = {key: sum(r[key] for r in results) for key in ("events_stored", "duplicates", "rejects")}
        stdout.print(
            f"[bold]{len(results)} files:[/bold] {totals['events_stored']} events stored, "
            f"{totals['duplicates']} duplicates skipped, {totals['rejects']} lines rejected"
        )


def _print_ingest_line(result: dict[str, Any]) -> None:
    note = ""
    if result["already_recorded_as"] is not None:
        note = f" (already recorded as recording {result['already_recorded_as']})"
    elif result["outcome"] == "cut":
        note = " [yellow](cut: the body ends before the workflow's terminal event; the execution stays INCOMPLETE)[/yellow]"
    executions = ", ".join(short(e) for e in result["execution_ids"][:3])
    more = f" +{len(result['execution_ids']) - 3}" if len(result["execution_ids"]) > 3 else ""
    stdout.print(
        f"{result['file']}: {result['events_stored']} events stored, {result['duplicates']} duplicates skipped, "
        f"{result['rejects']} lines rejected; execution {executions}{more}{note}"
    )
    if result["rejects"]:
        stderr.print(f"  [yellow]{result['rejects']} rejected lines kept verbatim: `recorder show {short(result['execution_ids'][0]) if result['execution_ids'] else 'ID'}` lists them[/yellow]")


@click.command()
@click.option("--deployment", help="Deployment name or id.")
@click.option("--status", help="FULFILLED, REJECTED, INCOMPLETE, ...")
@click.option("--since", type=MOMENT, help="Started at or after: ISO-8601 or an age like 2h, 7d.")
@click.option("--until", type=MOMENT, help="Started before: ISO-8601 or an age.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="At most this many (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_context
def executions(context: CliContext, deployment, status, since, until, limit: int, as_json: bool) -> None:
    """List recorded executions, newest first."""
    rows = context.recorder.list_executions(deployment=deployment, status=status, since=since, until=until, limit=limit or None)
    if as_json:
        print_json(rows)
        return
    from rich.markup import escape

    table = Table(title=f"{len(rows)} executions", title_justify="left")
    for header, justify in (("execution", "left"), ("deployment", "left"), ("tag", "left"), ("status", "left"),
                            ("started", "left"), ("ms", "right"), ("events", "right"), ("error", "left"), ("previous", "left")):
        table.add_column(header, justify=justify, no_wrap=True)
    for row in rows:
        table.add_row(
            escape(short(row["execution_id"])),
            escape(row["workflow_deployment_name"] or short(row["workflow_deployment_id"]) or ""),
            escape(row["release_tag"] or ""),
            styled_status(row["status"]),
            (row["started_at"] or "")[:23].replace("T", " "),
            f"{row['duration_ms']:.1f}" if row["duration_ms"] is not None else "",
            str(row["event_count"]),
            escape(row["error_code"] or ""),
            escape(short(row["previous_execution_id"])),
        )
    stdout.print(table)


@click.command()
@click.argument("execution_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the events in stream order.")
@pass_context
def show(context: CliContext, execution_id: str, as_json: bool) -> None:
    """The audit view of one execution: request, inputs, outputs, error and its events in order.

    EXECUTION_ID may be a unique prefix.
    """
    audit = context.recorder.audit(execution_id)
    if as_json:
        print_json(audit)
        return
    _print_audit(audit)


def _document(value: Any) -> Any:
    """A recorded JSON value as its exact JSON text: a 30-digit integer, 1e400 or half an emoji
    show as recorded, and wire text is never read as rich markup."""
    import orjson
    from rich.text import Text

    from recorder.store.serialize import json_ready

    return Text(orjson.dumps(json_ready(value), option=orjson.OPT_INDENT_2).decode())


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} ms"


def _print_audit(audit: dict[str, Any]) -> None:
    """Every value here was recorded from the wire or given by a client, so each is escaped
    before it meets rich markup (an error message may well contain `[/INST]`)."""
    from rich.markup import escape
    from rich.panel import Panel

    def text(value: Any, missing: str = "-") -> str:
        return escape(missing if value is None or value == "" else str(value))

    lines = [
        f"[bold]execution[/bold] {text(audit['execution_id'])}  {styled_status(audit['status'])}",
        f"deployment {text(audit['workflow_deployment_name'] or audit['workflow_deployment_id'], '?')}"
        f"  release_tag {text(audit['release_tag'])}  external_id {text(audit['external_id'])}",
        f"started {text(audit['started_at'])}  ended {text(audit['ended_at'])}  duration {_ms(audit['duration_ms'])}"
        f"  events {audit['event_count']}",
        f"previous {text(audit['previous_execution_id'])}  root {text(audit['root_execution_id'])}",
    ]
    if audit["error"]:
        lines.append(f"[red]error {text(audit['error']['code'])}: {text(audit['error']['message'])}[/red]")
    stdout.print(Panel("\n".join(lines), expand=False))
    for name in ("metadata", "inputs", "outputs"):
        if name != "metadata" or audit[name] is not None:
            stdout.print(f"[bold]{name}[/bold]", _document(audit[name]))
    table = Table(title="events in stream order", title_justify="left")
    for header in ("#", "ts", "type", "state", "node type", "node run", "source exec", "flags"):
        table.add_column(header, no_wrap=True)
    for event in audit["events"]:
        table.add_row(
            str(event["position"]),
            (event["ts"] or "")[11:26],
            text(event["type"], ""),
            text(event["state"], ""),
            text(event["node_type"], ""),
            text(short(event["node_result_id"]), ""),
            text(short(event["source_execution_id"]), ""),
            text(",".join(event["flags"]), ""),
        )
    stdout.print(table)
    for recording in audit["recordings"]:
        outcome = escape(f"[{recording['outcome']}]")
        stdout.print(
            f"recording {recording['recording_id']}: {text(recording['source'])} {outcome}"
            f"{' HTTP ' + str(recording['http_status']) if recording['http_status'] else ''}"
            f"{' - ' + text(recording['error']) if recording['error'] else ''}"
        )
    for reject in audit["rejects"]:
        stdout.print(f"[yellow]rejected line {reject['position']} (recording {reject['recording_id']}): {text(reject['reason'])}[/yellow]")
        stdout.print(f"  {escape(repr(reject['raw'][:200]))}")


COMMANDS = (init, ingest, executions, show)
