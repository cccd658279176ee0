"""The typed fast path declines or answers exactly what the exact path answers, never otherwise.

`read_clean_event` reads a clean legacy line with msgspec; `parse_line_exactly` builds the whole
object and checks every rule in Python. For every line below, whenever the fast path answers, the
exact path must give the same event: every indexed field, no flags, the same text, and the same
body once it is read. Lines are chosen near each rule's edge (lengths at the limits, unknown and
mistyped states, tags and timestamps, escapes, duplicate keys, deep nesting), and the recorded
sample streams show the fast path does take the clean lines it exists for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recorder.model.clean_lines import read_clean_event, read_clean_sdk_event
from recorder.model.events import ParsedEvent, parse_line, parse_line_exactly
from recorder.model.exact_json import MAX_PARSE_DEPTH
from recorder.model.indexed import MAX_EXTERNAL_ID_LENGTH, MAX_ID_LENGTH
from recorder.model.lines import RawLine, split_body
from recorder.model.vocabulary import NODE_STATES, NODE_TYPES, VALUE_TYPES, WORKFLOW_STATES, StreamShape
from recorder.store.body_blocks import BodyBlocks
from recorder.store.event_rows import EVENT_COLUMNS
from recorder.store.prepare import LinePreparer, PreparerState

SAMPLES = Path(__file__).parent / "data" / "samples"
SDK_SAMPLES = Path(__file__).parent / "data" / "sdk_samples"
FastPath = Callable[[int, bytes], "ParsedEvent | None"]
INDEXED_FIELDS = [name for name in ParsedEvent.__slots__ if name != "parsed_body"]  # type: ignore[attr-defined]


def assert_same_answer(data: bytes, position: int = 0, read: FastPath = read_clean_event) -> ParsedEvent | None:
    """The fast path's event, checked against the exact path's; None when it declined."""
    fast = read(position, data)
    if fast is None:
        return None
    exact = parse_line_exactly(RawLine(position, data))
    assert isinstance(exact, ParsedEvent), f"fast path read an event the exact path makes {exact!r}"
    for name in INDEXED_FIELDS:
        assert getattr(fast, name) == getattr(exact, name), name
    assert fast.flags == ()
    assert fast.parsed_body is None  # built only when asked for
    assert fast.body == exact.body
    return fast


# -- lines near every rule's edge ---------------------------------------------------------------

def ids(limit: int) -> st.SearchStrategy[object]:
    """Strings at and around `limit` characters (ASCII and not, escaped NUL), and non-strings."""
    return st.one_of(
        st.none(),
        st.integers(min_value=limit - 2, max_value=limit + 2).flatmap(
            lambda n: st.sampled_from(["a" * n, "é" * n, "x" * max(n - 1, 0) + "\x00", "\ud83d\ude00" * (n // 2)])
        ),
        st.text(max_size=12),
        st.just(""),
        st.integers(),
        st.lists(st.integers(), max_size=2),
    )


tags = st.one_of(st.sampled_from(sorted(VALUE_TYPES)), st.sampled_from(["NEW_TYPE", "string", ""]), st.none(), st.integers())
tagged = st.one_of(st.fixed_dictionaries({}, optional={"type": tags, "value": st.text(max_size=5)}), st.text(max_size=3), st.none())
states = st.one_of(st.sampled_from(sorted(NODE_STATES | WORKFLOW_STATES | {"PAUSED", "initiated"})), st.none(), st.integers())
timestamps = st.one_of(
    st.sampled_from(
        [
            "2026-11-28T09:00:00.030409Z",
            "2026-11-28T09:00:00+00:00",
            "2026-11-28T11:00:00.5+02:00",
            "2026-11-28T09:00:00.030409",  # naive
            "2026-11-28T09:00:00.123456789Z",
            "not a time",
            "",
        ]
    ),
    st.none(),
    st.integers(),
)
payloads = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.one_of(st.sampled_from(sorted(NODE_TYPES)), st.just("NEW_NODE"), st.integers(), st.none()),
            "data": st.one_of(st.none(), st.lists(st.integers(), max_size=1), st.fixed_dictionaries({}, optional={"output": tagged})),
        },
    ),
)
data_objects = st.fixed_dictionaries(
    {},
    optional={
        "id": ids(MAX_ID_LENGTH),
        "state": states,
        "ts": timestamps,
        "node_id": ids(MAX_ID_LENGTH),
        "node_result_id": ids(MAX_ID_LENGTH),
        "source_execution_id": ids(MAX_ID_LENGTH),
        "data": payloads,
        "inputs": st.one_of(st.lists(tagged, max_size=3), tagged),
        "outputs": st.one_of(st.lists(tagged, max_size=3), tagged),
        "input_values": st.lists(tagged, max_size=3),
        "output_values": st.lists(tagged, max_size=3),
        "output": tagged,
        "error": st.one_of(st.none(), st.fixed_dictionaries({"code": st.text(max_size=4), "message": st.text(max_size=4)})),
    },
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "execution_id": ids(MAX_ID_LENGTH),
        "type": st.one_of(st.sampled_from(["NODE", "WORKFLOW", "OTHER"]), st.none()),
        "run_id": ids(MAX_ID_LENGTH),
        "external_id": ids(MAX_EXTERNAL_ID_LENGTH),
        "data": st.one_of(data_objects, st.text(max_size=3), st.none()),
        "name": st.just("workflow.execution.initiated"),
    },
)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes, st.booleans(), st.sampled_from(["", " ", "\r", "\t "]))
def test_any_envelope_is_declined_or_read_as_the_exact_path_reads_it(envelope: dict, ascii_only: bool, tail: str) -> None:
    assert_same_answer((json.dumps(envelope, ensure_ascii=ascii_only) + tail).encode("utf-8", "surrogatepass"))


# A clean line of each kind the fast path is for, to change one thing at a time.
NODE_LINE = {
    "execution_id": "e-1",
    "run_id": None,
    "external_id": "order-7",
    "type": "NODE",
    "data": {
        "id": "ev-1",
        "node_id": "n-1",
        "node_result_id": "r-1",
        "state": "FULFILLED",
        "ts": "2026-11-28T09:00:00.239880Z",
        "data": {"type": "SEARCH", "data": {"output": {"type": "STRING", "value": "x"}}},
        "source_execution_id": None,
        "output_values": [{"type": "SEARCH_RESULTS", "value": []}],
    },
}
STREAMING_LINE = {
    "execution_id": "e-1",
    "type": "WORKFLOW",
    "data": {"id": "ev-2", "state": "STREAMING", "ts": "2026-11-28T09:00:01Z", "output": {"type": "STRING", "value": "par"}},
}


@pytest.mark.parametrize("line", [NODE_LINE, STREAMING_LINE], ids=["node", "workflow-streaming"])
def test_a_clean_line_takes_the_fast_path(line: dict) -> None:
    assert assert_same_answer(json.dumps(line).encode()) is not None


def _with(line: dict, changes: dict, data_changes: dict) -> dict:
    return {**line, **changes, "data": {**line["data"], **data_changes}}


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([NODE_LINE, STREAMING_LINE]),
    st.fixed_dictionaries({}, optional={"execution_id": ids(MAX_ID_LENGTH), "run_id": ids(MAX_ID_LENGTH), "external_id": ids(MAX_EXTERNAL_ID_LENGTH), "type": st.sampled_from(["NODE", "WORKFLOW"])}),
    data_objects,
    st.booleans(),
)
def test_a_clean_line_with_some_fields_changed_is_declined_or_read_exactly(
    line: dict, changes: dict, data_changes: dict, ascii_only: bool
) -> None:
    """Most changes keep the line clean, so the fast path answers here far more often than for
    arbitrary envelopes, each time checked against the exact path."""
    assert_same_answer(json.dumps(_with(line, changes, data_changes), ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


def _text(line: dict) -> str:
    return json.dumps(line)


@pytest.mark.parametrize(
    "text",
    [
        # Duplicate keys: the last one wins on both paths, whichever is escaped.
        _text(NODE_LINE)[:-2] + ', "state": "PAUSED"}}',
        _text(NODE_LINE)[:-2] + ', "st\\u0061te": "REJECTED"}}',
        '{"type": "WORKFLOW", ' + _text(NODE_LINE)[1:],
        _text(NODE_LINE)[:-1] + ', "type": "WORKFLOW"}',
        # Escapes the index cannot hold, anywhere in the line.
        _text(NODE_LINE).replace('"r-1"', '"r-\\u0000"'),
        _text(NODE_LINE).replace('"x"', '"x\\u0000"'),
        _text(NODE_LINE).replace('"x"', '"\\ud800"'),
        # Numbers orjson reads inexactly or not at all, in what the fast path skips.
        _text(NODE_LINE).replace('"x"', "123456789012345678901234567890"),
        _text(NODE_LINE).replace('"x"', "1e400"),
        _text(NODE_LINE).replace('"x"', "NaN"),
        # Nesting at and beyond the limit, in a skipped field.
        _text(NODE_LINE).replace('"x"', "[" * (MAX_PARSE_DEPTH - 10) + "]" * (MAX_PARSE_DEPTH - 10)),
        _text(NODE_LINE).replace('"x"', "[" * MAX_PARSE_DEPTH + "]" * MAX_PARSE_DEPTH),
        _text(NODE_LINE).replace('"x"', "[" * 3000 + "]" * 3000),
        # Not JSON, or not all of it.
        _text(NODE_LINE)[:-1],
        _text(NODE_LINE) + " x",
        _text(NODE_LINE) + ",",
        "\ufeff" + _text(NODE_LINE),
        "",
        "   ",
        # A terminal WORKFLOW event is the exact path's (its outputs and error are checked there).
        _text({**STREAMING_LINE, "data": {**STREAMING_LINE["data"], "state": "FULFILLED", "outputs": []}}),
    ],
)
def test_edge_lines_are_declined_or_read_exactly(text: str) -> None:
    assert_same_answer(text.encode("utf-8", "surrogatepass"))


def test_bytes_that_are_not_utf8_in_a_skipped_string_are_left_to_the_exact_path() -> None:
    data = _text(NODE_LINE).encode().replace(b'"x"', b'"\xff\xfe"')
    assert read_clean_event(0, data) is None
    assert not isinstance(parse_line(RawLine(0, data)), ParsedEvent)


def clean_lines_taken(samples: Path, read: FastPath) -> tuple[int, int]:
    """How many of the sample streams' clean lines (no flag, not a root workflow's terminal event)
    there are, and how many `read` took; every line gives the same event either way."""
    clean = taken = 0
    for path in sorted(samples.glob("*.ndjson")):
        for line in split_body(path.read_bytes()):
            fast = assert_same_answer(line.data, line.position, read=read)
            exact = parse_line_exactly(line)
            assert parse_line(line) == exact
            if isinstance(exact, ParsedEvent) and not exact.flags and not (exact.type == "WORKFLOW" and exact.state in {"FULFILLED", "REJECTED"}):
                clean += 1
                taken += fast is not None
    return clean, taken


@pytest.mark.parametrize(("samples", "read"), [(SAMPLES, read_clean_event), (SDK_SAMPLES, read_clean_sdk_event)], ids=["legacy", "v2"])
def test_the_fast_paths_take_the_clean_lines_of_recorded_streams(samples: Path, read: FastPath) -> None:
    """Nearly every clean line of a recorded stream is read by its fast path, which is what it is for."""
    clean, taken = clean_lines_taken(samples, read)
    assert clean > 500
    assert taken >= 0.95 * clean, f"the fast path read only {taken} of {clean} clean sample lines"


def test_a_body_that_changes_shape_is_prepared_as_each_line_parses() -> None:
    """Each line takes the fast path of its own shape: a body whose lines change shape gets, line
    by line, parse_line's events."""
    legacy = (SAMPLES / "exec_0000.ndjson").read_bytes()
    sdk = (SAMPLES.parent / "sdk_samples" / "exec_0000.ndjson").read_bytes()
    body = legacy + sdk + legacy[: len(legacy) // 2].rsplit(b"\n", 1)[0] + b"\n" + sdk
    preparer, blocks = LinePreparer(PreparerState(recording_id=1)), BodyBlocks()
    for start in range(0, len(body), 4096):
        block = blocks.cut(body[start : start + 4096], 0)
        if block is not None:
            preparer.add_block(block)
    rows = preparer.take().event_rows
    expected = [event for event in map(parse_line, split_body(body)) if isinstance(event, ParsedEvent)]
    columns = ("execution_id", "position", "type", "state", "ts_us", "event_id", "node_id", "node_result_id",
               "node_type", "source_execution_id", "raw")
    assert [tuple(row[EVENT_COLUMNS.index(name)] for name in columns) for row in rows] == [
        tuple(getattr(event, name) for name in columns) for event in expected
    ]
    assert [row[EVENT_COLUMNS.index("flags")] for row in rows] == [event.flags_text for event in expected]
    assert {event.shape for event in expected} == {StreamShape.LEGACY, StreamShape.SDK}



# -- the v2 stream's SDK-style events ---------------------------------------------------------------

def _sdk_line(name: str = "node.execution.initiated", chain: list[dict] | None = None, **changes: object) -> dict:
    """An SDK-style event under `chain` (nearest context first): by default a node of the root
    workflow "root-1", deployed with a release tag."""
    if chain is None:
        chain = [
            {"type": "WORKFLOW", "span_id": "root-1", "workflow_definition": {"id": "wf", "name": "Flow"}},
            {"type": "WORKFLOW_RELEASE_TAG", "span_id": "tag-1", "external_id": "order-7", "release_tag_name": "LATEST"},
            {"type": "API_REQUEST", "span_id": "api-1"},
        ]
    parent = None
    for context in reversed(chain):
        parent = {**context, "parent": parent}
    line = {
        "parent": parent,
        "name": name,
        "body": {"node_definition": {"id": "node-def-1", "name": "SearchNode"}, "workflow_definition": {"id": "wf-2"}},
        "id": "ev-1",
        "timestamp": "2025-06-02T09:00:00.006240Z",
        "span_id": "span-1",
        "trace_id": "t-1",
    }
    return {**line, **changes}


sdk_names = st.one_of(
    st.sampled_from([f"node.execution.{state.lower()}" for state in ("INITIATED", "STREAMING", "FULFILLED", "REJECTED", "PAUSED", "LOG", "ODD")]),
    st.sampled_from([f"workflow.execution.{state.lower()}" for state in ("INITIATED", "STREAMING", "FULFILLED", "REJECTED", "SNAPSHOTTED", "ODD")]),
    st.sampled_from(["workflow.execution.ınitiated", "other.event", ""]),
)
contexts = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(["WORKFLOW", "WORKFLOW_RELEASE_TAG", "API_REQUEST", "WORKFLOW_NODE"]), st.integers(), st.none()),
        "span_id": ids(MAX_ID_LENGTH),
        "external_id": ids(MAX_EXTERNAL_ID_LENGTH),
    },
)
definitions = st.one_of(st.none(), st.text(max_size=2), st.fixed_dictionaries({}, optional={"id": ids(MAX_ID_LENGTH), "name": st.text(max_size=4)}))


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(
    sdk_names,
    st.one_of(st.none(), st.lists(contexts, max_size=4)),
    st.fixed_dictionaries(
        {},
        optional={
            "span_id": ids(MAX_ID_LENGTH),
            "id": ids(MAX_ID_LENGTH),
            "timestamp": timestamps,
            "execution_id": st.one_of(st.none(), st.just("e-1")),
            "body": st.one_of(
                st.none(), st.text(max_size=2),
                st.fixed_dictionaries({}, optional={"node_definition": definitions, "workflow_definition": definitions, "outputs": st.none()}),
            ),
        },
    ),
    st.booleans(),
)
def test_an_sdk_event_is_declined_or_read_as_the_exact_path_reads_it(
    name: str, chain: list[dict] | None, changes: dict, ascii_only: bool
) -> None:
    line = _sdk_line(name, chain if chain is not None else None, **changes)
    if chain == []:
        line["parent"] = None
    data = json.dumps(line, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert_same_answer(data, read=read_clean_sdk_event)
    assert_same_answer(data, read=read_clean_event)  # declines every SDK line, or reads it exactly


@pytest.mark.parametrize(
    "line",
    [
        _sdk_line(),
        _sdk_line("workflow.execution.streaming", chain=[{"type": "API_REQUEST", "span_id": "api-1"}], span_id="root-1"),
        _sdk_line("workflow.execution.fulfilled"),  # a nested workflow's end: a run of its own
        _sdk_line("node.execution.fulfilled", chain=[{"type": "WORKFLOW_NODE", "span_id": "wn-1"}, {"type": "WORKFLOW", "span_id": "root-1"}]),
    ],
    ids=["node", "root-workflow-streaming", "nested-workflow-end", "nested-node"],
)
def test_a_clean_sdk_event_takes_the_fast_path(line: dict) -> None:
    assert assert_same_answer(json.dumps(line).encode(), read=read_clean_sdk_event) is not None


def test_parent_chains_at_and_beyond_the_walked_length_are_read_as_the_exact_path_reads_them() -> None:
    from recorder.model.sdk_events import _MAX_CHAIN

    for length in (_MAX_CHAIN - 1, _MAX_CHAIN, _MAX_CHAIN + 1, _MAX_CHAIN + 5):
        chain = [{"type": "API_REQUEST", "span_id": f"c-{index}"} for index in range(length - 1)] + [{"type": "WORKFLOW", "span_id": "root-1"}]
        assert_same_answer(json.dumps(_sdk_line(chain=chain)).encode(), read=read_clean_sdk_event)
