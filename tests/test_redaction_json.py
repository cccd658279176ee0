"""Redaction reads each line as JSON: no escaping hides a value, and no key is ever touched.

The ingest-back tests run on SQLite and PostgreSQL: a redacted cassette must still record as the
same execution, event for event.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from recorder.model.cassette import REDACTED, Cassette, Line, Request, Response, lines_of_body
from recorder.stream.ingest import ingest_cassette
from recorder.replay.redaction import redact
from recorder.store import Store
from tests.test_replay_support import load_sample

AMPERSAND = "Tom & Jerry <tj@example.com>"
ACCENTS = "café crème brûlée order"
URL = "https://example.com/private/refund"
QUOTED = 'she said "refund me now"'


def upper_hex(text: str) -> str:
    return re.sub(r"\\u([0-9a-f]{4})", lambda match: "\\u" + match[1].upper(), text)


def decoded_strings(value: Any) -> list[str]:
    """Every string in a JSON value, and in any JSON document a string holds, decoded."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in decoded_strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in decoded_strings(item)]
    if isinstance(value, str):
        try:
            nested = json.loads(value)
        except ValueError:
            return [value]
        return [value, *decoded_strings(nested)] if isinstance(nested, (dict, list, str)) and nested != value else [value]
    return []


def one_line_cassette(line: str, secret: str) -> Cassette:
    body = {"workflow_deployment_name": "support-agent", "inputs": [{"name": "q", "type": "STRING", "value": secret}]}
    return Cassette(Request(body=body), Response(lines=(Line(0, line.encode()),)))


WRITINGS = {
    "ampersand and angle bracket as \\u0026 and \\u003c": (AMPERSAND, '{"type":"NODE","text":"Tom \\u0026 Jerry \\u003ctj@example.com>"}'),
    "upper-case hex escapes": (ACCENTS, upper_hex(json.dumps({"type": "NODE", "text": f"about the {ACCENTS}!"}))),
    "escaped slashes": (URL, json.dumps({"type": "NODE", "text": URL}).replace("/", "\\/")),
    "a JSON document nested in a string": (QUOTED, json.dumps({"type": "NODE", "payload": json.dumps({"q": QUOTED, "n": 1})})),
    "a nested document with escaped slashes": (URL, json.dumps({"type": "NODE", "payload": json.dumps({"q": URL}).replace("/", "\\/")})),
    "quotes inside the value": (QUOTED, json.dumps({"type": "NODE", "text": QUOTED})),
}


@pytest.mark.parametrize("name", WRITINGS)
def test_a_value_written_with_any_json_escaping_is_redacted(name: str) -> None:
    secret, line = WRITINGS[name]
    assert secret in decoded_strings(json.loads(line)) or any(secret in text for text in decoded_strings(json.loads(line)))
    result = redact(one_line_cassette(line, secret), ["inputs.q"])
    [after] = result.cassette.response.lines
    parsed = json.loads(after.data)
    assert not any(secret in text for text in decoded_strings(parsed))
    assert any(REDACTED in text for text in decoded_strings(parsed))
    assert parsed["type"] == "NODE" and result.lines_changed == 1
    assert secret not in result.cassette.dumps().decode()


def test_a_value_equal_to_a_key_name_leaves_every_key_alone() -> None:
    line = '{"type":"NODE","data":{"type":"STRING","value":"type","label":"a type of thing"}}'
    [after] = redact(one_line_cassette(line, "type"), ["inputs.q"]).cassette.response.lines
    assert after.data.decode() == '{"type":"NODE","data":{"type":"STRING","value":"[REDACTED]","label":"a [REDACTED] of thing"}}'


def test_only_the_redacted_string_of_a_changed_line_is_rewritten() -> None:
    line = '{"a": 1.50,  "text" : "caf\\u00E9 and Tom \\u0026 Jerry <tj@example.com>", "big": 12345678901234567890123, "n": null}'
    [after] = redact(one_line_cassette(line, AMPERSAND), ["inputs.q"]).cassette.response.lines
    assert after.data.decode() == '{"a": 1.50,  "text" : "caf\\u00e9 and [REDACTED]", "big": 12345678901234567890123, "n": null}'


def test_a_line_cut_mid_way_and_the_error_are_redacted_in_any_escaping() -> None:
    cut = '{"type":"NODE","text":"Tom \\u0026 Jerry \\u003ctj@example.com>","more":"and ' + URL.replace("/", "\\/")
    cassette = one_line_cassette(cut, AMPERSAND)
    echoed = json.dumps({"echo": URL}).replace("/", "\\/")
    cassette = Cassette(
        Request(body={"inputs": [{"name": "q", "type": "STRING", "value": AMPERSAND}, {"name": "u", "type": "STRING", "value": URL}]}),
        Response(lines=cassette.response.lines, outcome="cut", error=f"stream cut: {echoed}"),
    )
    redacted = redact(cassette, ["q", "u"]).cassette
    [after] = redacted.response.lines
    assert after.data.decode() == '{"type":"NODE","text":"[REDACTED]","more":"and [REDACTED]'
    assert redacted.response.error == 'stream cut: {"echo": "[REDACTED]"}'


# -- a redacted cassette still records as the same execution ---------------------------------------------


def escaped_differently(line: bytes) -> bytes:
    """The same event as another server could write it: ASCII only, upper-case hex, `\\/`, and
    spaces escaped too (compact JSON has no space outside its strings)."""
    compact = json.dumps(json.loads(line), ensure_ascii=True, separators=(",", ":"))
    return upper_hex(compact).replace("/", "\\/").replace(" ", "\\u0020").encode()


def ingested(store: Store, cassette: Cassette) -> tuple[list[str], int, str]:
    result = ingest_cassette(store, Cassette.loads(cassette.dumps()))
    [execution_id] = result.execution_ids
    events = store.events(execution_id)
    return [json.loads(event.raw)["type"] for event in events], len(store.rejects([result.recording_id])), store.execution(execution_id).status


@pytest.mark.parametrize("input_name", ["chat_history", "query"])
def test_a_redacted_cassette_ingests_back_as_the_same_execution(store: Store, samples_dir: Path, input_name: str) -> None:
    """chat_history holds non-ASCII text, here written as upper-case escapes; query is made equal to
    "type", a key of every event, and echoed by the events as such."""
    truth, body = load_sample(samples_dir, "exec_0000")
    lines, ends = lines_of_body(body)
    request = json.loads(json.dumps(truth["request"]))
    [chosen] = [item for item in request["inputs"] if item["name"] == input_name]
    if input_name == "query":
        echoed = json.dumps(chosen["value"], ensure_ascii=False).encode()
        lines = tuple(Line(line.at_us, line.data.replace(echoed, b'"type"')) for line in lines)
        chosen["value"] = "type"
    lines = tuple(Line(line.at_us, escaped_differently(line.data)) for line in lines)
    secrets = [chosen["value"]] if input_name == "query" else [message["text"] for message in chosen["value"]]
    cassette = Cassette(Request(body=request), Response(lines=lines, ends_with_newline=ends), execution_id=truth["execution_id"])
    redacted = redact(cassette, [f"inputs.{input_name}"])
    assert redacted.lines_changed > 0
    for line in redacted.cassette.response.lines:
        assert not any(secret in text for secret in secrets for text in decoded_strings(json.loads(line.data)))
    types, rejects, status = ingested(store, redacted.cassette)
    assert (types, rejects) == ([json.loads(line.data)["type"] for line in lines], 0)
    assert status == truth["expected_execution"]["status"]
