"""`recorder prune`: `Recorder.prune`, printed: retention of whole executions older than a cut-off.

Options are parsed here and passed on; what is deleted, kept and re-pointed is decided in
recorder.store.retention. A progress bar over executions deleted shows on stderr while batches
run, on a terminal only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from recorder.cli.context import CliContext, pass_context
from recorder.cli.options import MOMENT
from recorder.cli.output import print_json, stderr, stdout

if TYPE_CHECKING:
    from recorder.api import PruneReport

# The rows of the human table: (label, PruneReport attribute).
_ROWS = (
    ("executions", "executions"),
    ("events", "events"),
    ("node spans", "spans"),
    ("recordings", "recordings"),
    ("rejects", "rejects"),
    ("status checks", "status_checks"),
    ("actuals", "actuals"),
)


@click.command()
@click.option("--older-than", "older_than", type=MOMENT, required=True, metavar="AGE|TIME",
              help="Prune executions started before this: an age (90d, 12w, 36h) or an ISO-8601 time.")
@click.option("--deployment", help="Only this deployment's executions (its name or id).")
@click.option("--keep-failed", is_flag=True, help="Keep REJECTED executions (and recordings of failed exchanges).")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@click.option("--vacuum", is_flag=True, help="Give the space back afterwards (SQLite VACUUM; PostgreSQL VACUUM ANALYZE).")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Executions deleted per transaction (short transactions never hold up a live recording).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON document.")
@pass_context
def prune(
    context: CliContext, older_than: int, deployment: str | None, keep_failed: bool, dry_run: bool, vacuum: bool,
    batch_size: int, as_json: bool,
) -> None:
    """Delete whole executions started before a cut-off: their events, node spans, status checks
    and actuals, and the recordings (with their rejects) left holding none. Survivors whose
    parent was pruned root their own lineage; every fleet snapshot rebuilds afterwards."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("pruning"), BarColumn(), MofNCompleteColumn(), TextColumn("executions"), TimeRemainingColumn(),
        console=stderr, transient=True, disable=as_json or not stderr.is_terminal,
    )
    with progress:
        task = progress.add_task("pruning", total=None)

        def advanced(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = context.recorder.prune(
            older_than=older_than, deployment=deployment, keep_failed=keep_failed, dry_run=dry_run, vacuum=vacuum,
            batch_size=batch_size, on_progress=None if progress.disable else advanced,
        )
    if as_json:
        print_json(report.to_dict())
        return
    print_report(report)


def print_report(report: PruneReport) -> None:
    from rich.table import Table

    verb = "would remove" if report.dry_run else "removed"
    scope = f" of {report.deployment}" if report.deployment else ""
    kept = ", keeping REJECTED" if report.keep_failed else ""
    stdout.print(f"Executions{scope} started before {report.cutoff}{kept}")
    table = Table()
    table.add_column("rows")
    table.add_column(verb, justify="right")
    for label, name in _ROWS:
        table.add_row(label, f"{getattr(report, name):,}")
    stdout.print(table)
    repointed = f"{report.repointed:,} surviving execution{'s' if report.repointed != 1 else ''} "
    if report.dry_run:
        stdout.print(f"{repointed}would root their own lineage. Dry run: nothing was changed.")
        return
    stdout.print(f"{repointed}re-rooted; {report.batches:,} batch{'es' if report.batches != 1 else ''} in {report.seconds:.2f} s"
                 + ("; space reclaimed (vacuum)." if report.vacuumed else "."))


COMMANDS = (prune,)
