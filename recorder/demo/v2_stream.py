"""A demo execution as the v2 stream serves it: `POST /v1/workflow-deployments/{id}/execute-stream`.

The demo's workload is simulated once, as legacy WORKFLOW/NODE events (recorder.demo.execution);
an execution sent through the v2 stream is the same execution told as SDK events by
`recorder.demo.sdk_stream.to_sdk_events`, so its id, timing and outcome stay what the workload
drew (the root workflow's `span_id` is the legacy `execution_id`, and `previous_execution_id`
chains run across both streams). Its request is the v2 one: the deployment in the path, the
inputs as a plain `{name: value}` object, no `event_types` or `expand_meta`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from recorder.demo.execution import DemoExecution
from recorder.demo.sdk_stream import deployment_of, to_sdk_events
from recorder.model.request import build_deployment_stream_body, plain_inputs
from recorder.model.timestamps import TimestampError, parse_ts_us

# The demo sends this share of its executions through the v2 stream: every V2_EVERY-th one.
V2_EVERY = 4


def sent_through_v2(index: int) -> bool:
    """Whether the workload's `index`-th execution goes through the v2 stream (never the first:
    the demo shows that one live, and the v1 stream is still the one most applications use)."""
    return index % V2_EVERY == V2_EVERY - 1


def as_v2_execution(execution: DemoExecution) -> DemoExecution:
    """The execution as the v2 stream serves it: its SDK event lines, their arrival offsets and the
    request in the form `Recorder.record` takes (`"stream": "v2"`, deployment named in the body)."""
    legacy = [json.loads(line) for line in execution.lines]
    request = execution.request
    events = to_sdk_events(legacy, deployment=_deployment(request))
    lines = tuple(json.dumps(event, ensure_ascii=False, separators=(",", ":")) for event in events)
    return replace(execution, request=v2_request(request), lines=lines, offsets_s=_offsets(events, execution.offsets_s))


def v2_request(v1_body: Mapping[str, Any]) -> dict[str, Any]:
    """The v2 request asking for what a v1 request body asks for."""
    return build_deployment_stream_body(
        inputs=plain_inputs(v1_body.get("inputs") or []),
        workflow_deployment_name=v1_body.get("workflow_deployment_name"),
        workflow_deployment_id=v1_body.get("workflow_deployment_id"),
        release_tag=v1_body.get("release_tag"),
        external_id=v1_body.get("external_id"),
        metadata=v1_body.get("metadata"),
        previous_execution_id=v1_body.get("previous_execution_id"),
    )


def _deployment(request: Mapping[str, Any]) -> dict[str, Any]:
    """What the request names of its deployment, for the root workflow's parent context: a demo
    deployment known by either its name or its id is named by both, as Vellum's context would."""
    from recorder.demo.deployments import DEPLOYMENTS

    deployment = deployment_of(request)
    known = next((d for d in DEPLOYMENTS if deployment["name"] == d.name or deployment["id"] == d.deployment_id), None)
    if known is not None:
        deployment.update(name=known.name, id=known.deployment_id, release_tag=deployment["release_tag"] or known.release_tags[0])
    return deployment


def _offsets(events: list[dict[str, Any]], legacy_offsets: tuple[float, ...]) -> tuple[float, ...]:
    """When each SDK line is sent: the first when the legacy stream's first line was, each later
    one its event's time after the first event's, never earlier than the line before it."""
    start = legacy_offsets[0] if legacy_offsets else 0.0
    first: int | None = None
    offsets: list[float] = []
    for event in events:
        at = offsets[-1] if offsets else start
        try:
            ts_us, _ = parse_ts_us(str(event.get("timestamp")).replace("Z", "+00:00"))
        except TimestampError:
            ts_us = None
        if ts_us is not None:
            first = ts_us if first is None else first
            at = max(at, start + (ts_us - first) / 1e6)
        offsets.append(at)
    return tuple(offsets)
