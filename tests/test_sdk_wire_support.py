"""Shared pieces of the v2-stream wire tests: the SDK samples, their requests, the official client.

The samples (tests/data/sdk_samples/, see its manifest) are the legacy samples told as the v2
stream tells them, each line written by the official client's own `WorkflowEvent` model.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from vellum import Vellum, VellumEnvironment
from vellum.client.core.pydantic_utilities import parse_obj_as
from vellum.client.types import WorkflowEvent

from recorder.model.cassette import Cassette, Request, Response, lines_of_body
from recorder.model.request import RecordedRequest, build_deployment_stream_body, deployment_key

SDK_SAMPLES = Path(__file__).parent / "data" / "sdk_samples"
API_KEY = "sdk-wire-test-key-7f3a"
CLIENT_ARGS = ("inputs", "release_tag", "external_id", "metadata", "previous_execution_id")


@lru_cache(maxsize=1)
def manifest() -> dict[str, dict[str, Any]]:
    """The samples' manifest entries by file stem (`exec_0000`, ...)."""
    document = json.loads((SDK_SAMPLES / "manifest.json").read_text())
    return {Path(entry["file"]).stem: entry for entry in document["samples"]}


def sdk_body(name: str) -> bytes:
    return (SDK_SAMPLES / f"{name}.ndjson").read_bytes()


def sdk_lines(name: str) -> list[bytes]:
    return sdk_body(name).split(b"\n")[:-1]


def deployment_of(name: str) -> str:
    return manifest()[name]["request"]["deployment"]


def v2_request(name: str) -> dict[str, Any]:
    """The sample's request as `Recorder.record` and `LoopbackVellum.expect` take a v2 one."""
    asked = manifest()[name]["request"]
    deployment = asked["deployment"]
    return build_deployment_stream_body(
        inputs=asked["inputs"],
        **{deployment_key(deployment): deployment},
        release_tag=asked.get("release_tag"),
        external_id=asked.get("external_id"),
        metadata=asked.get("metadata"),
        previous_execution_id=asked.get("previous_execution_id"),
    )


def wire(name: str) -> RecordedRequest:
    return RecordedRequest.for_stream(v2_request(name))


def client_kwargs(name: str) -> dict[str, Any]:
    """What an application passes to `client.workflow_deployments.execute_stream` for the sample."""
    body = wire(name).wire_body
    return {"id": deployment_of(name), **{key: body[key] for key in CLIENT_ARGS if key in body}}


def v2_cassette(name: str, **fault: Any) -> Cassette:
    """A cassette of the sample's exchange, made straight from its bytes and request (no store)."""
    request = wire(name)
    lines, ends = lines_of_body(sdk_body(name))
    cassette = Cassette(Request(path=request.wire_path, body=request.wire_body), Response(lines=lines, ends_with_newline=ends),
                        execution_id=manifest()[name]["execution_id"])
    return cassette.with_fault(**fault) if fault else cassette


def parsed_lines(lines: list[bytes]) -> list[Any]:
    """What the official client makes of these lines: `WorkflowEvent`s, blank lines skipped."""
    return [parse_obj_as(WorkflowEvent, json.loads(line)) for line in lines if line.strip()]  # type: ignore[arg-type]


def environment(base_url: str) -> VellumEnvironment:
    return VellumEnvironment(default=base_url, predict=base_url, documents=base_url)


def client_at(base_url: str, *, transport: httpx.BaseTransport | None = None) -> Vellum:
    http = httpx.Client(transport=transport) if transport is not None else None
    return Vellum(api_key=API_KEY, environment=environment(base_url), httpx_client=http)


def v2_events(client: Vellum, name: str) -> list[Any]:
    """What `client.workflow_deployments.execute_stream` yields for the sample's request."""
    return list(client.workflow_deployments.execute_stream(**client_kwargs(name)))
