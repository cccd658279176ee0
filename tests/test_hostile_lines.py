"""Lines a store cannot index as they are: each is kept (a flagged event or a reject with its exact
bytes), the rest of its batch commits, and SQLite and PostgreSQL store the same thing."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from recorder.cli.main import cli
from recorder.demo.server import LoopbackVellum, Scenario
from recorder.model.vocabulary import Flag
from recorder.replay.export import export_cassette
from recorder.store import Store
from recorder.stream.http import execute_and_record
from recorder.stream.ingest import ingest_chunks

EXEC = "aaaaaaaa-0000-4000-8000-000000000001"
API_KEY = "hostile-test-key"
REQUEST = {"workflow_deployment_name": "hostile", "inputs": []}
BIG = 123456789012345678901234567890


def envelope(data: dict, *, execution_id: str = EXEC, event_type: str = "NODE", **extra) -> str:
    """An event line; `\\uXXXX` written in a value reaches the line as that JSON escape."""
    line = json.dumps({"execution_id": execution_id, "run_id": None, "external_id": None, "type": event_type, "data": data, **extra})
    return line.replace("\\\\u", "\\u")


def node_line(state: str = "INITIATED", **data) -> str:
    body = {"id": f"n-{state}", "node_id": "n1", "node_result_id": "r1", "state": state, "ts": "2025-06-02T09:00:00.100000Z",
            "data": {"type": "SEARCH", "data": {}}, "source_execution_id": None}
    body.update(data)
    return envelope(body)


def workflow_line(state: str, **data) -> str:
    body = {"id": f"w-{state}", "state": state, "ts": "2025-06-02T09:00:01.000000Z", "outputs": None, "error": None}
    body.update(data)
    return envelope(body, event_type="WORKFLOW")


def outputs_line(raw_value: str) -> str:
    """A terminal event whose output value is `raw_value`, written as JSON text by hand."""
    return workflow_line("FULFILLED", outputs=[{"id": "o", "name": "answer", "type": "JSON", "value": "PLACEHOLDER"}]).replace(
        '"PLACEHOLDER"', raw_value
    )


# name -> (line, what it becomes). Escapes are written as JSON text: the line is what was received.
HOSTILE = {
    "deep-nesting": (envelope({"id": "deep", "state": "INITIATED", "deep": "X"}).replace('"X"', "[" * 1000 + "]" * 1000), "reject"),
    "surrogate-execution-id": (envelope({"id": "x", "state": "INITIATED"}, execution_id="\\ud800"), "reject"),
    "nul-execution-id": (envelope({"id": "x", "state": "INITIATED"}, execution_id="A\\u0000"), "reject"),
    "long-execution-id": (envelope({"id": "x", "state": "INITIATED"}, execution_id="e" * 129), "reject"),
    "surrogate-event-id": (node_line(id="\\ud800"), "flagged"),
    "surrogate-node-id": (node_line(node_id="\\udfff"), "flagged"),
    "nul-node-result-id": (node_line(node_result_id="r\\u0000"), "flagged"),
    "nul-state": (node_line(state="INITIATED\\u0000"), "flagged"),
    "huge-node-result-id": (node_line(node_result_id="r" * 200_000), "flagged"),
}
TERMINAL = {
    "nul-in-error": workflow_line("REJECTED", error={"code": "X\\u0000", "message": "boom"}),
    "nul-in-outputs": outputs_line('"a\\u0000b"'),
    "infinite-output": outputs_line("1e400"),
    "nan-output": outputs_line("NaN"),
    "surrogate-output": outputs_line('"\\ud83d"'),
}


def body_of(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def stream_with(hostile: str) -> list[str]:
    return [workflow_line("INITIATED"), node_line("INITIATED"), hostile, node_line("FULFILLED"), workflow_line("FULFILLED")]


def assert_kept(store: Store, lines: list[str], hostile: str, becomes: str, recording) -> None:
    assert recording.outcome == "complete"
    events = store.events(EXEC)
    rejects = store.rejects()
    assert recording.events_stored + recording.rejects == len(lines)
    if becomes == "reject":
        assert [r.raw for r in rejects] == [hostile]
        assert [e.raw for e in events] == [line for line in lines if line != hostile]
    else:
        assert rejects == []
        assert [e.raw for e in events] == lines
        [flagged] = [e for e in events if e.raw == hostile]
        assert Flag.UNINDEXABLE in flagged.flags.split(",")
    assert export_cassette(store, EXEC).body() == body_of(lines)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_line_is_kept_and_the_batch_commits(store: Store, name: str) -> None:
    hostile, becomes = HOSTILE[name]
    lines = stream_with(hostile)
    result = ingest_chunks(store, [body_of(lines)], source="test")
    assert_kept(store, lines, hostile, becomes, result)


@pytest.mark.parametrize("name", TERMINAL)
def test_a_terminal_event_with_unindexable_outputs_or_error_keeps_its_execution_status(store: Store, name: str) -> None:
    terminal = TERMINAL[name]
    lines = [workflow_line("INITIATED"), node_line("INITIATED"), node_line("FULFILLED"), terminal]
    result = ingest_chunks(store, [body_of(lines)], source="test")
    assert_kept(store, lines, terminal, "flagged", result)
    execution = store.execution(EXEC)
    assert execution.status in ("FULFILLED", "REJECTED") and execution.event_count == 4
    assert execution.outputs is None
    if name == "nul-in-error":
        assert (execution.status, execution.error_code, execution.error_message) == ("REJECTED", None, "boom")


def test_an_id_at_the_column_size_is_indexed_and_one_past_it_is_not(store: Store) -> None:
    fits, too_long = "i" * 128, "i" * 129
    lines = [workflow_line("INITIATED"), node_line("INITIATED", node_id=fits), node_line("STREAMING", node_id=too_long)]
    ingest_chunks(store, [body_of(lines)], source="test")
    events = store.events(EXEC)
    assert [e.node_id for e in events[1:]] == [fits, None]
    assert (events[1].flags, events[2].flags) == (None, Flag.UNINDEXABLE)


def test_record_live_keeps_every_line_around_a_hostile_one(store_url: str) -> None:
    lines = [workflow_line("INITIATED"), node_line("INITIATED")]
    lines += [hostile for hostile, _ in HOSTILE.values()]
    lines += [node_line("FULFILLED"), TERMINAL["infinite-output"]]
    with LoopbackVellum(api_key=API_KEY) as server, Store(store_url) as store:
        server.expect(REQUEST, Scenario.from_text_lines(lines, lines_per_chunk=3))
        live = execute_and_record(store, REQUEST, api_key=API_KEY, base_url=server.base_url)
        assert live.outcome == "complete", live.error
        rejected = [hostile for hostile, becomes in HOSTILE.values() if becomes == "reject"]
        assert [r.raw for r in store.rejects()] == rejected
        assert [e.raw for e in store.events(EXEC)] == [line for line in lines if line not in rejected]
        assert export_cassette(store, EXEC).body() == body_of(lines)


def test_show_json_writes_half_an_emoji_and_huge_numbers_exactly(store_url: str) -> None:
    lines = [
        workflow_line("INITIATED"),
        node_line("STREAMING", output={"type": "STRING", "value": "\\ud83d"}),
        node_line("FULFILLED", output={"type": "NUMBER", "value": BIG}),
        outputs_line(f'[{BIG}, 1e400, {BIG}]'),
    ]
    with Store(store_url) as store:
        ingest_chunks(store, [body_of(lines)], source="test")
    shown = CliRunner().invoke(cli, ["--db", store_url, "show", EXEC, "--json"])
    assert shown.exit_code == 0, shown.output
    audit = json.loads(shown.stdout)
    events = [e["event"] for e in audit["events"]]
    assert events[1]["data"]["output"]["value"] == "\ud83d"
    assert events[2]["data"]["output"]["value"] == BIG
    assert events[3]["data"]["outputs"][0]["value"] == [BIG, float("inf"), BIG]
    assert audit["status"] == "FULFILLED" and audit["outputs"] is None


def test_show_json_writes_big_integers_in_outputs_as_integers(store_url: str) -> None:
    lines = [workflow_line("INITIATED"), outputs_line(f'{{"big": {BIG}, "small": 3}}')]
    with Store(store_url) as store:
        ingest_chunks(store, [body_of(lines)], source="test")
        assert store.execution(EXEC).outputs[0]["value"] == {"big": BIG, "small": 3}
    shown = CliRunner().invoke(cli, ["--db", store_url, "show", EXEC, "--json"])
    assert shown.exit_code == 0, shown.output
    audit = json.loads(shown.stdout)
    assert audit["outputs"][0]["value"] == {"big": BIG, "small": 3}
    assert isinstance(audit["outputs"][0]["value"]["big"], int)
    assert audit["events"][1]["event"]["data"]["outputs"][0]["value"]["big"] == BIG


def test_one_bad_line_in_a_batch_of_two_thousand_loses_nothing(store: Store) -> None:
    lines = [workflow_line("INITIATED")]
    lines += [node_line("STREAMING", id=f"s{index}", node_result_id=f"r{index}") for index in range(2_000)]
    bad = HOSTILE["surrogate-node-id"][0]
    lines.insert(1_000, bad)
    lines.append(workflow_line("FULFILLED"))
    result = ingest_chunks(store, [body_of(lines)], source="test")
    assert (result.outcome, result.events_stored, result.rejects) == ("complete", 2_003, 0)
    assert store.execution(EXEC).event_count == 2_003
    assert export_cassette(store, EXEC).body() == body_of(lines)


def test_show_prints_recorded_outputs_as_their_exact_json(store_url: str) -> None:
    lines = [workflow_line("INITIATED"), outputs_line(f'{{"big": {BIG}, "note": "[/INST] [bold]"}}')]
    with Store(store_url) as store:
        ingest_chunks(store, [body_of(lines)], source="test")
    shown = CliRunner().invoke(cli, ["--db", store_url, "show", EXEC])
    assert shown.exit_code == 0, shown.output
    assert f'"big": {BIG}' in shown.stdout and '"note": "[/INST] [bold]"' in shown.stdout
