"""Altair charts of what the Recorder answers: one execution's waterfall, latency per node, a lineage.

Each builder takes the API's own result (a Timeline, a Lineage, the Recorder for fleet questions)
and returns an `alt.Chart` (or layer): a notebook displays it inline, `save_chart` writes it. The
data is embedded in the chart, so a saved file needs neither the store nor a network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt

from recorder.analytics.lineage import Lineage
from recorder.analytics.timeline import Span, Timeline

if TYPE_CHECKING:
    from recorder.report.answers import RecorderAnswers

# One palette everywhere (the CLI's styles): green done, red failed, amber still open or cut.
STATE_DOMAIN = ["FULFILLED", "REJECTED", "OPEN", "INCOMPLETE", "MISSING"]
STATE_RANGE = ["#3a9d5d", "#d64541", "#e8a317", "#e8a317", "#b0b0b0"]
PERCENTILE_DOMAIN = ["p50", "p95", "p99"]
PERCENTILE_RANGE = ["#1f77b4", "#ff7f0e", "#d62728"]
ROW_PX = 18
WIDTH_PX = 720
# A chart embeds its data: past a few thousand run ticks a fleet's chart grows to megabytes and the
# browser crawls, while the picture (a grey smear with the percentiles on it) no longer changes.
MAX_EMBEDDED_RUNS = 5000
_SAMPLE_SEED = 20240601


def _state_scale(*states: str) -> alt.Scale:
    """The palette restricted to `states`, so a legend lists only what the chart can show."""
    colours = dict(zip(STATE_DOMAIN, STATE_RANGE))
    return alt.Scale(domain=list(states), range=[colours[state] for state in states])


def _short(identifier: str | None, width: int = 8) -> str:
    return "" if identifier is None else identifier[:width]


def _empty(message: str, title: Any) -> alt.Chart:
    return (
        alt.Chart(alt.Data(values=[{"text": message}]), title=title)
        .mark_text(fontSize=13, color="#666")
        .encode(text="text:N")
        .properties(width=WIDTH_PX, height=40)
    )


# -- waterfall -----------------------------------------------------------------------------------


def waterfall_chart(timeline: Timeline, *, width: int = WIDTH_PX) -> alt.LayerChart | alt.Chart:
    """A Gantt/waterfall of one execution: a bar per node run from start to end (ms since the
    execution started), coloured by state (amber: still open at the cut, drawn to the horizon),
    outlined in black on the critical path, a black tick where a streaming run first output, and
    subworkflow/map children listed under their container, indented by depth."""
    title = alt.TitleParams(
        f"{timeline.execution_id}  {timeline.status}",
        subtitle=_waterfall_subtitle(timeline),
        anchor="start",
    )
    rows = waterfall_rows(timeline)
    if not rows:
        return _empty("no node spans recorded", title)
    order = [row["row"] for row in rows]
    # Left-aligned monospace labels, so the indentation of nested runs lines up.
    label_px = int(6.7 * max(len(label) for label in order)) + 8
    y = alt.Y("row:N", sort=order, title=None,
              axis=alt.Axis(labelLimit=320, labelFont="monospace", labelFontSize=11, ticks=False, domain=False,
                            labelAlign="left", labelPadding=min(label_px, 320)))
    base = alt.Chart(alt.Data(values=rows)).encode(y=y)
    tooltip = [
        alt.Tooltip("node_type:N", title="node type"), alt.Tooltip("node_id:N", title="node"),
        alt.Tooltip("node_result_id:N", title="run"), alt.Tooltip("state:N"),
        alt.Tooltip("start_ms:Q", title="start +ms", format=",.1f"),
        alt.Tooltip("duration_ms:Q", title="duration ms", format=",.1f"),
        alt.Tooltip("first_output_after_ms:Q", title="first output ms", format=",.1f"),
        alt.Tooltip("streaming_events:Q", title="chunks"), alt.Tooltip("error_code:N", title="error"),
        alt.Tooltip("critical:N", title="critical path"),
    ]
    bars = base.mark_bar(height=max(ROW_PX - 6, 4), cornerRadius=2).encode(
        x=alt.X("start_ms:Q", title="ms since the execution started", scale=alt.Scale(nice=False)),
        x2="bar_end_ms:Q",
        color=alt.Color("state:N", scale=_state_scale("FULFILLED", "REJECTED", "OPEN"), title="state"),
        stroke=alt.condition("datum.critical", alt.value("#111"), alt.value(None)),
        strokeWidth=alt.condition("datum.critical", alt.value(2), alt.value(0)),
        tooltip=tooltip,
    )
    first_output = base.transform_filter("datum.first_output_ms != null").mark_tick(
        color="#111", thickness=2, size=ROW_PX - 2
    ).encode(x="first_output_ms:Q", tooltip=tooltip)
    return alt.layer(bars, first_output, title=title).properties(width=width, height=max(len(rows) * ROW_PX, 40))


def waterfall_rows(timeline: Timeline) -> list[dict[str, Any]]:
    """The waterfall's data: spans in tree order (each container followed by its children, all by
    start), times in ms since the execution started, labels indented by depth and made unique."""
    origin = min([timeline.started_at_us or 0, *(span.start_us for span in timeline.spans)]) if timeline.spans else 0
    horizon = timeline.horizon_us if timeline.horizon_us is not None else origin
    total_ms = max((horizon - origin) / 1000, 0.001)
    minimum_ms = total_ms / 400  # a sub-millisecond run stays visible as a sliver
    critical = set(timeline.critical_path)
    seen: dict[str, int] = {}
    rows = []
    for span in _tree_order(timeline.spans):
        label = "\u00a0\u00a0" * (span.depth - 1) + ("└ " if span.depth else "") + f"{span.node_type or '?'} {_short(span.node_id)}"
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        start_ms = (span.start_us - origin) / 1000
        end_ms = ((span.end_us if span.end_us is not None else max(horizon, span.start_us)) - origin) / 1000
        rows.append({
            "row": label,
            "node_id": span.node_id,
            "node_result_id": span.node_result_id,
            "node_type": span.node_type,
            "state": "OPEN" if span.open else (span.state or "OPEN"),
            "depth": span.depth,
            "start_ms": start_ms,
            "end_ms": end_ms,
            "bar_end_ms": max(end_ms, start_ms + minimum_ms),
            "duration_ms": span.duration_ms,
            "first_output_ms": None if span.first_output_us is None else (span.first_output_us - origin) / 1000,
            "first_output_after_ms": span.first_output_ms,
            "streaming_events": span.streaming_events,
            "error_code": span.error_code,
            "critical": span.node_result_id in critical,
        })
    return rows


def _tree_order(spans: tuple[Span, ...]) -> list[Span]:
    """Depth-first: every run is followed by the runs nested in it (iteratively: nesting can be deep)."""
    by_id = {span.node_result_id: span for span in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:  # spans come sorted by start, so each child list is too
        parent = span.parent_node_result_id if span.parent_node_result_id in by_id else None
        children.setdefault(parent, []).append(span)
    ordered: list[Span] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        span = stack.pop()
        ordered.append(span)
        stack.extend(reversed(children.get(span.node_result_id, [])))
    return ordered


def _waterfall_subtitle(timeline: Timeline) -> list[str]:
    where = f"{timeline.deployment or '?'}{' @ ' + timeline.release_tag if timeline.release_tag else ''}"
    duration = f"{timeline.duration_ms:,.1f} ms" if timeline.duration_ms is not None else "unfinished"
    share = timeline.critical_path_share
    return [
        f"{where} · {duration} · {len(timeline.spans)} runs · peak concurrency {timeline.max_concurrency}"
        f" · critical path {timeline.critical_path_ms:,.1f} ms{f' ({share:.0%})' if share is not None else ''}",
        "outlined: critical path · black tick: first streamed output · indented: inside a subworkflow or map",
    ]


# -- latency -------------------------------------------------------------------------------------


def latency_chart(
    recorder: RecorderAnswers, *, metric: str = "duration", top: int | None = 20, width: int = WIDTH_PX,
    max_runs: int | None = MAX_EMBEDDED_RUNS, **filters: Any
) -> alt.LayerChart | alt.Chart:
    """Latency distribution per node: a thin grey tick per finished run, and p50/p95/p99 marked
    (the same numbers as `recorder.latency(by="node")`). The `top` nodes by p95 are shown, slowest
    first; filters are those of `Recorder.latency`. Beyond `max_runs` runs the ticks are a seeded
    sample (the same every time); the percentiles are always those of every run."""
    stats = recorder.latency("node", metric=metric, **filters)
    values = node_values(recorder, metric=metric, **filters)
    return latency_chart_from(stats.to_dicts(), values, metric=metric, top=top, width=width, max_runs=max_runs)


def node_values(recorder: RecorderAnswers, *, metric: str = "duration", **filters: Any) -> list[dict[str, Any]]:
    """Every finished run's `metric` in ms, with its node: what the latency chart draws."""
    from recorder.analytics.filters import filter_clauses
    from recorder.model.groupings import METRICS
    from recorder.model.filters import ExecutionFilter

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
    conditions, params = filter_clauses(ExecutionFilter.of(**filters), node_level=True)
    measure = METRICS[metric]
    where = " AND ".join([f"{measure} IS NOT NULL", *conditions])
    query = f"SELECT node_id, node_type_inferred AS node_type, {measure} AS value_ms FROM node_spans WHERE {where}"
    return recorder.sql(query, params).to_dicts()


