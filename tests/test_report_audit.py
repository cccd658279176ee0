"""`recorder report`: one self-contained HTML file auditing a time range (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
from click.testing import CliRunner

from recorder.api import Recorder
from recorder.cli.main import cli
from recorder.demo.workload import body_bytes, build_workload
from recorder.report.audit_report import SECTIONS
from recorder.stream.ingest import ingest_chunks

EXTERNAL_SOURCE = re.compile(r"""<(script|link|img|iframe)[^>]+(src|href)\s*=\s*["']?(https?:)?//""", re.I)


def _record_demo(url: str, count: int = 16) -> list[str]:
    with Recorder(url) as recorder:
        workload = build_workload(executions=count, seed=7)
        for execution in workload:
            ingest_chunks(recorder.store, [body_bytes(execution)], source="demo", request=execution.request)
    return [execution.execution_id for execution in workload]


def test_report_covers_every_section_and_execution_offline(store_url: str, tmp_path: Path) -> None:
    ids = _record_demo(store_url)
    out = tmp_path / "audit" / "report.html"
    result = CliRunner().invoke(cli, ["--db", store_url, "report", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out.resolve())
    text = out.read_text()
    for name in SECTIONS:
        assert f'<section id="{name}">' in text
    assert all(execution_id in text for execution_id in ids)
    assert text.count("<svg") >= 3  # waterfalls, latency, lineage
    assert "PROVIDER_QUOTA_EXCEEDED" in text or "NODE_EXECUTION" in text  # failure codes of the demo
    assert not EXTERNAL_SOURCE.search(text)
    assert "<script" not in text  # static: opens with scripts disabled


def test_report_time_range_leaves_other_executions_out(store_url: str, tmp_path: Path) -> None:
    _record_demo(store_url)
    with Recorder(store_url) as recorder:
        rows = sorted(recorder.list_executions(), key=lambda row: row["started_at"])
    middle = rows[len(rows) // 2]["started_at"]
    out = tmp_path / "late.html"
    result = CliRunner().invoke(cli, ["--db", store_url, "report", "--since", middle, "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    late = [row for row in rows if row["started_at"] >= middle]
    assert summary["executions"] == len(late)
    text = out.read_text()
    assert all(row["execution_id"] in text for row in late)
    early = [row for row in rows if row["started_at"] < middle]
    assert not any(f">{row['execution_id']}</code>" in text for row in early)


def test_report_of_an_empty_range_is_still_a_page(store_url: str, tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    result = CliRunner().invoke(cli, ["--db", store_url, "report", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "0 executions" in out.read_text()
