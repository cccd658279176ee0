"""Request matching: which recording answers a request, and what a miss says."""

from __future__ import annotations

import copy
import json

import pytest

from recorder.model.cassette import REDACTED, Cassette, Line, Request, Response
from recorder.replay.library import CassetteLibrary
from recorder.replay.matching import LOOSE, Candidate, MatchRule, NoMatch, select
from recorder.replay.responder import Responder

SUPPORT = {
    "workflow_deployment_name": "support-agent",
    "release_tag": "production",
    "external_id": "ext-1",
    "inputs": [
        {"name": "query", "type": "STRING", "value": "Where is my order?"},
        {"name": "max_items", "type": "NUMBER", "value": 3},
    ],
}
BY_ID = {"workflow_deployment_id": "9708f41a-a5f8-5549-a2d5-ab0fea74c347", "inputs": []}
STAGING = {**SUPPORT, "release_tag": "staging", "external_id": "ext-2"}
OTHER = {"workflow_deployment_name": "billing-agent", "inputs": []}
RECORDED = [Candidate("support.cassette.json", SUPPORT), Candidate("by-id.cassette.json", BY_ID),
            Candidate("staging.cassette.json", STAGING), Candidate("billing.cassette.json", OTHER)]


def names(candidates: list[Candidate]) -> list[str]:
    return [candidate.name for candidate in candidates]


def changed(body: dict, **fields) -> dict:
    body = copy.deepcopy(body)
    body.update(fields)
    return body


def test_strict_matching_answers_an_identical_request() -> None:
    assert names(select(MatchRule(), SUPPORT, RECORDED, endpoint="stream")) == ["support.cassette.json"]


def test_a_number_sent_as_a_float_matches_the_recorded_integer() -> None:
    asked = changed(SUPPORT, inputs=[SUPPORT["inputs"][0], {"name": "max_items", "type": "NUMBER", "value": 3.0}])
    assert names(select(MatchRule(), asked, RECORDED, endpoint="stream")) == ["support.cassette.json"]


def test_the_order_of_inputs_does_not_matter() -> None:
    asked = changed(SUPPORT, inputs=list(reversed(SUPPORT["inputs"])))
    assert names(select(MatchRule(), asked, RECORDED, endpoint="stream")) == ["support.cassette.json"]


def test_a_deployment_asked_by_id_matches_the_recording_made_by_id() -> None:
    assert names(select(MatchRule(), BY_ID, RECORDED, endpoint="stream")) == ["by-id.cassette.json"]


def test_another_release_tag_does_not_match_strictly() -> None:
    with pytest.raises(NoMatch):
        select(MatchRule(), changed(SUPPORT, release_tag="canary"), RECORDED, endpoint="stream")


def test_another_input_value_does_not_match_strictly() -> None:
    asked = changed(SUPPORT, inputs=[{"name": "query", "type": "STRING", "value": "Refund?"}, SUPPORT["inputs"][1]])
    with pytest.raises(NoMatch):
        select(MatchRule(), asked, RECORDED, endpoint="stream")


def test_a_missing_external_id_does_not_match_a_recorded_one_strictly() -> None:
    asked = {key: value for key, value in SUPPORT.items() if key != "external_id"}
    with pytest.raises(NoMatch):
        select(MatchRule(), asked, RECORDED, endpoint="stream")


def test_loose_matching_picks_the_recording_of_the_deployment_that_agrees_most() -> None:
    asked = changed(SUPPORT, external_id="ext-new", inputs=[{"name": "query", "type": "STRING", "value": "Something else"}])
    assert names(select(MatchRule(LOOSE), asked, RECORDED, endpoint="stream")) == ["support.cassette.json"]
    assert names(select(MatchRule(LOOSE), changed(asked, release_tag="staging"), RECORDED, endpoint="stream")) == ["staging.cassette.json"]


def test_loose_matching_still_needs_the_deployment() -> None:
    with pytest.raises(NoMatch):
        select(MatchRule(LOOSE), {"workflow_deployment_name": "unknown", "inputs": []}, RECORDED, endpoint="stream")


def test_matching_on_fewer_fields_ignores_the_others() -> None:
    rule = MatchRule(fields=("deployment", "release_tag"))
    asked = changed(SUPPORT, external_id="anything", inputs=[])
    assert names(select(rule, asked, RECORDED, endpoint="stream")) == ["support.cassette.json"]


def test_a_redacted_recorded_value_matches_any_value() -> None:
    redacted = changed(SUPPORT, inputs=[{"name": "query", "type": "STRING", "value": REDACTED}, SUPPORT["inputs"][1]])
    asked = changed(SUPPORT, inputs=[{"name": "query", "type": "STRING", "value": "my own question"}, SUPPORT["inputs"][1]])
    assert names(select(MatchRule(), asked, [Candidate("redacted", redacted)], endpoint="stream")) == ["redacted"]


def test_an_unknown_match_field_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown match field"):
        MatchRule(fields=("deployment", "colour"))


def test_the_no_match_message_says_what_was_asked_and_how_the_closest_recordings_differ() -> None:
    asked = changed(SUPPORT, release_tag="canary")
    with pytest.raises(NoMatch) as caught:
        select(MatchRule(), asked, RECORDED, endpoint="POST /v1/execute-workflow-stream")
    message = str(caught.value)
    assert message.splitlines()[0] == (
        "no recorded exchange matches POST /v1/execute-workflow-stream (strict matching on deployment, release_tag, inputs, external_id)"
    )
    assert 'asked: workflow_deployment_name="support-agent", release_tag="canary", external_id="ext-1", inputs.query="Where is my order?", inputs.max_items=3' in message
    assert '  1. support.cassette.json: release_tag: asked "canary", recorded "production"' in message
    assert caught.value.closest[0]["differs"] == {"release_tag": {"asked": "canary", "recorded": "production"}}


def test_the_no_match_message_names_a_differing_input_with_both_values() -> None:
    asked = changed(SUPPORT, inputs=[{"name": "query", "type": "STRING", "value": "Refund?"}, SUPPORT["inputs"][1]])
    with pytest.raises(NoMatch) as caught:
        select(MatchRule(), asked, RECORDED, endpoint="stream")
    assert 'inputs.query: asked STRING "Refund?", recorded STRING "Where is my order?"' in str(caught.value)


def test_the_no_match_message_of_an_empty_library_says_nothing_is_recorded() -> None:
    with pytest.raises(NoMatch, match="nothing is recorded for this endpoint"):
        select(MatchRule(), SUPPORT, [], endpoint="stream")


def _stream(text: str, body: dict) -> Cassette:
    return Cassette(Request(body=body), Response(lines=(Line(0, text.encode()),)))


def test_equal_recordings_are_served_in_turn_in_recorded_order() -> None:
    responder = Responder(CassetteLibrary([_stream("first", SUPPORT), _stream("second", SUPPORT)], names=["a", "b"]))
    asked = json.dumps(SUPPORT).encode()
    bodies = [responder.answer("POST", "/v1/execute-workflow-stream", asked).body for _ in range(3)]
    assert bodies == [b"first\n", b"second\n", b"first\n"]


def test_a_miss_answers_404_with_the_message_and_the_closest_recordings() -> None:
    responder = Responder(CassetteLibrary([_stream("x", SUPPORT)], names=["support"]))
    answer = responder.answer("POST", "/v1/execute-workflow-stream", json.dumps(OTHER).encode())
    body = json.loads(answer.body)
    assert answer.status == 404
    assert body["detail"].startswith("no recorded exchange matches POST /v1/execute-workflow-stream")
    assert body["closest"][0]["recording"] == "support"