def latency_chart_from(
    stats: list[dict[str, Any]], values: list[dict[str, Any]], *, metric: str = "duration",
    top: int | None = 20, width: int = WIDTH_PX, max_runs: int | None = MAX_EMBEDDED_RUNS,
) -> alt.LayerChart | alt.Chart:
    """The latency chart from `latency(by="node")` rows and per-run values (see `node_values`);
    at most `max_runs` ticks are embedded (see `latency_chart`)."""
    subject = "time to first output" if metric == "first_output" else "duration"
    ranked = sorted((row for row in stats if row.get("p95_ms") is not None), key=lambda row: -row["p95_ms"])
    if top:
        ranked = ranked[:top]
    if not ranked:
        return _empty("no finished node runs", alt.TitleParams(f"{subject} per node (ms)", anchor="start"))
    labels = {row["node_id"]: f"{row.get('node_type') or '?'} {_short(row['node_id'])}" for row in ranked}
    order = [labels[row["node_id"]] for row in ranked]
    runs = [{"node": labels[v["node_id"]], "value_ms": v["value_ms"]} for v in values if v["node_id"] in labels]
    ticks_note = "runs"
    if max_runs is not None and len(runs) > max_runs:
        ticks_note = f"a sample of {max_runs:,} of {len(runs):,} runs"
        runs = _sample(runs, max_runs)
    title = alt.TitleParams(f"{subject} per node (ms)", subtitle=f"ticks: {ticks_note} · diamonds: p50, p95, p99 of all runs",
                            anchor="start")
    marks = [
        {"node": labels[row["node_id"]], "percentile": name, "value_ms": row[f"{name}_ms"], "count": row["count"]}
        for row in ranked for name in PERCENTILE_DOMAIN
    ]
    positive = [item["value_ms"] for item in runs + marks if item["value_ms"] and item["value_ms"] > 0]
    spread = max(positive) / min(positive) if positive else 1
    scale = alt.Scale(type="log") if spread > 100 else alt.Scale(zero=True)
    if spread > 100:  # a log axis cannot place zero: those runs sit at the smallest positive value
        floor = min(positive)
        for item in runs + marks:
            item["value_ms"] = max(item["value_ms"] or floor, floor)
    y = alt.Y("node:N", sort=order, title=None, axis=alt.Axis(labelFont="monospace", labelLimit=240))
    x = alt.X("value_ms:Q", title=f"{subject} ms{' (log scale)' if spread > 100 else ''}", scale=scale)
    ticks = alt.Chart(alt.Data(values=runs)).mark_tick(color="#888", opacity=0.45, thickness=1, size=ROW_PX - 4).encode(
        x=x, y=y, tooltip=[alt.Tooltip("node:N"), alt.Tooltip("value_ms:Q", title="ms", format=",.2f")]
    )
    diamonds = alt.Chart(alt.Data(values=marks)).mark_point(shape="diamond", filled=True, size=90, opacity=0.95).encode(
        x=x, y=y,
        color=alt.Color("percentile:N", scale=alt.Scale(domain=PERCENTILE_DOMAIN, range=PERCENTILE_RANGE)),
        tooltip=[alt.Tooltip("node:N"), alt.Tooltip("percentile:N"),
                 alt.Tooltip("value_ms:Q", title="ms", format=",.2f"), alt.Tooltip("count:Q", title="runs")],
    )
    return alt.layer(ticks, diamonds, title=title).properties(width=width, height=max(len(order) * (ROW_PX + 4), 40))


