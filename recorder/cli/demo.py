"""`recorder demo`: a realistic synthetic workload recorded into the store, then a tour of it."""

from __future__ import annotations

from collections import Counter

import click
from rich.table import Table

from recorder.cli.main import CliContext
from recorder.cli.output import print_json, short, stdout
from recorder.demo.workload import body_bytes, build_workload
from recorder.stream.ingest import ingest_chunks

pass_context = click.make_pass_decorator(CliContext)


@click.command()
@click.option("--executions", "count", type=click.IntRange(1, 100_000), default=60, show_default=True, help="How many executions to generate.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the generator (same seed, same workload).")
@click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
@pass_context
def demo(context: CliContext, count: int, seed: int, as_json: bool) -> None:
    """Generate a workload (several deployments, release tags, parallel branches, streaming
    prompts, failures, subworkflows, previous_execution_id chains) and record it."""
    recorder = context.recorder
    workload = build_workload(executions=count, seed=seed)
    stored = duplicates = rejects = 0
    for execution in workload:
        result = ingest_chunks(recorder.store, [body_bytes(execution)], source="demo", request=execution.request)
        stored += result.events_stored
        duplicates += result.duplicates
        rejects += result.rejects
    summary = {
        "database": recorder.url,
        "executions": len(workload),
        "events_stored": stored,
        "duplicates_skipped": duplicates,
        "lines_rejected": rejects,
    }
    if as_json:
        print_json(summary)
        return
    stdout.print(
        f"[bold]Recorded {len(workload)} executions[/bold] into {recorder.url}: "
        f"{stored} events stored, {duplicates} duplicates skipped, {rejects} lines rejected."
    )
    _print_overview(recorder.list_executions())
    example = next((e for e in workload if e.final_state == "REJECTED"), workload[0])
    stdout.print("\nNext, try:")
    for line in (
        "recorder executions --status REJECTED",
        f"recorder show {short(example.execution_id)}",
        f"recorder show {short(example.execution_id)} --json",
    ):
        stdout.print(f"  [cyan]{line}[/cyan]")


def _print_overview(rows: list[dict]) -> None:
    by_group = Counter((r["workflow_deployment_name"] or "?", r["release_tag"] or "-", r["status"]) for r in rows)
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
