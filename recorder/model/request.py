"""The request body that produced a stream: what analytics and auditing read from it.

The API key travels in a header, never in the body; any key-like field found in a body anyway, at
any depth (a `metadata` object nests freely), is taken out before it can reach the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recorder.model.cassette import REDACTED

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


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """The fields of an execute-workflow-stream request body that describe its execution."""

    body: dict[str, Any]

    @classmethod
    def from_body(cls, body: dict[str, Any] | None) -> RecordedRequest | None:
        if body is None:
            return None
        if not isinstance(body, dict):
            raise ValueError("a request body must be a JSON object")
        return cls(strip_secrets(body))

    def _text(self, key: str) -> str | None:
        value = self.body.get(key)
        return value if isinstance(value, str) and value else None

    @property
    def workflow_deployment_id(self) -> str | None:
        return self._text("workflow_deployment_id")

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
        return self._text("previous_execution_id")

    @property
    def metadata(self) -> Any:
        return self.body.get("metadata")

    @property
    def inputs(self) -> Any:
        return self.body.get("inputs")


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
    """An execute-workflow-stream body, with unset fields left out as the official client does."""
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
