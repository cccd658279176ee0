"""What the non-stream endpoints answer about a recorded stream (docs/wire-format.md, section C).

`POST /v1/execute-workflow` returns the execution's terminal WORKFLOW event; `GET
/v1/workflows/executions/{id}/status` its status, final outputs by name and error. Both are read
from the recorded lines, so one cassette of the stream serves all three endpoints. The status is
read from a v2 stream's SDK events too: the root workflow's (`span_id` = the execution id) terminal
`workflow.execution.*` event, its `body.outputs` (already by name) and `body.error`.
"""

from __future__ import annotations

from typing import Any

from recorder.model.cassette import Cassette
from recorder.model.endpoints import EXECUTION_DETAIL_URL
from recorder.model.events import ParsedEvent, parse_line
from recorder.model.lines import RawLine
from recorder.model.sdk_events import is_sdk_event
from recorder.model.vocabulary import TERMINAL_STATES


class NoTerminalEvent(LookupError):
    """The recorded stream ended before its terminal WORKFLOW event."""


def workflow_events(cassette: Cassette) -> list[ParsedEvent]:
    """The WORKFLOW events of the cassette's execution, in stream order."""
    events = []
    for position, line in enumerate(cassette.response.lines):
        parsed = parse_line(RawLine(position, line.data))
        if not isinstance(parsed, ParsedEvent) or parsed.type != "WORKFLOW":
            continue
        if cassette.execution_id is not None and parsed.execution_id != cassette.execution_id:
            continue
        if _is_sdk(parsed) and parsed.body.get("span_id") != parsed.execution_id:
            continue  # a nested workflow's event, filed under its root execution
        events.append(parsed)
    return events


def _is_sdk(event: ParsedEvent) -> bool:
    """Whether the event is an SDK one (the v2 stream's: keyed on `name`, its payload in `body`)."""
    return is_sdk_event(event.body)


def terminal_event(events: list[ParsedEvent]) -> ParsedEvent | None:
    return next((event for event in events if event.state in TERMINAL_STATES), None)


def execute_answer(cassette: Cassette) -> dict[str, Any]:
    """The ExecuteWorkflowResponse: `{execution_id, run_id, external_id, data}`."""
    event = terminal_event(workflow_events(cassette))
    if event is None:
        raise NoTerminalEvent(f"the recorded stream of {cassette.execution_id or 'this request'} has no terminal WORKFLOW event (it was cut)")
    data = event.body.get("data") or {}
    return {
        "execution_id": event.execution_id,
        "run_id": event.body.get("run_id"),
        "external_id": event.body.get("external_id"),
        "data": {key: data.get(key) for key in ("id", "state", "ts", "error", "outputs")},
    }


def status_answer(cassette: Cassette, execution_id: str) -> dict[str, Any]:
    """The CheckWorkflowExecutionStatusResponse: the terminal state (or the last state seen, for a
    stream that was cut), outputs by name when fulfilled, `{message, code}` when rejected."""
    events = workflow_events(cassette)
    terminal = terminal_event(events)
    outputs = error = None
    if terminal is not None:
        status = terminal.state
        data = (terminal.body.get("body") if _is_sdk(terminal) else terminal.body.get("data")) or {}
        if status == "FULFILLED" and isinstance(data.get("outputs"), dict):
            outputs = dict(data["outputs"])
        elif status == "FULFILLED" and isinstance(data.get("outputs"), list):
            outputs = {item.get("name"): item.get("value") for item in data["outputs"] if isinstance(item, dict)}
        if isinstance(data.get("error"), dict):
            error = {"message": data["error"].get("message"), "code": data["error"].get("code")}
    else:
        status = events[-1].state if events and events[-1].state else "INITIATED"
    return {
        "status": status,
        "execution_id": execution_id,
        "execution_detail_url": EXECUTION_DETAIL_URL.format(execution_id=execution_id),
        "outputs": outputs,
        "error": error,
    }
