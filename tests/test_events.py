"""Reading one line: indexed fields, flags for the unknown, rejects with reasons."""

from __future__ import annotations

import json

from recorder.model.events import ParsedEvent, RejectedLine, parse_line
from recorder.model.lines import RawLine
from recorder.model.vocabulary import Flag

EXEC = "11111111-1111-4111-8111-111111111111"


def node_event(**data_overrides) -> dict:
    data = {
        "id": "e1",
        "node_id": "n1",
        "node_result_id": "r1",
        "state": "INITIATED",
        "ts": "2025-06-02T09:00:00.123456Z",
        "data": {"type": "PROMPT", "data": {"output_id": "o1", "text": None, "delta": None, "execution_meta": None}},
        "source_execution_id": None,
        "input_values": [],
    }
    data.update(data_overrides)
    return {"execution_id": EXEC, "run_id": None, "external_id": None, "type": "NODE", "data": data}


def parse(value, position: int = 0) -> ParsedEvent | RejectedLine | None:
    data = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
    return parse_line(RawLine(position, data))


def test_node_event_fields_are_indexed() -> None:
    event = parse(node_event(source_execution_id="child"), position=7)
    assert isinstance(event, ParsedEvent)
    assert (event.position, event.execution_id, event.type, event.state) == (7, EXEC, "NODE", "INITIATED")
    assert (event.node_id, event.node_result_id, event.node_type, event.source_execution_id) == ("n1", "r1", "PROMPT", "child")
    assert event.ts_us == 1748854800123456
    assert event.event_id == "e1"
    assert event.flags == ()


def test_raw_text_is_kept_exactly_as_received() -> None:
    raw = b'{"execution_id":"x","type":"WORKFLOW","data":{"id":"a","state":"INITIATED","ts":"2025-06-02T09:00:00.5+00:00","n":3}}'
    event = parse(raw)
    assert event.raw == raw.decode()


def test_compact_style_with_nulls_omitted_parses() -> None:
    compact = {"execution_id": EXEC, "type": "NODE", "data": {"id": "e", "node_id": "n", "node_result_id": "r", "state": "FULFILLED", "output_values": []}}
    event = parse(compact)
    assert isinstance(event, ParsedEvent)
    assert event.ts_us is None and event.node_type is None and event.flags == ()


def test_null_node_ts_is_accepted_without_flag() -> None:
    event = parse(node_event(ts=None))
    assert event.ts_us is None and event.flags == ()


def test_workflow_event_without_ts_is_flagged() -> None:
    event = parse({"execution_id": EXEC, "type": "WORKFLOW", "data": {"id": "w", "state": "INITIATED"}})
    assert Flag.MISSING_TS in event.flags


def test_timestamp_without_offset_is_read_as_utc_and_flagged() -> None:
    event = parse(node_event(ts="2025-06-02T09:00:00.123456"))
    assert event.ts_us == 1748854800123456
    assert Flag.NAIVE_TS in event.flags


def test_unparseable_timestamp_is_flagged_not_rejected() -> None:
    event = parse(node_event(ts="yesterday"))
    assert event.ts_us is None and Flag.BAD_TS in event.flags


def test_unknown_event_type_is_stored_and_flagged() -> None:
    event = parse({"execution_id": EXEC, "type": "SPAN", "data": {"id": "s"}})
    assert isinstance(event, ParsedEvent) and event.type == "SPAN"
    assert Flag.UNKNOWN_TYPE in event.flags


def test_unknown_node_state_is_stored_and_flagged() -> None:
    event = parse(node_event(state="PAUSED"))
    assert event.state == "PAUSED" and Flag.UNKNOWN_STATE in event.flags


def test_unknown_node_type_is_stored_and_flagged() -> None:
    event = parse(node_event(data={"type": "GUARDRAIL", "data": {}}))
    assert event.node_type == "GUARDRAIL" and Flag.UNKNOWN_NODE_TYPE in event.flags


def test_unknown_value_type_is_flagged() -> None:
    event = parse(node_event(state="FULFILLED", output_values=[{"type": "HOLOGRAM", "value": 1, "node_output_id": "o"}]))
    assert Flag.UNKNOWN_VALUE_TYPE in event.flags


def test_data_that_is_not_an_object_is_schema_drift() -> None:
    event = parse({"execution_id": EXEC, "type": "NODE", "data": [1, 2]})
    assert Flag.SCHEMA_DRIFT in event.flags


def test_unicode_separators_inside_strings_stay_in_the_event() -> None:
    event = parse(node_event(state="STREAMING", data={"type": "PROMPT", "data": {"delta": "a\u2028b\u2029c\x85d"}}))
    assert "a\u2028b\u2029c\x85d" in event.raw


def test_crlf_line_parses_and_keeps_its_carriage_return() -> None:
    raw = json.dumps(node_event()).encode() + b"\r"
    event = parse(raw)
    assert isinstance(event, ParsedEvent) and event.raw.endswith("\r")


def test_blank_lines_are_not_events() -> None:
    assert parse(b"") is None
    assert parse(b"  \r") is None


def test_non_json_line_is_rejected_verbatim() -> None:
    reject = parse(b"data: {not json}")
    assert isinstance(reject, RejectedLine)
    assert reject.raw == "data: {not json}" and reject.reason.startswith("not JSON")


def test_json_that_is_not_an_object_is_rejected() -> None:
    reject = parse(b"[1,2,3]")
    assert isinstance(reject, RejectedLine) and "not a JSON object" in reject.reason


def test_object_without_execution_id_or_type_is_rejected() -> None:
    assert parse({"type": "NODE", "data": {}}).reason == "no execution_id string"
    assert parse({"execution_id": EXEC, "data": {}}).reason == "no type string"


def test_invalid_utf8_is_rejected_with_its_exact_bytes() -> None:
    raw = b'{"execution_id":"\xff\xfe"}'
    reject = parse(raw)
    assert isinstance(reject, RejectedLine) and reject.reason.startswith("not valid UTF-8")
    assert reject.raw_bytes == raw


def test_cut_last_line_says_it_was_cut() -> None:
    reject = parse_line(RawLine(3, b'{"execution_id":"ab', terminated=False))
    assert isinstance(reject, RejectedLine) and reject.reason.startswith("last line cut")


def test_lone_surrogate_escape_is_still_an_event() -> None:
    event = parse(b'{"execution_id":"x","type":"NODE","data":{"id":"a","node_id":"n","node_result_id":"r","state":"STREAMING","text":"\\ud800"}}')
    assert isinstance(event, ParsedEvent)
