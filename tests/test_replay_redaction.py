"""Redaction: a value under a redacted key is nowhere in the cassette file, request or lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recorder.model.cassette import REDACTED, Cassette, Request, Response, lines_of_body
from recorder.model.exact_json import load_json
from recorder.replay.redaction import redact
from tests.test_replay_support import load_sample


@pytest.fixture
def sample(samples_dir: Path) -> tuple[dict, Cassette]:
    """exec_0000: inputs echoed in its events, and nested metadata."""
    truth, body = load_sample(samples_dir, "exec_0000")
    lines, ends = lines_of_body(body)
    return truth, Cassette(Request(body=truth["request"]), Response(lines=lines, ends_with_newline=ends), execution_id=truth["execution_id"])


def input_value(truth: dict, name: str):
    return next(item["value"] for item in truth["request"]["inputs"] if item["name"] == name)


def occurs(value: str, data: bytes) -> bool:
    return any(form.encode() in data for form in (value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]))


def test_a_redacted_input_value_appears_nowhere_in_the_file(sample) -> None:
    truth, cassette = sample
    secret = input_value(truth, "query")
    assert occurs(secret, cassette.dumps())  # echoed by the stream, so really there before
    data = redact(cassette, ["inputs.query"]).cassette.dumps()
    assert not occurs(secret, data)


def test_a_redacted_input_reads_redacted_in_the_request(sample) -> None:
    _, cassette = sample
    redacted = redact(cassette, ["inputs.query"]).cassette
    assert next(i["value"] for i in redacted.request.body["inputs"] if i["name"] == "query") == REDACTED
    assert redacted.request.redacted == ("inputs.query",)


def test_a_redacted_metadata_key_appears_nowhere_in_the_file(sample) -> None:
    truth, cassette = sample
    secret = truth["request"]["metadata"]["session_id"]
    data = redact(cassette, ["metadata.session_id"]).cassette.dumps()
    assert not occurs(secret, data)
    assert json.loads(data)["request"]["body"]["metadata"]["session_id"] == REDACTED


def test_a_bare_name_redacts_nested_metadata_keys(sample) -> None:
    _, cassette = sample
    body = redact(cassette, ["variant"]).cassette.request.body
    assert body["metadata"]["ab"]["variant"] == REDACTED


def test_a_dotted_metadata_path_redacts_only_that_key(sample) -> None:
    _, cassette = sample
    body = redact(cassette, ["metadata.ab.bucket"]).cassette.request.body
    assert body["metadata"]["ab"] == {"variant": cassette.request.body["metadata"]["ab"]["variant"], "bucket": REDACTED}


def test_a_whole_json_input_is_redacted_with_every_string_in_it(sample) -> None:
    truth, cassette = sample
    chat = input_value(truth, "chat_history")
    data = redact(cassette, ["inputs.chat_history"]).cassette.dumps()
    assert all(not occurs(message["text"], data) for message in chat)


def test_lines_that_hold_no_redacted_value_stay_byte_for_byte(sample) -> None:
    truth, cassette = sample
    secret = input_value(truth, "query")
    redacted = redact(cassette, ["inputs.query"])
    for before, after in zip(cassette.response.lines, redacted.cassette.response.lines):
        if not occurs(secret, before.data):
            assert after == before
    assert redacted.lines_changed == sum(occurs(secret, line.data) for line in cassette.response.lines)


def test_redacted_lines_are_still_valid_json(sample) -> None:
    _, cassette = sample
    redacted = redact(cassette, ["inputs.query", "inputs.chat_history", "metadata.user_id"]).cassette
    for line in redacted.response.lines:
        load_json(line.data.decode("utf-8"))


def test_a_short_value_is_redacted_only_where_it_is_a_whole_string() -> None:
    line = b'{"no":"no","text":"nothing to see","other":"no"}'
    cassette = Cassette(Request(body={"inputs": [{"name": "answer", "type": "STRING", "value": "no"}]}), Response(lines=lines_of_body(line + b"\n")[0]))
    [after] = redact(cassette, ["answer"]).cassette.response.lines
    assert after.data == b'{"no":"[REDACTED]","text":"nothing to see","other":"[REDACTED]"}'


def test_a_value_that_overlaps_an_escape_is_redacted_without_breaking_the_json() -> None:
    # The JSON text holds `\\nice-secret-value`: a newline, then "ice-...". Only the second
    # occurrence is the secret; a plain text replacement would leave an invalid `\\[` escape.
    line = json.dumps({"text": "\nice-secret-value and nice-secret-value"}).encode()
    cassette = Cassette(Request(body={"inputs": [{"name": "q", "type": "STRING", "value": "nice-secret-value"}]}), Response(lines=lines_of_body(line + b"\n")[0]))
    [after] = redact(cassette, ["q"]).cassette.response.lines
    assert json.loads(after.data) == {"text": "\nice-secret-value and [REDACTED]"}


def test_keys_that_match_nothing_are_reported(sample) -> None:
    _, cassette = sample
    result = redact(cassette, ["inputs.query", "inputs.nope", "metadata.nope"])
    assert (result.matched, result.unmatched) == (("inputs.query",), ("inputs.nope", "metadata.nope"))


def test_redacting_the_external_id_takes_it_out_of_every_event(sample, samples_dir: Path) -> None:
    truth, body = load_sample(samples_dir, "exec_0001")
    lines, ends = lines_of_body(body)
    cassette = Cassette(Request(body=truth["request"]), Response(lines=lines, ends_with_newline=ends))
    data = redact(cassette, ["external_id"]).cassette.dumps()
    assert truth["request"]["external_id"].encode() not in data
