"""The request body that produced a stream: what analytics and auditing read from it.

The API key travels in a header, never in the body; any key-like field found in a body anyway is
dropped before it can reach the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_SECRET_KEYS = frozenset({"api_key", "apikey", "x-api-key", "x_api_key", "authorization"})


def strip_secrets(body: dict[str, Any]) -> dict[str, Any]:
    """The body without top-level credential fields."""
    return {key: value for key, value in body.items() if key.lower() not in _SECRET_KEYS}


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
