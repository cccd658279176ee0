"""One self-contained HTML file auditing a time range of the store.

Sections (each an element with a stable id): summary, executions (status and errors), slowest
executions with their waterfalls, per-node latency (table and chart), failure codes, cost and
usage, lineage chains. Charts are embedded as static SVG rendered by vl-convert: the file opens
anywhere, offline and with scripts disabled, and needs no multi-megabyte JavaScript bundle (which
would also cost seconds to build), so `recorder demo` can write one on every run.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recorder.model.timestamps import us_to_iso
from recorder.report.charts import latency_chart_from, lineage_chart, node_values, waterfall_chart
from recorder.report.files import chart_svg, warm_up
from recorder.model.filters import ExecutionFilter

if TYPE_CHECKING:
    from recorder.report.answers import RecorderAnswers

SECTIONS = ("summary", "executions", "slowest", "latency", "failures", "usage", "lineage")


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """What goes in: the time range (epoch µs, `until` exclusive, on the execution's start) and how much."""

    since_us: int | None = None
    until_us: int | None = None
    slowest: int = 5
    chains: int = 5
    max_rows: int = 500
    title: str = "Workflow recorder audit report"


@dataclass(slots=True)
class ReportResult:
    path: Path
    executions: int
    seconds: float
    sections: tuple[str, ...] = field(default=SECTIONS)


def write_report(recorder: RecorderAnswers, path: str | Path, options: ReportOptions = ReportOptions()) -> ReportResult:
    """Write the audit report of `options`' time range to `path` (HTML, self-contained)."""
    began = time.perf_counter()
    document, count = build_report(recorder, options)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(document, encoding="utf-8")
    return ReportResult(path=target, executions=count, seconds=time.perf_counter() - began)


def build_report(recorder: RecorderAnswers, options: ReportOptions = ReportOptions()) -> tuple[str, int]:
    """The report as an HTML string, and how many executions it covers."""
    warm_up()
    rows = recorder.list_executions(ExecutionFilter(since_us=options.since_us, until_us=options.until_us, limit=None))
    filters = {key: value for key, value in (("since", options.since_us), ("until", options.until_us)) if value is not None}
    body = [
        _summary(rows, options),
        _executions(rows, options),
        _slowest(recorder, rows, options),
        _latency(recorder, filters) if rows else _section("latency", "Latency per node", "<p>No executions.</p>"),
        _failures(recorder, rows, filters),
        _usage(recorder, filters) if rows else _section("usage", "Cost and usage", "<p>No executions.</p>"),
        _lineage(recorder, rows, options),
    ]
    return _page(options.title, "\n".join(body)), len(rows)


# -- sections --------------------------------------------------------------------------------------


def _summary(rows: list[dict[str, Any]], options: ReportOptions) -> str:
    statuses = Counter(row["status"] for row in rows)
    starts = [row["started_at"] for row in rows if row["started_at"]]
    span = f"{min(starts)} to {max(starts)}" if starts else "no executions"
    asked = f"since {us_to_iso(options.since_us) or 'the beginning'} until {us_to_iso(options.until_us) or 'now'}"
    items = "".join(f"<li>{_status(status)} {count}</li>" for status, count in sorted(statuses.items()))
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return _section(
        "summary", "Summary",
        f"<p>{len(rows)} executions started {html.escape(span)} (range asked: {html.escape(asked)}). "
        f"Generated {generated}.</p><ul class=\"statuses\">{items}</ul>",
    )


def _executions(rows: list[dict[str, Any]], options: ReportOptions) -> str:
    shown = rows[: options.max_rows]
    note = f"<p class=\"note\">Newest {len(shown)} of {len(rows)} shown.</p>" if len(rows) > len(shown) else ""
    table = _table(
        ("execution", "started", "deployment", "release", "status", "ms", "events", "external id", "error"),
        [
            (
                f"<code title=\"{_e(row['execution_id'])}\">{_e(row['execution_id'])}</code>",
                _e(row["started_at"] or ""),
                _e(row["workflow_deployment_name"] or row["workflow_deployment_id"] or ""),
                _e(row["release_tag"] or ""),
                _status(row["status"]),
                _num(row["duration_ms"]),
                str(row["event_count"]),
                _e(row["external_id"] or ""),
                _e(" ".join(part for part in (row["error_code"], row["error_message"]) if part)),
            )
            for row in shown
        ],
        numeric=(5, 6),
    )
    return _section("executions", "Executions", note + table)


def _slowest(recorder: RecorderAnswers, rows: list[dict[str, Any]], options: ReportOptions) -> str:
    finished = sorted((row for row in rows if row["duration_ms"] is not None), key=lambda row: -row["duration_ms"])
    parts = []
    for row in finished[: options.slowest]:
        timeline = recorder.timeline(row["execution_id"])
        parts.append(f"<div class=\"chart\" data-execution-id=\"{_e(row['execution_id'])}\">{chart_svg(waterfall_chart(timeline))}</div>")
    return _section("slowest", f"Slowest {len(parts)} executions", "".join(parts) or "<p>No finished executions.</p>")


def _latency(recorder: RecorderAnswers, filters: dict[str, int]) -> str:
    stats = recorder.latency("node", **filters)
    values = node_values(recorder, **filters)
    records = stats.to_dicts()
    table = _table(
        ("node", "type", "runs", "mean ms", "p50", "p90", "p95", "p99", "max"),
        [
            (f"<code>{_e(r['node_id'])}</code>", _e(r.get("node_type") or ""), str(r["count"]), _num(r["mean_ms"]),
             _num(r["p50_ms"]), _num(r["p90_ms"]), _num(r["p95_ms"]), _num(r["p99_ms"]), _num(r["max_ms"]))
            for r in sorted(records, key=lambda r: -(r["p95_ms"] or 0))
        ],
        numeric=(2, 3, 4, 5, 6, 7, 8),
    )
    chart = chart_svg(latency_chart_from(records, values))
    return _section("latency", "Latency per node", f"<div class=\"chart\">{chart}</div>{table}")


def _failures(recorder: RecorderAnswers, rows: list[dict[str, Any]], filters: dict[str, int]) -> str:
    workflow = Counter(row["error_code"] or "(no code)" for row in rows if row["status"] == "REJECTED")
    nodes: list[dict[str, Any]] = []
    if rows:
        conditions = ["error_code IS NOT NULL"]
        params: list[Any] = []
        if "since" in filters:
            conditions.append("execution_started_at_us >= ?")
            params.append(filters["since"])
        if "until" in filters:
            conditions.append("execution_started_at_us < ?")
            params.append(filters["until"])
        nodes = recorder.sql(
            "SELECT error_code, node_type_inferred AS node_type, count(*) AS runs, count(DISTINCT execution_id) AS executions "
            f"FROM node_spans WHERE {' AND '.join(conditions)} GROUP BY 1, 2 ORDER BY runs DESC, 1, 2",
            params,
        ).to_dicts()
    first = _table(("workflow error code", "executions"), [(_e(code), str(n)) for code, n in workflow.most_common()], numeric=(1,))
    second = _table(("node error code", "node type", "runs", "executions"),
                    [(_e(r["error_code"]), _e(r["node_type"] or ""), str(r["runs"]), str(r["executions"])) for r in nodes],
                    numeric=(2, 3))
    return _section("failures", "Failure codes", first + second)


def _usage(recorder: RecorderAnswers, filters: dict[str, int]) -> str:
    parts = []
    for by in ("model", "deployment"):
        frame = recorder.usage(by, **filters)
        parts.append(_table(
            (by, "runs", "executions", "input tokens", "output tokens", "cost $", "cost $ / execution"),
            [(_e(r[by] or "(unknown)"), str(r["runs"]), str(r["executions"]), str(r["input_tokens"] or 0),
              str(r["output_tokens"] or 0), _money(r["cost_usd"]), _money(r["cost_per_execution_usd"]))
             for r in frame.to_dicts()],
            numeric=(1, 2, 3, 4, 5, 6),
        ))
    return _section("usage", "Cost and usage (prompt runs that reported execution_meta)", "".join(parts))


def _lineage(recorder: RecorderAnswers, rows: list[dict[str, Any]], options: ReportOptions) -> str:
    families = Counter(row["root_execution_id"] or row["execution_id"] for row in rows)
    linked = {row["root_execution_id"] for row in rows if row["previous_execution_id"]}
    roots = [root for root, _ in families.most_common() if root in linked][: options.chains]
    by_id = {row["execution_id"]: row for row in rows}
    parts = []
    for root in roots:
        # Draw from the newest member of the family in range, so ancestors and descendants both show.
        member = next((r for r in rows if r["root_execution_id"] == root and r["previous_execution_id"]), by_id.get(root))
        if member is None:
            continue
        lineage = recorder.lineage(member["execution_id"])
        parts.append(f"<div class=\"chart\" data-execution-id=\"{_e(member['execution_id'])}\">{chart_svg(lineage_chart(lineage))}</div>")
    chained = sum(1 for row in rows if row["previous_execution_id"])
    intro = f"<p>{chained} executions continue an earlier one (previous_execution_id); the {len(parts)} largest chains:</p>"
    return _section("lineage", "Lineage chains", intro + "".join(parts) if parts else "<p>No chained executions.</p>")


# -- html ------------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1500px;color:#222;padding:0 16px}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:2em}
nav a{margin-right:1em}table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #e2e2e2;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f5f5f5}
td.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:12px}
.s-FULFILLED{color:#2b7a48;font-weight:600}.s-REJECTED{color:#c0392b;font-weight:600}.s-INCOMPLETE{color:#b7791f;font-weight:600}
.chart{margin:12px 0 24px;overflow-x:auto}.note{color:#666}ul.statuses{list-style:none;padding:0}ul.statuses li{display:inline;margin-right:1.5em}
"""


def _page(title: str, body: str) -> str:
    nav = "".join(f"<a href=\"#{name}\">{name}</a>" for name in SECTIONS)
    return (
        f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>"
        f"<style>{_STYLE}</style></head>\n<body>\n<h1>{_e(title)}</h1><nav>{nav}</nav>\n{body}\n</body></html>\n"
    )


def _section(name: str, heading: str, content: str) -> str:
    return f"<section id=\"{name}\"><h2>{_e(heading)}</h2>\n{content}\n</section>"


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]], numeric: tuple[int, ...] = ()) -> str:
    if not rows:
        return "<p class=\"note\">None.</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{_NUMERIC if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_NUMERIC = ' class="n"'


def _e(value: Any) -> str:
    return html.escape(str(value))


def _status(status: str | None) -> str:
    return f"<span class=\"s-{_e(status)}\">{_e(status)}</span>" if status else ""


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