def _sample(rows: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """`size` rows chosen uniformly with a fixed seed, in their original order: the same chart for
    the same data, run after run."""
    import random

    chosen = sorted(random.Random(_SAMPLE_SEED).sample(range(len(rows)), size))
    return [rows[index] for index in chosen]


# -- lineage -------------------------------------------------------------------------------------


def lineage_chart(lineage: Lineage, *, column_px: int = 130, row_px: int = 56) -> alt.LayerChart:
    """The chain of continuations around one execution, left to right along previous_execution_id:
    a circle per execution coloured by status (grey: referenced but never recorded), the one asked
    about outlined, branches on rows of their own."""
    nodes, edges = lineage_layout(lineage)
    columns = max(node["x"] for node in nodes) - min(node["x"] for node in nodes) + 1
    rows = max(node["y"] for node in nodes) + 1
    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[min(n["x"] for n in nodes) - 0.5, max(n["x"] for n in nodes) + 0.5]))
    y = alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[-0.6, rows - 0.4], reverse=True))
    total = f"{lineage.chain_length} executions, {lineage.total_duration_ms:,.1f} ms"
    cost = f", ${lineage.total_cost_usd:.4f}" if lineage.total_cost_usd is not None else ""
    title = alt.TitleParams(
        f"lineage of {_short(lineage.execution_id)}", anchor="start",
        subtitle=f"root {_short(lineage.root_execution_id)} · {total}{cost}{' · CYCLE in previous_execution_id' if lineage.cycle else ''}",
    )
    tooltip = [alt.Tooltip("execution_id:N", title="execution"), alt.Tooltip("status:N"),
               alt.Tooltip("relation:N"), alt.Tooltip("duration_ms:Q", title="ms", format=",.1f"),
               alt.Tooltip("cost_usd:Q", title="cost $", format=".4f")]
    links = alt.Chart(alt.Data(values=edges or [{"x": 0, "y": 0, "x2": 0, "y2": 0}])).mark_rule(
        color="#999", strokeWidth=2, opacity=1 if edges else 0
    ).encode(x=x, y=y, x2="x2:Q", y2="y2:Q")
    circles = alt.Chart(alt.Data(values=nodes)).mark_circle(size=420, opacity=1).encode(
        x=x, y=y, color=alt.Color("status:N", scale=_state_scale("FULFILLED", "REJECTED", "INCOMPLETE", "MISSING"), title="status"),
        stroke=alt.condition("datum.relation == 'self'", alt.value("#111"), alt.value("#fff")),
        strokeWidth=alt.condition("datum.relation == 'self'", alt.value(3), alt.value(1)),
        tooltip=tooltip,
    )
    labels = alt.Chart(alt.Data(values=nodes)).mark_text(dy=22, fontSize=10, font="monospace").encode(
        x=x, y=y, text="label:N", tooltip=tooltip
    )
    return alt.layer(links, circles, labels, title=title).properties(
        width=max(columns * column_px, 160), height=max(rows * row_px, 70)
    )


