"""Text from the wire that looks like rich markup (`[/INST]`, `[bold]`) prints as itself in every
human-readable view: the live view, `show`, `executions`, `timeline`, `lineage`, `latency`,
`compare` and `sql`. Both backends."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from recorder.cli.live_view import LiveView
from recorder.cli.main import cli
from recorder.model.events import parse_line
from recorder.model.lines import RawLine
from recorder.store import Store
from tests.test_analytics_timeline import StreamBuilder

EXECUTION = "[/INST]-0f2c-4b9e-a1d2-7c3e5b9f0a11"
NODE = "[/INST]node"
NODE_TYPE = "[bold]PROMPT"
MESSAGE = "model said [/INST] then [red]"
CODE = "[/]"
DEPLOYMENT = "[/deploy]"
TAG = "[link=x]v1"


def markup_stream() -> StreamBuilder:
    error = {"message": MESSAGE, "code": CODE}
    return (
        StreamBuilder(EXECUTION).workflow("INITIATED", 0)
        .node("[/run]", "INITIATED", 1, node_id=NODE, node_type=NODE_TYPE)
        .node("[/run]", "REJECTED", 5, node_id=NODE, node_type=NODE_TYPE, error=error)
        .workflow("REJECTED", 6, error=error)
    )


@pytest.fixture
def url(store: Store) -> str:
    markup_stream().record(store, request={"workflow_deployment_name": DEPLOYMENT, "release_tag": TAG, "inputs": []})
    return store.url


def run(url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", url, *args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def test_show_prints_markup_like_wire_text_as_text(url: str) -> None:
    output = run(url, "show", EXECUTION)
    assert MESSAGE in output and DEPLOYMENT in output and TAG in output and NODE_TYPE in output


def test_executions_prints_markup_like_wire_text_as_text(url: str) -> None:
    output = run(url, "executions")
    assert DEPLOYMENT in output and EXECUTION[:8] in output


def test_timeline_and_lineage_print_markup_like_wire_text_as_text(url: str) -> None:
    assert NODE_TYPE in run(url, "timeline", EXECUTION)
    assert EXECUTION[:8] in run(url, "lineage", EXECUTION)


def test_fleet_tables_print_markup_like_wire_text_as_text(url: str) -> None:
    assert NODE[:8] in run(url, "latency", "--by", "node")
    assert DEPLOYMENT in run(url, "latency", "--by", "deployment")
    assert "[/x]" in run(url, "compare", "--deployment", DEPLOYMENT, "--baseline", "[/x]", "--candidate", TAG)
    output = run(url, "sql", "SELECT node_id AS \"[/col]\", error_code FROM node_spans")
    assert "[/col]" in output and NODE in output and CODE in output


def test_the_live_view_prints_markup_like_wire_text_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    view = LiveView()
    for position, (line, _) in enumerate(markup_stream().lines):
        view(parse_line(RawLine(position, line.encode())))
    view(parse_line(RawLine(9, b"[/INST] is not JSON")))
    printed = capsys.readouterr().err
    assert NODE_TYPE in printed and EXECUTION[:8] in printed
    assert f"{CODE}: {MESSAGE}" in printed
    assert "not JSON" in printed


def test_a_line_of_json_with_markup_in_every_field_round_trips_through_show_json(url: str) -> None:
    audit = json.loads(run(url, "show", EXECUTION, "--json"))
    assert audit["error"] == {"message": MESSAGE, "code": CODE}
