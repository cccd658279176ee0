"""Analytics commands: timeline, latency, lineage, compare, usage, sql.

Each parses options, calls the Recorder's analytics methods and prints a rich table (or `--json`).
DuckDB, polars and pyarrow are imported inside the commands, so `recorder --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.tree import Tree

from recorder.cli.context import CliContext, pass_context
from recorder.cli.options import MOMENT, chart_file_options
from recorder.cli.output import print_json, short, stderr, stdout, styled_status
from recorder.model.groupings import LATENCY_KEYS, METRICS, USAGE_KEYS

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

    from recorder.analytics import Lineage, Timeline


def _grouping(choices: tuple[str, ...]):
    def convert(_ctx, param, value: str) -> list[str]:
        names = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise click.BadParameter(f"{value!r}: use one or more (comma-separated) of {', '.join(choices)}", param=param)
        return names

    return convert


def _metadata(_ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param=param)
        pairs[key] = value
    return pairs


def _filter_options(command):
    """The execution filters shared by latency and usage."""
    for option in reversed(
        (
            click.option("--deployment", help="Deployment name or id."),
            click.option("--release-tag", help="Release tag."),
            click.option("--since", type=MOMENT, help="Executions started at or after: ISO-8601 or an age (2h, 7d)."),
            click.option("--until", type=MOMENT, help="Executions started before: ISO-8601 or an age."),
            click.option("--status", help="Execution status: FULFILLED, REJECTED, INCOMPLETE."),
            click.option("--node", help="Only runs of this node_id or node type."),
            click.option("--meta", "metadata", multiple=True, metavar="KEY=VALUE", callback=_metadata,
                         help="Request metadata KEY has VALUE (repeatable)."),
        )
    ):
        command = option(command)
    return command


# -- timeline ----------------------------------------------------------------------------------------


@click.command()
@click.argument("execution_id")
@click.option("--gantt/--no-gantt", default=True, show_default=True, help="Draw the text Gantt chart above the table.")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as one JSON object.")
@chart_file_options
@pass_context
def timeline(context: CliContext, execution_id: str, gantt: bool, as_json: bool, html_path, png_path, svg_path) -> None:
    """What happened in one execution, and when: one span per node run, the orchestration
    overhead and the critical path. EXECUTION_ID may be a unique prefix.

    --html/--png/--svg also write its waterfall chart."""
    if html_path or png_path or svg_path:
        from recorder.report.chart_files import timeline_chart_files

        _wrote(timeline_chart_files(context.recorder, execution_id, (html_path, png_path, svg_path)))
    result = context.recorder.timeline(execution_id)
    if as_json:
        print_json(result.to_dict())
        return
    _print_timeline(result, gantt)


def _print_timeline(result: Timeline, gantt: bool) -> None:
    from rich.markup import escape

    from recorder.analytics.gantt import render_gantt

    share = result.critical_path_share
    stdout.print(
        f"[bold]execution[/bold] {escape(result.execution_id)}  {styled_status(result.status)}  "
        f"{escape(result.deployment or '?')}{' @ ' + escape(result.release_tag) if result.release_tag else ''}"
    )
    stdout.print(
        f"duration {_ms(result.duration_ms)}  spans {len(result.spans)}  peak concurrency {result.max_concurrency}  "
        f"overhead {_ms(result.overhead_ms)}  critical path {_ms(result.critical_path_ms)}"
        f"{f' ({share:.1%})' if share is not None else ''}"
        f"{f'  waiting {_ms(result.waiting_ms)}' if result.waiting_us else ''}"
        f"{'' if result.exact else '  [yellow](some times are receive times: ts was null)[/yellow]'}"
    )
    if gantt:
        stdout.print(render_gantt(result, width=56))
    table = Table(title_justify="left", title="spans (by start; * on the critical path)")
    waited = any(span.paused_us for span in result.spans)
    for header, justify in (("", "left"), ("node type", "left"), ("node", "left"), ("run", "left"), ("state", "left"),
                            ("start +ms", "right"), ("ms", "right"), *((("waiting ms", "right"),) if waited else ()),
                            ("first out ms", "right"), ("chunks", "right"), ("in", "left"), ("error", "left")):
        table.add_column(header, justify=justify, no_wrap=True)
    critical = set(result.critical_path)
    origin = result.started_at_us or 0
    for span in result.spans:
        table.add_row(
            "*" if span.node_result_id in critical else "",
            "  " * span.depth + escape(span.node_type or "-"),
            escape(span.node_name or short(span.node_id)),
            escape(short(span.node_result_id)),
            "[yellow]open[/yellow]" if span.open else styled_status(span.state),
            f"{(span.start_us - origin) / 1000:.1f}",
            _ms(span.duration_ms, unit=False),
            *((_ms(span.waiting_ms, unit=False) if span.paused_us else "",) if waited else ()),
            _ms(span.first_output_ms, unit=False),
            str(span.streaming_events) if span.streaming_events else "",
            escape(short(span.source_execution_id)),
            escape(span.error_code or ""),
        )
    stdout.print(table)


# -- latency, usage, compare ---------------------------------------------------------------------------


@click.command()
@click.option("--by", default="node", show_default=True, callback=_grouping(LATENCY_KEYS), metavar="KEYS",
              help=f"Group by one or more of: {', '.join(LATENCY_KEYS)} (comma-separated).")
@click.option("--metric", type=click.Choice(list(METRICS)), default="duration", show_default=True,
              help="duration; work: the duration less time paused (v2 stream); first_output: time to the first "
                   "streamed output (time to first token).")
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of rows.")
@chart_file_options
@pass_context
def latency(context: CliContext, by: list[str], metric: str, as_json: bool, html_path, png_path, svg_path, **filters: Any) -> None:
    """Where the time goes: count, mean and p50/p90/p95/p99/max in ms per group.

    By node or node_type (or with --metric first_output or --node) it measures node runs, and
    status is then the run's state; by deployment, release_tag, status, hour or day alone it
    measures whole executions. Percentiles interpolate linearly; unfinished runs are left out.
    """
    frame = context.recorder.latency(by, metric=metric, **_given(filters))
    if html_path or png_path or svg_path:
        from recorder.report.chart_files import latency_chart_files

        _wrote(latency_chart_files(context.recorder, (html_path, png_path, svg_path), metric=metric, filters=_given(filters)))
    if as_json:
        print_json(_rows(frame))
        return
    subject = "node runs" if {"node", "node_type"} & set(by) or metric != "duration" else "executions"
    _print_frame(frame, f"{metric.replace('_', ' ')} of {subject} by {', '.join(by)}")


@click.command()
@click.option("--by", default="model", show_default=True, callback=_grouping(USAGE_KEYS), metavar="KEYS",
              help=f"Group by one or more of: {', '.join(USAGE_KEYS)} (comma-separated).")
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of rows.")
@pass_context
def usage(context: CliContext, by: list[str], as_json: bool, **filters: Any) -> None:
    """Token usage and cost (USD) of PROMPT runs, from execution_meta where it was requested."""
    frame = context.recorder.usage(by, **_given(filters))
    if as_json:
        print_json(_rows(frame))
        return
    _print_frame(frame, f"prompt usage and cost by {', '.join(by)}")


@click.command()
@click.option("--deployment", required=True, help="Deployment name or id.")
@click.option("--baseline", required=True, metavar="TAG", help="The release tag to compare against.")
@click.option("--candidate", required=True, metavar="TAG", help="The release tag under suspicion.")
@click.option("--metric", type=click.Choice(list(METRICS)), default="duration", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of rows.")
@pass_context
def compare(context: CliContext, deployment: str, baseline: str, candidate: str, metric: str, as_json: bool) -> None:
    """Compare two release tags of one deployment node by node, largest p50 slowdown first."""
    from rich.markup import escape

    frame = context.recorder.compare(deployment, baseline, candidate, metric=metric)
    if as_json:
        print_json(_rows(frame))
        return
    if frame.is_empty():
        stdout.print(f"no finished runs of {escape(deployment)} on {escape(baseline)} or {escape(candidate)}")
        return
    table = Table(title=escape(f"{deployment}: {candidate} against {baseline} ({metric}, ms)"), title_justify="left")
    for header in ("node", "type", "runs", "p50 base", "p50 cand", "Δ p50", "× p50", "p90 base", "p90 cand", "× p90"):
        table.add_column(header, justify="left" if header in ("node", "type") else "right", no_wrap=True)
    for row in frame.iter_rows(named=True):
        ratio = row["ratio_p50"]
        style = "red" if ratio is not None and ratio >= 1.2 else "green" if ratio is not None and ratio <= 0.9 else ""
        table.add_row(
            escape(row["node_id"] if row["node_id"] == "(workflow)" else short(row["node_id"])),
            escape(row["node_type"] or ""),
            f"{row['baseline_count'] or 0}/{row['candidate_count'] or 0}",
            _num(row["baseline_p50_ms"]), _num(row["candidate_p50_ms"]),
            _styled(_num(row["delta_p50_ms"]), style), _styled(_ratio(ratio), style),
            _num(row["baseline_p90_ms"]), _num(row["candidate_p90_ms"]), _ratio(row["ratio_p90"]),
        )
    stdout.print(table)


# -- lineage ---------------------------------------------------------------------------------------------


@click.command()
@click.argument("execution_id")
@click.option("--json", "as_json", is_flag=True, help="Print the lineage as one JSON object.")
@pass_context
def lineage(context: CliContext, execution_id: str, as_json: bool) -> None:
    """Ancestors (along previous_execution_id) to the root, descendants as a tree, missing links,
    cycles and chain totals. EXECUTION_ID may be a unique prefix."""
    result = context.recorder.lineage(execution_id)
    if as_json:
        print_json(result.to_dict())
        return
    _print_lineage(result)


def _print_lineage(result: Lineage) -> None:
    from rich.markup import escape

    members = {member.execution_id: member for member in result.members}

    def label(execution_id: str, note: str = "") -> str:
        member = members[execution_id]
        duration = (member.ended_at_us - member.started_at_us) / 1000 if member.started_at_us and member.ended_at_us else None
        cost = result.costs_usd.get(execution_id)
        return (f"{'[bold]' if execution_id == result.execution_id else ''}{escape(short(execution_id))}"
                f"{'[/bold]' if execution_id == result.execution_id else ''} {styled_status(member.status)} {_ms(duration)}"
                f"{f'  ${cost:.4f}' if cost is not None else ''}{note}")

    top = ([f"[red]{escape(short(m))} missing (never recorded)[/red]" for m in result.missing]
           + [label(a) for a in reversed(result.ancestors)])
    tree = Tree(top[0] if top else label(result.execution_id, "  (this one)"))
    node = tree
    for line in top[1:]:
        node = node.add(line)
    if top:
        node = node.add(label(result.execution_id, "  (this one)"))
    branches = {result.execution_id: node}
    for descendant in result.descendants:
        branches[descendant.execution_id] = branches[descendant.previous_execution_id].add(label(descendant.execution_id))
    stdout.print(tree)
    cost = result.total_cost_usd
    stdout.print(
        f"root {escape(short(result.root_execution_id))}  depth {len(result.ancestors)}  descendants {len(result.descendants)}  "
        f"chain {result.chain_length} executions, {_ms(result.total_duration_ms)}"
        f"{f', ${cost:.4f}' if cost is not None else ''}"
        f"{'  [red]cycle in previous_execution_id[/red]' if result.cycle else ''}"
    )


# -- sql ---------------------------------------------------------------------------------------------------


@click.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of rows.")
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True, help="Rows shown in the table (0: all).")
@click.option("--allow-files", is_flag=True,
              help="Let the query read and write files, reach the network and load DuckDB extensions (off by default).")
@click.option("--events", is_flag=True, help="Also pull the events' indexed columns, as the view events (costs a read of every event).")
@pass_context
def sql(context: CliContext, query: str, as_json: bool, limit: int, allow_files: bool, events: bool) -> None:
    """Run DuckDB SQL over the views executions and node_spans (and events with --events).

    Example: recorder sql "SELECT node_type, median(duration_ms) FROM node_spans GROUP BY 1"

    The query cannot touch files, the network or extensions unless --allow-files is given.
    """
    import duckdb

    try:
        frame = context.recorder.sql(query, allow_files=allow_files, events=events)
    except duckdb.PermissionException as exc:
        hint = "" if allow_files else " (recorder sql runs sandboxed: --allow-files lifts it)"
        raise click.ClickException(str(exc).splitlines()[0] + hint) from exc
    except duckdb.Error as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc
    if as_json:
        print_json(_rows(frame))
        return
    shown = frame.head(limit) if limit else frame
    _print_frame(shown, f"{frame.height} rows" + (f" (first {limit} shown)" if limit and frame.height > limit else ""))


# -- helpers -----------------------------------------------------------------------------------------------


def _wrote(paths: list[Path]) -> None:
    for path in paths:
        stderr.print(f"wrote {path}")


def _given(filters: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in filters.items() if value not in (None, {}, ())}


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows for JSON: decimals (DuckDB sums of integers) become numbers orjson can write."""
    import polars as pl

    decimals = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Decimal)]
    if decimals:
        frame = frame.with_columns(pl.col(decimals).cast(pl.Float64))
    return frame.to_dicts()


def _print_frame(frame: pl.DataFrame, title: str) -> None:
    """A frame as a table; names and values (recorded text, SQL aliases) are escaped for rich."""
    from rich.markup import escape

    if frame.is_empty():
        stdout.print(f"{escape(title)}: no rows")
        return
    table = Table(title=escape(title), title_justify="left")
    numeric = {name for name, dtype in frame.schema.items() if dtype.is_numeric()}
    for name in frame.columns:
        table.add_column(escape(name), justify="right" if name in numeric else "left", no_wrap=True)
    for row in frame.iter_rows():
        table.add_row(*(_cell(value) for value in row))
    stdout.print(table)


def _cell(value: Any) -> str:
    from rich.markup import escape

    if value is None:
        return ""
    if isinstance(value, float):
        return _num(value)
    return escape(str(value))


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


def _styled(text: str, style: str) -> str:
    return f"[{style}]{text}[/{style}]" if style and text else text


def _ms(value: float | None, *, unit: bool = True) -> str:
    if value is None:
        return "-" if unit else ""
    return f"{value:,.1f} ms" if unit else f"{value:,.1f}"


COMMANDS = (timeline, latency, lineage, compare, usage, sql)