def lineage_layout(lineage: Lineage) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Positions: x is the generation (ancestors negative, this one 0, descendants their depth);
    y the row, the first child staying on its parent's row and each further branch taking a new one."""
    members = {member.execution_id: member for member in lineage.members}
    position: dict[str, tuple[int, int]] = {}
    relation: dict[str, str] = {}
    chain = [*lineage.missing, *reversed(lineage.ancestors)]
    for index, execution_id in enumerate(chain):
        position[execution_id] = (index - len(chain), 0)
        relation[execution_id] = "missing" if execution_id in lineage.missing else "ancestor"
    position[lineage.execution_id] = (0, 0)
    relation[lineage.execution_id] = "self"
    children: dict[str, list[str]] = {}
    for descendant in lineage.descendants:
        children.setdefault(descendant.previous_execution_id, []).append(descendant.execution_id)
    next_row = 1
    stack = [(lineage.execution_id, 0, 0)]
    while stack:  # iterative depth-first walk: a chain may be thousands long
        parent, depth, row = stack.pop()
        kids = children.get(parent, [])
        placed = []
        for index, child in enumerate(kids):
            child_row = row if index == 0 else next_row
            next_row += index != 0
            position[child] = (depth + 1, child_row)
            relation[child] = "descendant"
            placed.append((child, depth + 1, child_row))
        stack.extend(reversed(placed))
    nodes = []
    for execution_id, (x, y) in position.items():
        member = members.get(execution_id)
        duration = None
        if member is not None and member.started_at_us is not None and member.ended_at_us is not None:
            duration = (member.ended_at_us - member.started_at_us) / 1000
        status = "MISSING" if member is None else member.status
        nodes.append({
            "execution_id": execution_id, "x": x, "y": y, "relation": relation[execution_id], "status": status,
            "duration_ms": duration, "cost_usd": lineage.costs_usd.get(execution_id),
            "label": _short(execution_id) + (f" {duration:,.0f}ms" if duration is not None else " missing" if member is None else ""),
        })
    edges = []
    for execution_id, (x, y) in position.items():
        member = members.get(execution_id)
        previous = member.previous_execution_id if member is not None else None
        if previous in position:
            px, py = position[previous]
            edges.append({"x": px, "y": py, "x2": x, "y2": y})
    return nodes, edges
