"""`recorder demo`: a realistic workload served by a loopback Vellum and recorded live.

The workload streams from a local server speaking the real endpoint, and each execution is
recorded through `recorder record`'s own code path: a newcomer watches the real consumer work.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed

import click
from rich.progress import Progress
from rich.table import Table

from recorder.cli.main import CliContext
from recorder.cli.output import print_json, short, stderr, stdout
from recorder.cli.record_commands import run_recording
from recorder.demo.server import LoopbackVellum, Scenario
from recorder.demo.workload import build_workload
from recorder.extras import install_hint

pass_context = click.make_pass_decorator(CliContext)

DEMO_API_KEY = "demo-loopback-key"
DEMO_CONCURRENCY = 4


@click.command()
@click.option("--executions", "count", type=click.IntRange(1, 100_000), default=60, show_default=True, help="How many executions to generate.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the generator (same seed, same workload).")
@click.option("--speed", type=click.FloatRange(min=0.1), default=25.0, show_default=True, help="Replay the workload this many times faster than real time.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Write the audit report (HTML) here afterwards [default: recorder-report.html; none with --json]; '' skips it.")
@click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
@pass_context
def demo(context: CliContext, count: int, seed: int, speed: float, report_path: str, as_json: bool) -> None:
    """Record a synthetic workload live: several deployments and release tags, parallel branches,
    streaming prompts, subworkflows and maps, failures, previous_execution_id chains, metadata."""
    from rich.markup import escape
    from recorder.store import FlushPolicy
    from recorder.stream.http import Timeouts

    recorder = context.recorder
    workload = build_workload(executions=count, seed=seed)
    before = {row["execution_id"] for row in recorder.list_executions()} if not as_json else set()
    with LoopbackVellum(api_key=DEMO_API_KEY) as server:
        for execution in workload:
            server.expect(execution.request, Scenario.from_text_lines(list(execution.lines), offsets_s=list(execution.offsets_s), speed=speed))
        if not as_json:
            stderr.print(f"[bold]A loopback Vellum at {server.base_url} streams {count} executions; recording each live into {recorder.url}[/bold]\n")
        first, rest = workload[0], workload[1:]
        run_recording(context, first.request, base_url=server.base_url, timeouts=Timeouts(), policy=FlushPolicy(),
                      quiet=as_json, passthrough=False, api_key=DEMO_API_KEY, report=not as_json)
        if rest and not as_json:
            stderr.print(f"\n[dim]...recording the other {len(rest)} executions, {DEMO_CONCURRENCY} at a time...[/dim]")
        with Progress(console=stderr, transient=True, disable=as_json or not stderr.is_terminal) as progress:
            task = progress.add_task("recording", total=len(rest))
            # The same path as `recorder record` (Recorder.record), a few streams at once as in production.
            with ThreadPoolExecutor(DEMO_CONCURRENCY) as pool:
                futures = [pool.submit(recorder.record, e.request, api_key=DEMO_API_KEY, base_url=server.base_url) for e in rest]
                for future in as_completed(futures):
                    future.result()
                    progress.advance(task)
    rows = recorder.list_executions()
    ids = {e.execution_id for e in workload}
    recorded = [row for row in rows if row["execution_id"] in ids]
    summary = {
        "database": recorder.url,
        "executions": len(recorded),
        "new_executions": len(ids - before) if not as_json else None,
        "events": sum(row["event_count"] for row in recorded),
        "statuses": dict(Counter(row["status"] for row in recorded)),
    }
    report_hint = None
    if report_path is None:  # scripts (--json) ask for files explicitly; people get the report
        report_path = "" if as_json else "recorder-report.html"
        if report_path and not report_extra_installed():
            # A plain install records and audits; the HTML report needs the charts extra.
            report_path, report_hint = "", install_hint("report")
    if report_path:
        from recorder.report.audit_report import write_report

        summary["report"] = str(write_report(recorder, report_path).path.resolve())
    if as_json:
        summary.pop("new_executions")
        print_json(summary)
        return
    stdout.print(f"\n[bold]Recorded {len(recorded)} executions ({summary['events']} events)[/bold] into {recorder.url}")
    _print_overview(recorded)
    example = next((e for e in workload if e.final_state == "REJECTED"), workload[0])
    if report_path:
        stdout.print(f"\n[bold]Audit report:[/bold] {summary['report']}  (open it in a browser; it needs no network)")
    elif report_hint:
        stdout.print(f"\n[dim]The HTML audit report needs the charts: {escape(report_hint)}[/dim]")
    stdout.print("\nNext, try:")
    for line in (
        "recorder executions --status REJECTED",
        f"recorder show {short(example.execution_id)}",
        f"recorder show {short(example.execution_id)} --json",
    ):
        stdout.print(f"  [cyan]{line}[/cyan]")


def report_extra_installed() -> bool:
    return all(importlib.util.find_spec(module) is not None for module in ("altair", "vl_convert", "duckdb", "polars"))


def _print_overview(rows: list[dict]) -> None:
    by_group = Counter((r["workflow_deployment_name"] or short(r["workflow_deployment_id"]), r["release_tag"] or "-", r["status"]) for r in rows)
    table = Table(title="executions by deployment, release tag and status", title_justify="left")
    for header in ("deployment", "release tag", "status", "count"):
        table.add_column(header, justify="right" if header == "count" else "left")
    for (deployment, tag, status), number in sorted(by_group.items()):
        table.add_row(deployment, tag, status, str(number))
    stdout.print(table)
    chained = sum(1 for r in rows if r["previous_execution_id"])
    roots = len({r["root_execution_id"] for r in rows})
    stdout.print(f"{chained} executions continue an earlier one (previous_execution_id); {roots} lineage roots.")


COMMANDS = (demo,)
