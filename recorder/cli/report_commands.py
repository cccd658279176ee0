"""`recorder report`: the audit report of a time range as one self-contained HTML file.

Also the chart-file helpers the timeline and latency commands use for `--html` / `--png` / `--svg`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from recorder.cli.main import CliContext
from recorder.cli.options import MOMENT
from recorder.cli.output import print_json, stderr, stdout

if TYPE_CHECKING:
    from recorder.api import Recorder

pass_context = click.make_pass_decorator(CliContext)


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


# -- chart files for other commands ------------------------------------------------------------------


def chart_file_options(command):
    """`--html PATH`, `--png PATH` and `--svg PATH` on a command that draws one chart."""
    for name, what in (("svg", "a static SVG"), ("png", "a PNG image"), ("html", "an interactive HTML page (opens offline)")):
        command = click.option(f"--{name}", f"{name}_path", type=click.Path(dir_okay=False, path_type=Path),
                               help=f"Also write the chart as {what}.")(command)
    return command


def write_chart_files(chart: Any, *, html_path: Path | None = None, png_path: Path | None = None,
                      svg_path: Path | None = None, title: str | None = None) -> list[Path]:
    """Save `chart` to each path given and print each path on stderr; returns the paths."""
    from recorder.report.files import save_chart

    written = [save_chart(chart, path, title=title) for path in (html_path, png_path, svg_path) if path is not None]
    for path in written:
        stderr.print(f"wrote {path}")
    return written


def timeline_chart_files(recorder: Recorder, execution_id: str, **paths: Path | None) -> list[Path]:
    """For `recorder timeline ID --html/--png/--svg`: the execution's waterfall."""
    if not any(paths.values()):
        return []
    from recorder.report.charts import waterfall_chart

    timeline = recorder.timeline(execution_id)
    return write_chart_files(waterfall_chart(timeline), title=f"timeline {timeline.execution_id}", **paths)


def latency_chart_files(recorder: Recorder, *, metric: str = "duration", filters: dict[str, Any] | None = None,
                        **paths: Path | None) -> list[Path]:
    """For `recorder latency --html/--png/--svg`: the per-node latency distribution."""
    if not any(paths.values()):
        return []
    from recorder.report.charts import latency_chart

    return write_chart_files(latency_chart(recorder, metric=metric, **(filters or {})), title=f"{metric} per node", **paths)


COMMANDS = (report,)
