"""Property tests: whatever arrives, the parser never raises and never loses a line."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.model.events import ParsedEvent, RejectedLine, parse_line
from recorder.model.indexed import indexable_id, is_indexable_text
from recorder.model.lines import split_body

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)

envelopes = st.fixed_dictionaries(
    {},
    optional={
        "execution_id": st.one_of(st.text(max_size=40), json_values),
        "type": st.one_of(st.sampled_from(["WORKFLOW", "NODE", "OTHER"]), json_values),
        "data": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": json_values,
                    "state": st.one_of(st.sampled_from(["INITIATED", "STREAMING", "FULFILLED", "REJECTED", "PAUSED"]), json_values),
                    "ts": st.one_of(st.none(), st.text(max_size=30), st.just("2025-06-02T09:00:00Z"), json_values),
                    "node_id": json_values,
                    "node_result_id": json_values,
                    "data": json_values,
                    "outputs": json_values,
                    "output_values": json_values,
                },
            ),
            json_values,
        ),
    },
)


def classify_body(body: bytes) -> tuple[int, int, int]:
    events = rejects = blanks = 0
    for line in split_body(body):
        parsed = parse_line(line)
        if parsed is None:
            assert line.is_blank
            blanks += 1
        elif isinstance(parsed, RejectedLine):
            rejects += 1
        else:
            assert isinstance(parsed, ParsedEvent)
            events += 1
    return events, rejects, blanks


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_and_every_line_is_accounted_for(body: bytes) -> None:
    events, rejects, blanks = classify_body(body)
    assert events + rejects + blanks == len(split_body(body))


@settings(max_examples=300)
@given(st.lists(json_values, max_size=8))
def test_arbitrary_json_lines_are_each_an_event_or_a_reject(values: list) -> None:
    body = b"".join(json.dumps(value).encode() + b"\n" for value in values)
    events, rejects, blanks = classify_body(body)
    assert blanks == 0 and events + rejects == len(values)


@settings(max_examples=300)
@given(st.lists(envelopes, min_size=1, max_size=8))
def test_envelope_like_objects_become_events_exactly_when_they_name_execution_and_type(values: list[dict]) -> None:
    for value in values:
        parsed = parse_line(split_body(json.dumps(value, ensure_ascii=False).encode())[0])
        # Named, and indexable: an execution_id or type no key column can hold (NUL, a lone
        # surrogate, an execution_id over 128 characters) makes the line a reject instead.
        execution_id, event_type = value.get("execution_id"), value.get("type")
        well_formed = (
            isinstance(execution_id, str) and bool(execution_id) and indexable_id(execution_id) is not None
            and isinstance(event_type, str) and bool(event_type) and is_indexable_text(event_type)
        )
        assert isinstance(parsed, ParsedEvent) == bool(well_formed)
        if isinstance(parsed, ParsedEvent):
            assert parsed.raw == json.dumps(value, ensure_ascii=False)
