"""The request body that produced a stream: what analytics and auditing read from it.

The API key travels in a header, never in the body; any key-like field found in a body anyway, at
any depth (a `metadata` object nests freely), is taken out before it can reach the store.

A v1 stream's body (`POST /v1/execute-workflow-stream`) says everything and is kept as sent. A v2
stream's (`POST /v1/workflow-deployments/{id}/execute-stream`, see `recorder.model.endpoints`)
leaves the deployment to the path, so the kept form adds it under the v1 names
(`workflow_deployment_id` for a UUID-looking id, else `workflow_deployment_name`) and says
`"stream": "v2"`: every reader (executions columns, replay matching, export) then finds the
deployment in one place, and `wire_path` / `wire_body` give back exactly the request that was sent.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from recorder.model.cassette import REDACTED
from recorder.model.endpoints import STREAM_PATH, WorkflowStream, deployment_in_path, deployment_stream_path
from recorder.model.indexed import (
    MAX_EXTERNAL_ID_LENGTH,
    MAX_ID_LENGTH,
    MAX_INDEXED_DEPTH,
    indexable_id,
    indexable_json,
    is_indexable_json,
    is_indexable_text,
)

# Compared with `-` and `_` removed and lower-cased: `api_key`, `X-API-KEY` and `apiKey` are one name.
_SECRET_KEYS = frozenset(
    {"apikey", "xapikey", "vellumapikey", "authorization", "proxyauthorization", "password", "passwd", "secret",
     "clientsecret", "secretkey", "accesskey", "accesstoken", "refreshtoken", "bearertoken", "authtoken", "apitoken",
     "sessiontoken", "privatekey"}
)


def looks_like_credential(name: Any) -> bool:
    return isinstance(name, str) and name.replace("-", "").replace("_", "").lower() in _SECRET_KEYS


def strip_secrets(body: dict[str, Any]) -> dict[str, Any]:
    """The body without credential-like fields: dropped at the top, where no request field has
    such a name, and `[REDACTED]` deeper down (in metadata, in a JSON input), where the key stays
    so that replay matching still compares the object's shape (`[REDACTED]` matches any value)."""
    return {key: _redacted_credentials(value) for key, value in body.items() if not looks_like_credential(key)}


def _redacted_credentials(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: REDACTED if looks_like_credential(key) else _redacted_credentials(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted_credentials(item) for item in value]
    return value


# The key of the kept form that names the stream (absent: v1, as every body recorded before v2 was).
STREAM_KEY = "stream"
_DEPLOYMENT_KEYS = ("workflow_deployment_id", "workflow_deployment_name")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def deployment_key(deployment: str) -> str:
    """Under which v1 name a deployment given in a v2 path is kept: a UUID-looking one is an id."""
    return "workflow_deployment_id" if _UUID.match(deployment) else "workflow_deployment_name"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """The fields of a streaming request that describe its execution, in the kept form (module doc)."""

    body: dict[str, Any]

    @classmethod
    def from_body(cls, body: dict[str, Any] | None) -> RecordedRequest | None:
        """A request from its kept form: a v1 body as sent, or a v2 one with its deployment and
        `"stream": "v2"` (what `from_exchange` and `for_stream` make, and the store keeps)."""
        if body is None:
            return None
        if not isinstance(body, dict):
            raise ValueError("a request body must be a JSON object")
        body = strip_secrets(body)
        return cls(body if is_indexable_json(body) else storable_json(body))

    @classmethod
    def from_exchange(cls, path: str | None, body: dict[str, Any] | None) -> RecordedRequest | None:
        """The request sent to `path` with `body` as it went over the wire: for a v2 path, the
        deployment is taken from the path. Any other path (or none) reads the body as kept."""
        deployment = deployment_in_path(path) if path else None
        if deployment is None or body is None or not isinstance(body, dict):
            return cls.from_body(body)
        return cls.from_body(_v2_kept_form(body, deployment))

    @classmethod
    def for_stream(cls, body: dict[str, Any], stream: WorkflowStream | str = WorkflowStream.V1) -> RecordedRequest:
        """The kept form of a request to execute on `stream`, given as `wire_request` takes it: what
        the recording of that request will hold."""
        request = cls.from_exchange(*wire_request(body, stream))
        assert request is not None
        return request

    @property
    def stream(self) -> WorkflowStream:
        """Which streaming endpoint the request went to (an unknown name reads as v1)."""
        return WorkflowStream.V2 if self.body.get(STREAM_KEY) == WorkflowStream.V2 else WorkflowStream.V1

    @property
    def wire_path(self) -> str:
        """The path the request was sent to (no base URL); ValueError for a v2 request that names
        no deployment (a hand-written request file can)."""
        return _wire(self.body, self.stream)[0]

    @property
    def wire_body(self) -> dict[str, Any]:
        """The body as it was sent: a v2 body without the deployment and the stream its path says."""
        return _wire(self.body, self.stream)[1]

    # The fields below are copied into indexed columns: a value no column can hold on both engines
    # (too long for its index, NUL, a lone surrogate) is left out there, as for event lines.
    def _text(self, key: str, max_length: int = MAX_EXTERNAL_ID_LENGTH) -> str | None:
        value = self.body.get(key)
        return indexable_id(value, max_length) if value else None

    @property
    def workflow_deployment_id(self) -> str | None:
        return self._text("workflow_deployment_id", MAX_ID_LENGTH)

    @property
    def workflow_deployment_name(self) -> str | None:
        return self._text("workflow_deployment_name")

    @property
    def release_tag(self) -> str | None:
        return self._text("release_tag")

    @property
    def external_id(self) -> str | None:
        return self._text("external_id")

    @property
    def previous_execution_id(self) -> str | None:
        return self._text("previous_execution_id", MAX_ID_LENGTH)

    @property
    def metadata(self) -> Any:
        return indexable_json(self.body.get("metadata"))

    @property
    def inputs(self) -> Any:
        return indexable_json(self.body.get("inputs"))


def wire_request(body: dict[str, Any], stream: WorkflowStream | str = WorkflowStream.V1) -> tuple[str, dict[str, Any]]:
    """The path (no base URL) and the body to send for a request naming its deployment the v1 way
    (`workflow_deployment_name` or `_id`), on `stream` unless the body says `"stream"` itself.
    Nothing else is changed: what the caller gave is what goes out, and the recording of it
    (`RecordedRequest.from_exchange`) is what takes secrets out."""
    return _wire(body, WorkflowStream(body.get(STREAM_KEY) or stream))


def _wire(body: dict[str, Any], stream: WorkflowStream) -> tuple[str, dict[str, Any]]:
    if stream is WorkflowStream.V1:
        return STREAM_PATH, {key: value for key, value in body.items() if key != STREAM_KEY}
    named = [body[key] for key in _DEPLOYMENT_KEYS if body.get(key)]
    if len(named) != 1 or not isinstance(named[0], str):
        raise ValueError("the v2 stream needs exactly one of workflow_deployment_name or workflow_deployment_id")
    return deployment_stream_path(named[0]), {key: value for key, value in body.items() if key not in (*_DEPLOYMENT_KEYS, STREAM_KEY)}


def _v2_kept_form(wire_body: dict[str, Any], deployment: str) -> dict[str, Any]:
    return {deployment_key(deployment): deployment, **wire_body, STREAM_KEY: WorkflowStream.V2.value}


def storable_json(value: Any, depth: int = 1) -> Any:
    """A copy of a request body that every engine's JSON column takes and reads back equal.

    Unlike a streamed line, the request has no verbatim copy elsewhere, so what PostgreSQL's JSONB
    would refuse is written out instead of dropped: a string holding NUL or a lone surrogate as
    its escaped JSON text, NaN and infinities as the names JSON gives them, and anything nested
    beyond MAX_INDEXED_DEPTH as a marker (the caller's own file still has it).
    """
    if isinstance(value, str):
        return value if is_indexable_text(value) else json.dumps(value)[1:-1]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (dict, list)) and depth > MAX_INDEXED_DEPTH:
        return UNSTORABLE_DEPTH
    if isinstance(value, dict):
        return {storable_json(key, depth): storable_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_json(item, depth + 1) for item in value]
    return value


