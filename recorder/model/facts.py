"""What a stream's events say about their execution: start, end, status, error, outputs.

Facts are gathered per stream while it is read and merged into the stored execution without ever
downgrading it: a cut copy of a stream ingested after the full one cannot undo its terminal state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recorder.model.indexed import MAX_EXTERNAL_ID_LENGTH, MAX_ID_LENGTH, ParsedEvent, indexable_id, indexable_json, indexable_text
from recorder.model.sdk_events import deployment_context, previous_span_of
from recorder.model.vocabulary import INCOMPLETE, TERMINAL_STATES, StreamShape


@dataclass(slots=True)
class ExecutionFacts:
    execution_id: str
    run_id: str | None = None
    external_id: str | None = None
    started_at_us: int | None = None  # WORKFLOW INITIATED ts
    earliest_ts_us: int | None = None  # fallback start when INITIATED was not received
    terminal_state: str | None = None
    ended_at_us: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    outputs: Any = None
    # What the v2 stream's events say of the request (its WORKFLOW_RELEASE_TAG context):
    # the execution row takes them where no recorded request says otherwise.
    described: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        return self.terminal_state or INCOMPLETE

    @property
    def start_us(self) -> int | None:
        return self.started_at_us if self.started_at_us is not None else self.earliest_ts_us

    def observe(self, event: ParsedEvent) -> None:
        sdk = event.shape is StreamShape.SDK
        if event.ts_us is not None and (self.earliest_ts_us is None or event.ts_us < self.earliest_ts_us):
            self.earliest_ts_us = event.ts_us
        # Only what every engine can index is copied (the parser flagged the rest; `raw` keeps it).
        if not sdk:
            if self.run_id is None:
                self.run_id = event.run_id
            if self.external_id is None:
                self.external_id = event.external_id
        if event.type != "WORKFLOW":
            return
        # The payload is read only where a fact comes from it (most events' never is).
        if sdk and self.described is None:
            context = deployment_context(event.body)
            if context is not None:
                self.described = _described(context)
                self.external_id = self.external_id or self.described.get("external_id")
        if event.state == "INITIATED" and self.started_at_us is None:
            self.started_at_us = event.ts_us
            if sdk:
                self._describe_start(event.body, _payload(event))
        elif event.state in TERMINAL_STATES and self.terminal_state is None:
            self._terminate(event, _payload(event))

    def _describe_start(self, body: dict[str, Any], payload: dict[str, Any]) -> None:
        """The root `initiated` event's inputs, and the execution its PREVIOUS_SPAN link continues."""
        described = dict(self.described or {})
        if payload.get("inputs") is not None:
            described["inputs"] = indexable_json(payload["inputs"])
        previous = previous_span_of(body)
        if previous is not None:
            described["previous_execution_id"] = previous
        self.described = described or None

    def _terminate(self, event: ParsedEvent, data: dict[str, Any]) -> None:
        self.terminal_state = event.state
        self.ended_at_us = event.ts_us
        error = data.get("error")
        if isinstance(error, dict):
            self.error_code = indexable_text(error.get("code"))
            self.error_message = indexable_text(error.get("message"))
        self.outputs = indexable_json(data.get("outputs"))


def _described(context: dict[str, Any]) -> dict[str, Any]:
    """The execution row's request columns, as the deployment context of an SDK event gives them."""
    return {
        "workflow_deployment_id": indexable_id(context.get("deployment_id"), MAX_ID_LENGTH),
        "workflow_deployment_name": indexable_text(context.get("deployment_name")),
        "release_tag": indexable_text(context.get("release_tag_name")),
        "external_id": indexable_id(context.get("external_id"), MAX_EXTERNAL_ID_LENGTH),
        "metadata": indexable_json(context.get("metadata")),
    }


def _payload(event: ParsedEvent) -> dict[str, Any]:
    """The event's payload object: the legacy envelope's `data`, the SDK-style event's `body`."""
    payload = event.body.get("body" if event.shape is StreamShape.SDK else "data")
    return payload if isinstance(payload, dict) else {}
