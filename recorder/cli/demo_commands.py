"""`recorder demo`: `Recorder.demo`, printed: a loopback Vellum's workload recorded live.

The first execution is shown as `recorder record` shows one (its live view and result line), the
rest behind a progress bar; then an overview, the audit report and commands to try next.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from typing import TYPE_CHECKING

import click
from rich.progress import Progress
from rich.table import Table

from recorder.cli.context import CliContext, pass_context
from recorder.cli.live_view import LiveView
from recorder.cli.output import print_json, short, stderr, stdout
from recorder.cli.record_commands import print_result
from recorder.demo.live_recording import DEMO_CONCURRENCY
from recorder.extras import install_hint

if TYPE_CHECKING:
    from recorder.stream.http import LiveResult


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

    recorder = context.recorder
    with Progress(console=stderr, transient=True, disable=as_json or not stderr.is_terminal) as progress:
        task = progress.add_task("recording", total=count - 1, visible=False)  # shown once the first is printed
        first_done = False

        def serving(base_url: str) -> None:
            if not as_json:
                stderr.print(f"[bold]A loopback Vellum at {base_url} streams {count} executions; recording each live into {recorder.url}[/bold]\n")

        def recorded(result: LiveResult) -> None:
            nonlocal first_done
            if first_done:
                progress.advance(task)
                return
            first_done = True
            if not as_json:
                print_result(recorder, result)
                if count > 1:
                    stderr.print(f"\n[dim]...recording the other {count - 1} executions, {DEMO_CONCURRENCY} at a time...[/dim]")
            progress.update(task, visible=True)

        run = recorder.demo(executions=count, seed=seed, speed=speed, on_serving=serving,
                            on_parsed=None if as_json else LiveView(), on_recorded=recorded)
    summary = run.to_dict()
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
    stdout.print(f"\n[bold]Recorded {len(run.recorded)} executions ({run.events} events)[/bold] into {recorder.url}")
    _print_overview(run.recorded)
    v2 = run.streams.get("v2", 0)
    if v2:
        stdout.print(f"{v2} of them went through the v2 stream (POST /v1/workflow-deployments/{{id}}/execute-stream, SDK events), "
                     f"the rest through the v1 stream (POST /v1/execute-workflow-stream).")
    example = next((e for e in run.workload if e.final_state == "REJECTED"), run.workload[0])
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


def _print_overview(rows: tuple[dict, ...]) -> None:
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
