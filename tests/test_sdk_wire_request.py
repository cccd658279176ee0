"""The v2 stream's request as the recorder names, keeps and matches it: the path with its deployment,
the kept form (deployment under its v1 name, `"stream": "v2"`), and replay matching on plain inputs."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from vellum import AsyncVellum

from recorder.model.endpoints import (
    STREAM_PATH,
    WorkflowStream,
    deployment_in_path,
    deployment_stream_path,
    is_deployment_stream_path,
    stream_of_path,
)
from recorder.model.request import RecordedRequest, build_deployment_stream_body, wire_request
from recorder.replay.matching import LOOSE, Candidate, MatchRule, NoMatch, select
from recorder.replay.transport import AsyncReplayTransport
from recorder.store import Store
from recorder.stream.instrument import AsyncRecordingTransport
from tests.test_sdk_wire_support import API_KEY, client_kwargs, environment, manifest, parsed_lines, sdk_lines, v2_cassette, wire

V2 = "/v1/workflow-deployments/{id}/execute-stream"


@pytest.mark.parametrize(
    ("path", "stream", "deployment"),
    [
        ("/v1/execute-workflow-stream", WorkflowStream.V1, None),
        ("/v1/workflow-deployments/support-agent/execute-stream", WorkflowStream.V2, "support-agent"),
        ("/proxy/vellum/v1/workflow-deployments/a%2Fb%20c/execute-stream", WorkflowStream.V2, "a/b c"),
        ("/v1/workflow-deployments/support-agent/execute", None, None),
        ("/v1/workflow-deployments//execute-stream", None, None),
        ("/v1/execute-workflow", None, None),
    ],
)
def test_each_path_is_one_stream_or_none(path: str, stream: WorkflowStream | None, deployment: str | None) -> None:
    assert stream_of_path(path) == stream
    assert is_deployment_stream_path(path) == (stream is WorkflowStream.V2)
    assert deployment_in_path(path) == deployment


def test_the_two_streams_name_their_event_shapes() -> None:
    assert (WorkflowStream.V1.event_shape, WorkflowStream.V2.event_shape) == ("legacy", "sdk")
    assert (WorkflowStream.V1.path_template, WorkflowStream.V2.path_template) == (STREAM_PATH, V2)


def test_a_v2_request_keeps_its_deployment_from_the_path_and_says_which_stream() -> None:
    kept = RecordedRequest.from_exchange("/v1/workflow-deployments/support-agent/execute-stream",
                                         {"inputs": {"query": "hi", "n": 3}, "release_tag": "production", "trigger": "manual"})
    assert kept is not None and kept.stream is WorkflowStream.V2
    assert kept.body == {"workflow_deployment_name": "support-agent", "inputs": {"query": "hi", "n": 3}, "release_tag": "production",
                         "trigger": "manual", "stream": "v2"}
    assert (kept.workflow_deployment_name, kept.workflow_deployment_id, kept.release_tag) == ("support-agent", None, "production")
    assert kept.wire_path == deployment_stream_path("support-agent")
    assert kept.wire_body == {"inputs": {"query": "hi", "n": 3}, "release_tag": "production", "trigger": "manual"}


def test_a_uuid_looking_deployment_is_kept_as_the_id() -> None:
    deployment_id = "179F4005-61e7-468e-93ae-bcb172653020"
    kept = RecordedRequest.from_exchange(deployment_stream_path(deployment_id), {"inputs": {}})
    assert kept is not None and (kept.workflow_deployment_id, kept.workflow_deployment_name) == (deployment_id, None)


def test_a_v1_body_stays_as_it_was_sent() -> None:
    body = {"workflow_deployment_name": "support-agent", "inputs": [{"name": "q", "type": "STRING", "value": "x"}]}
    kept = RecordedRequest.from_exchange(STREAM_PATH, body)
    assert kept is not None and kept.body == body and kept.stream is WorkflowStream.V1
    assert (kept.wire_path, kept.wire_body) == (STREAM_PATH, body)


def test_secrets_never_reach_the_kept_v2_request_but_the_wire_gets_what_the_caller_gave() -> None:
    body = build_deployment_stream_body(inputs={"query": "x"}, workflow_deployment_name="d", metadata={"api_key": "sk-live-1", "user": "u"})
    path, sent = wire_request(body)
    assert path == deployment_stream_path("d") and sent["metadata"]["api_key"] == "sk-live-1"
    kept = RecordedRequest.for_stream(body)
    assert kept.body["metadata"] == {"api_key": "[REDACTED]", "user": "u"}


def test_the_v2_stream_needs_one_deployment() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        wire_request({"inputs": {}, "stream": "v2"})
    with pytest.raises(ValueError, match="exactly one of"):
        build_deployment_stream_body(inputs={}, workflow_deployment_name="a", workflow_deployment_id="b")


# Text every engine stores as it is (a NUL or a lone surrogate is kept escaped: `storable_json`).
storable = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
deployments = st.text(storable, min_size=1, max_size=20)


@given(deployments, st.dictionaries(st.sampled_from(["q", "n", "history"]), st.integers() | st.text(storable, max_size=5), max_size=3))
def test_a_kept_v2_request_gives_back_the_exchange_it_was_made_of(deployment: str, inputs: dict) -> None:
    sent = {"inputs": inputs, "external_id": "e-1"}
    kept = RecordedRequest.from_exchange(deployment_stream_path(deployment), sent)
    assert kept is not None
    assert (kept.wire_path, kept.wire_body) == (deployment_stream_path(deployment), sent)
    assert RecordedRequest.from_body(kept.body) == kept


# -- matching plain inputs ----------------------------------------------------------------------------------


def kept(deployment: str, **fields) -> dict:
    request = RecordedRequest.from_exchange(deployment_stream_path(deployment), fields)
    assert request is not None
    return request.body


def test_plain_inputs_match_by_name_and_value_in_any_order_numbers_by_value() -> None:
    recorded = Candidate("one", kept("support-agent", inputs={"query": "refund", "n": 3}), "e-1")
    [found] = select(MatchRule(), kept("support-agent", inputs={"n": 3.0, "query": "refund"}), [recorded], endpoint=f"POST {V2}")
    assert found is recorded


def test_a_different_plain_input_is_a_miss_naming_the_input() -> None:
    recorded = Candidate("one", kept("support-agent", inputs={"query": "refund"}), "e-1")
    with pytest.raises(NoMatch) as miss:
        select(MatchRule(), kept("support-agent", inputs={"query": "invoice"}), [recorded], endpoint=f"POST {V2}")
    assert miss.value.closest[0]["differs"] == {"inputs.query": {"asked": "invoice", "recorded": "refund"}}
    assert "inputs.query=\"invoice\"" in str(miss.value)


def test_loose_matching_needs_the_path_deployment_only() -> None:
    recorded = [Candidate("a", kept("billing", inputs={"q": "x"}), "e-1"), Candidate("b", kept("support-agent", inputs={"q": "y"}), "e-2")]
    [found] = select(MatchRule(mode=LOOSE), kept("support-agent", inputs={"q": "z"}), recorded, endpoint=f"POST {V2}")
    assert found.name == "b"


# -- asyncio ------------------------------------------------------------------------------------------------


def test_async_replay_and_async_recording_of_the_v2_stream(store: Store) -> None:
    name = "exec_0002"

    async def consume() -> list:
        recording = AsyncRecordingTransport(store, AsyncReplayTransport([v2_cassette(name)]))
        client = AsyncVellum(api_key=API_KEY, environment=environment("https://predict.vellum.ai"),
                             httpx_client=httpx.AsyncClient(transport=recording))
        events = [event async for event in client.workflow_deployments.execute_stream(**client_kwargs(name))]
        await asyncio.to_thread(recording.wait, 10)
        return events

    assert asyncio.run(consume()) == parsed_lines(sdk_lines(name))
    execution_id = manifest()[name]["execution_id"]
    assert [event.raw.encode() for event in store.events(execution_id)] == sdk_lines(name)
    assert dict(store.execution_requests())[execution_id] == wire(name).body
