"""Pictures (issue 6): waterfall, latency distribution and lineage charts built from real stores
on both backends, and the files they are saved to (PNG of the expected size, offline HTML)."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path

import altair as alt
import pytest

from recorder.api import Recorder
from recorder.demo.workload import body_bytes, build_workload
from recorder.report import latency_chart, lineage_chart, save_chart, waterfall_chart
from recorder.report.charts import lineage_layout, waterfall_rows
from recorder.report.files import UnknownFormat, chart_svg
from recorder.stream.ingest import ingest_chunks
from tests.conftest import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorder]:
    """30 demo executions: subworkflows, maps, streaming prompts, failures, lineage chains."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('charts') / 'demo.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    recorder = Recorder(url)
    for execution in build_workload(executions=30, seed=7):
        ingest_chunks(recorder.store, [body_bytes(execution)], source="demo", request=execution.request)
    yield recorder
    recorder.close()


def _nested_execution(recorder: Recorder) -> str:
    for row in recorder.list_executions():
        if any(span.depth > 0 for span in recorder.timeline(row["execution_id"]).spans):
            return row["execution_id"]
    raise AssertionError("the demo workload has no subworkflow or map")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (after checking the signature)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def svg_size(svg: str) -> tuple[float, float]:
    match = re.search(r'<svg[^>]*\bwidth="([\d.]+)"[^>]*\bheight="([\d.]+)"', svg)
    assert match, svg[:200]
    return float(match.group(1)), float(match.group(2))


def test_waterfall_lists_nested_runs_right_after_their_container(demo: Recorder) -> None:
    timeline = demo.timeline(_nested_execution(demo))
    rows = waterfall_rows(timeline)
    assert len(rows) == len(timeline.spans)
    position = {row["node_result_id"]: index for index, row in enumerate(rows)}
    for span in timeline.spans:
        if span.parent_node_result_id is not None:
            assert position[span.parent_node_result_id] < position[span.node_result_id]
            assert rows[position[span.node_result_id]]["depth"] == span.depth > 0
    assert len({row["row"] for row in rows}) == len(rows), "labels must be unique rows"


def test_waterfall_marks_the_critical_path_states_and_first_outputs(demo: Recorder) -> None:
    timeline = demo.timeline(_nested_execution(demo))
    rows = {row["node_result_id"]: row for row in waterfall_rows(timeline)}
    assert {key for key, row in rows.items() if row["critical"]} == set(timeline.critical_path)
    for span in timeline.spans:
        row = rows[span.node_result_id]
        assert row["state"] == ("OPEN" if span.open else span.state)
        assert (row["first_output_ms"] is None) == (span.first_output_us is None)
        assert row["bar_end_ms"] >= row["end_ms"] >= row["start_ms"] >= 0
    chart = waterfall_chart(timeline)
    assert isinstance(chart, alt.LayerChart)
    chart.to_dict(validate=True)  # a valid Vega-Lite spec


def test_a_failed_execution_shows_its_rejected_runs_in_red(demo: Recorder) -> None:
    failed = next(row for row in demo.list_executions() if row["status"] == "REJECTED")
    rows = waterfall_rows(demo.timeline(failed["execution_id"]))
    assert any(row["state"] == "REJECTED" for row in rows)
    assert "#d64541" in str(waterfall_chart(demo.timeline(failed["execution_id"])).to_dict())


def test_latency_chart_marks_the_percentiles_latency_reports(demo: Recorder) -> None:
    stats = {row["node_id"]: row for row in demo.latency("node").to_dicts()}
    spec = latency_chart(demo, top=None).to_dict(validate=True)
    ticks, diamonds = spec["layer"]
    marks = diamonds["data"]["values"]
    assert {m["percentile"] for m in marks} == {"p50", "p95", "p99"}
    assert len(marks) == 3 * len(stats)
    expected = sorted(row[f"{p}_ms"] for row in stats.values() for p in ("p50", "p95", "p99"))
    assert sorted(m["value_ms"] for m in marks) == pytest.approx(expected, rel=1e-6)
    assert len(ticks["data"]["values"]) == sum(row["count"] for row in stats.values())


def test_latency_chart_embeds_a_seeded_sample_of_runs_and_the_percentiles_of_all(demo: Recorder) -> None:
    stats = demo.latency("node").to_dicts()
    runs = sum(row["count"] for row in stats)
    cap = runs // 3
    spec = latency_chart(demo, top=None, max_runs=cap).to_dict(validate=True)
    ticks, diamonds = spec["layer"]
    assert len(ticks["data"]["values"]) == cap
    assert ticks["data"]["values"] == latency_chart(demo, top=None, max_runs=cap).to_dict()["layer"][0]["data"]["values"]
    expected = sorted(row[f"{p}_ms"] for row in stats for p in ("p50", "p95", "p99"))
    assert sorted(m["value_ms"] for m in diamonds["data"]["values"]) == pytest.approx(expected, rel=1e-6)
    assert f"a sample of {cap:,} of {runs:,} runs" in str(spec["title"])


def test_latency_chart_keeps_the_slowest_nodes_by_p95(demo: Recorder) -> None:
    spec = latency_chart(demo, top=3).to_dict()
    assert len({m["node"] for m in spec["layer"][1]["data"]["values"]}) == 3


def test_latency_chart_applies_the_filters(demo: Recorder) -> None:
    spec = latency_chart(demo, deployment="nobody").to_dict()
    assert spec["mark"]["type"] == "text"  # "no finished node runs"


def test_lineage_chart_puts_ancestors_left_and_descendants_right(demo: Recorder) -> None:
    chained = next(row for row in demo.list_executions() if row["previous_execution_id"])
    lineage = demo.lineage(chained["execution_id"])
    nodes, edges = lineage_layout(lineage)
    x = {node["execution_id"]: node["x"] for node in nodes}
    assert x[lineage.execution_id] == 0
    assert all(x[a] < 0 for a in lineage.ancestors + lineage.missing)
    assert all(x[d.execution_id] == d.depth for d in lineage.descendants)
    assert len(edges) == len(nodes) - 1  # a chain: every execution but the first continues one
    assert {n["status"] for n in nodes if n["relation"] == "missing"} <= {"MISSING"}
    lineage_chart(lineage).to_dict(validate=True)


def test_png_export_is_a_real_image_twice_the_svg_size(demo: Recorder, tmp_path: Path) -> None:
    chart = waterfall_chart(demo.timeline(_nested_execution(demo)))
    width, height = svg_size(chart_svg(chart))
    path = save_chart(chart, tmp_path / "timeline.png")
    assert png_size(path.read_bytes()) == (round(width * 2), round(height * 2))
    assert width >= 720 and height >= 40


def test_html_export_opens_without_a_network(demo: Recorder, tmp_path: Path) -> None:
    path = save_chart(latency_chart(demo), tmp_path / "latency.html")
    text = path.read_text()
    assert "vegaEmbed(" in text and '"$schema"' in text
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)\s*=\s*["']?(https?:)?//""", text, re.I)


def test_svg_export_and_unknown_formats(demo: Recorder, tmp_path: Path) -> None:
    chart = lineage_chart(demo.lineage(demo.list_executions()[0]["execution_id"]))
    assert save_chart(chart, tmp_path / "lineage.svg").read_text().startswith("<svg")
    with pytest.raises(UnknownFormat):
        save_chart(chart, tmp_path / "lineage.pdf")