UNSTORABLE_DEPTH = f"[nested deeper than {MAX_INDEXED_DEPTH} levels: not stored]"


def infer_inputs(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The API's typed input list for a plain `{"name": value}` object.

    Strings are STRING, numbers NUMBER, a list of `{role, ...}` messages CHAT_HISTORY, anything
    else (objects, other lists, booleans, null) JSON: Vellum has no boolean input type.
    """
    return [{"name": name, "type": _input_type(value), "value": value} for name, value in values.items()]


def _input_type(value: Any) -> str:
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "NUMBER"
    if isinstance(value, list) and value and all(isinstance(item, dict) and "role" in item for item in value):
        return "CHAT_HISTORY"
    return "JSON"


def plain_inputs(inputs: list[dict[str, Any]] | dict[str, Any]) -> dict[str, Any]:
    """The v2 stream's `{name: value}` inputs from the API's typed list (or such an object as it is)."""
    if isinstance(inputs, dict):
        return dict(inputs)
    return {item["name"]: item.get("value") for item in inputs}


def build_request_body(
    *,
    inputs: list[dict[str, Any]],
    workflow_deployment_name: str | None = None,
    workflow_deployment_id: str | None = None,
    release_tag: str | None = None,
    external_id: str | None = None,
    metadata: Any = None,
    previous_execution_id: str | None = None,
    event_types: list[str] | None = None,
    expand_meta: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """An execute-workflow-stream (v1) body, with unset fields left out as the official client does."""
    if bool(workflow_deployment_name) == bool(workflow_deployment_id):
        raise ValueError("give exactly one of a deployment name or a deployment id")
    fields = {
        "workflow_deployment_id": workflow_deployment_id,
        "workflow_deployment_name": workflow_deployment_name,
        "release_tag": release_tag,
        "inputs": inputs,
        "external_id": external_id,
        "event_types": event_types,
        "expand_meta": expand_meta,
        "metadata": metadata,
        "previous_execution_id": previous_execution_id,
    }
    return {key: value for key, value in fields.items() if value is not None}


def build_deployment_stream_body(
    *,
    inputs: dict[str, Any],
    workflow_deployment_name: str | None = None,
    workflow_deployment_id: str | None = None,
    trigger: str | None = None,
    release_tag: str | None = None,
    external_id: str | None = None,
    metadata: Any = None,
    previous_execution_id: str | None = None,
) -> dict[str, Any]:
    """A v2 stream request in the form `RecordedRequest.for_stream` takes: the deployment under its
    v1 name (the path carries it on the wire), `"stream": "v2"`, unset fields left out as the
    official client's `workflow_deployments.execute_stream` leaves them out."""
    if bool(workflow_deployment_name) == bool(workflow_deployment_id):
        raise ValueError("give exactly one of a deployment name or a deployment id")
    fields = {
        "workflow_deployment_id": workflow_deployment_id,
        "workflow_deployment_name": workflow_deployment_name,
        "inputs": inputs,
        "trigger": trigger,
        "release_tag": release_tag,
        "external_id": external_id,
        "metadata": metadata,
        "previous_execution_id": previous_execution_id,
        STREAM_KEY: WorkflowStream.V2.value,
    }
    return {key: value for key, value in fields.items() if value is not None}
