"""`recorder report`: the audit report of a time range as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from recorder.cli.context import CliContext, pass_context
from recorder.cli.options import MOMENT
from recorder.cli.output import print_json, stderr, stdout


@click.command()
@click.option("--since", type=MOMENT, help="Executions started at or after: ISO-8601 or an age (2h, 7d).")
@click.option("--until", type=MOMENT, help="Executions started before: ISO-8601 or an age.")
@click.option("-o", "--output", "path", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.html"),
              show_default=True, help="Where to write the HTML file.")
@click.option("--slowest", type=click.IntRange(0, 100), default=5, show_default=True, help="Waterfalls of this many slowest executions.")
@click.option("--json", "as_json", is_flag=True, help="Print {path, executions, seconds} as JSON.")
@pass_context
def report(context: CliContext, since: int | None, until: int | None, path: Path, slowest: int, as_json: bool) -> None:
    """Write one self-contained HTML audit report (opens offline): executions with status and
    errors, the slowest executions' waterfalls, latency per node, failure codes, cost and usage,
    and lineage chains. Prints the file's path."""
    from recorder.report.audit_report import ReportOptions, write_report

    result = write_report(context.recorder, path, ReportOptions(since_us=since, until_us=until, slowest=slowest))
    if as_json:
        print_json({"path": str(result.path.resolve()), "executions": result.executions, "seconds": round(result.seconds, 3)})
        return
    stderr.print(f"[dim]{result.executions} executions, written in {result.seconds:.1f} s[/dim]")
    stdout.print(str(result.path.resolve()))


COMMANDS = (report,)
