"""The parser's fast paths answer exactly what the plain definitions they skip would.

Splitting copies each line once out of the chunk, `load_json` counts brackets only when a line
could nest too deeply, and the SDK parser reads its parent chain in one pass: each property below
states the plain rule and checks the real code against it, on inputs chosen near the edges.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.model.events import ParsedEvent, RejectedLine, parse_line
from recorder.model.exact_json import MAX_PARSE_DEPTH, load_json
from recorder.model.indexed import MAX_EXTERNAL_ID_LENGTH, unique_flags
from recorder.model.lines import LineSplitter, RawLine
from recorder.model.sdk_events import deployment_context
from recorder.model.vocabulary import Flag

# Scalars that matter to the byte scan: digit runs either side of 19 (orjson reads wider integers
# as floats) and strings full of brackets (which count as brackets but nest nothing).
scalars = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet="[]{}\"\\ab0123456789", max_size=30),
    st.none(),
    st.booleans(),
)


def nested(depth: int, leaf: object, dicts: list[bool]) -> object:
    """`leaf` inside `depth` containers, each an object or an array as `dicts` says in turn."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if dicts[level % len(dicts)] else [value]
    return value


def plain_load(text: str) -> object:
    """What load_json must return: json's exact reading, refused beyond MAX_PARSE_DEPTH."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:  # the structural depth, walked character by character
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > MAX_PARSE_DEPTH:
        raise ValueError(f"nested deeper than {MAX_PARSE_DEPTH} levels")
    return json.loads(text)


def outcome(read, text: str) -> tuple[str, str]:
    try:
        return "value", repr(read(text))  # repr tells an exact integer from a float
    except ValueError as exc:
        return "error", str(exc)


@settings(max_examples=300)
@given(
    depth=st.integers(min_value=MAX_PARSE_DEPTH - 3, max_value=MAX_PARSE_DEPTH + 3) | st.integers(min_value=0, max_value=8),
    leaf=scalars,
    dicts=st.lists(st.booleans(), min_size=1, max_size=3),
    padding=st.lists(scalars, max_size=4),
    compact=st.booleans(),
)
def test_load_json_reads_exactly_as_json_and_refuses_the_same_depths(depth, leaf, dicts, padding, compact) -> None:
    document = [nested(depth, leaf, dicts), *padding] if padding else nested(depth, leaf, dicts)
    text = json.dumps(document, separators=(",", ":") if compact else None)
    assert outcome(load_json, text) == outcome(plain_load, text)


@given(st.integers(min_value=0, max_value=40), st.text(alphabet="[{", max_size=600))
def test_brackets_inside_strings_never_make_a_line_too_deep(depth: int, brackets: str) -> None:
    text = json.dumps(nested(depth, brackets, [True, False]))
    assert outcome(load_json, text) == outcome(plain_load, text)


def test_a_deep_document_is_refused_whether_or_not_orjson_can_read_it() -> None:
    for depth in (MAX_PARSE_DEPTH + 1, 1024, 1025, 2000):  # orjson reads up to 1024 levels
        arrays = ["[" * depth + leaf + "]" * depth for leaf in ("1", str(10**30))]  # a big integer: json's read
        objects = '{"k":' * depth + "1" + "}" * depth
        for text in (*arrays, objects):
            assert outcome(load_json, text) == ("error", f"nested deeper than {MAX_PARSE_DEPTH} levels")


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=12), st.booleans())
def test_splitting_in_any_chunks_gives_the_lines_of_bytes_split(body: bytes, cuts: list[int], as_bytearrays: bool) -> None:
    points = sorted({min(cut, len(body)) for cut in cuts})
    chunks = [body[start:end] for start, end in zip([0, *points], [*points, len(body)])]
    splitter = LineSplitter(start_position=3)
    lines = [line for chunk in chunks for line in splitter.feed(bytearray(chunk) if as_bytearrays else chunk)]
    last = splitter.finish()
    *complete, rest = body.split(b"\n")
    assert lines == [RawLine(3 + index, data) for index, data in enumerate(complete)]
    assert all(type(line.data) is bytes for line in lines)
    assert last == (RawLine(3 + len(complete), rest, terminated=False) if rest else None)
    assert splitter.lines_seen == 3 + len(complete) + (1 if rest else 0)


@given(st.lists(st.sampled_from([Flag.SCHEMA_DRIFT, Flag.UNINDEXABLE, Flag.BAD_TS, Flag.UNKNOWN_STATE]), max_size=6))
def test_unique_flags_keeps_each_flag_once_in_first_raised_order(flags: list[str]) -> None:
    assert unique_flags(flags) == tuple(dict.fromkeys(flags))


contexts = st.fixed_dictionaries(
    {"type": st.sampled_from(["WORKFLOW", "WORKFLOW_RELEASE_TAG", "WORKFLOW_NODE", "API_REQUEST", None, 7])},
    optional={
        "span_id": st.sampled_from(["s-1", "s-2", "s-3", "", None, "x" * 129]),
        "external_id": st.sampled_from([None, "ext", "e" * (MAX_EXTERNAL_ID_LENGTH + 1), "a\x00b"]),
    },
)


@settings(max_examples=300)
@given(
    chain=st.lists(contexts, max_size=6),
    name=st.sampled_from(["workflow.execution.initiated", "node.execution.fulfilled", "other.thing"]),
    span_id=st.sampled_from(["own", "s-1"]),
)
def test_sdk_events_take_root_and_deployment_from_their_chain_as_the_plain_rules_say(chain, name, span_id) -> None:
    parent = None
    for context in reversed(chain):  # chain is nearest first: the first context is the event's parent
        parent = {**context, "parent": parent}
    body = {"id": "e", "timestamp": "2025-06-02T09:00:00Z", "span_id": span_id, "parent": parent, "name": name,
            "body": {"node_definition": {"id": "n"}, "workflow_definition": {"id": "w"}}}
    parsed = parse_line(RawLine(0, json.dumps(body).encode()))

    workflows = [context for context in chain if context.get("type") == "WORKFLOW"]
    root = workflows[-1].get("span_id") if workflows else span_id
    if not isinstance(root, str) or not root or len(root) > 128:
        assert isinstance(parsed, RejectedLine)
        return
    assert isinstance(parsed, ParsedEvent) and parsed.execution_id == root
    around = chain[0].get("span_id") if chain else None
    nested_run = bool(workflows) or not name.startswith("workflow.")
    expected_source = around if nested_run and isinstance(around, str) and around != root and len(around) <= 128 else None
    assert parsed.source_execution_id == expected_source
    release = deployment_context(json.loads(json.dumps(body)))
    external_id = None if release is None else release.get("external_id")
    unindexable_external = isinstance(external_id, str) and (len(external_id) > MAX_EXTERNAL_ID_LENGTH or "\x00" in external_id)
    if unindexable_external:
        assert Flag.UNINDEXABLE in parsed.flags
