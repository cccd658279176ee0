"""The JSON shapes of stored rows, shared by `--json` output and the Python API.

Every shape can be written by orjson exactly: the few values it cannot write as they are
(integers beyond 64 bits, 1e400, a lone surrogate, nesting past its 254 levels) are handed over
as `orjson.Fragment`s holding their exact JSON text, so `--json` neither fails nor rounds.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from recorder.model.events import load_json
from recorder.model.timestamps import us_to_iso
from recorder.store.schema import Actual, Event, Execution, Recording, Reject, StatusCheck


def duration_ms(start_us: int | None, end_us: int | None) -> float | None:
    if start_us is None or end_us is None:
        return None
    return (end_us - start_us) / 1000


def execution_to_dict(execution: Execution) -> dict[str, Any]:
    return {
        "execution_id": execution.execution_id,
        "workflow_deployment_name": execution.workflow_deployment_name,
        "workflow_deployment_id": execution.workflow_deployment_id,
        "release_tag": execution.release_tag,
        "external_id": execution.external_id,
        "run_id": execution.run_id,
        "previous_execution_id": execution.previous_execution_id,
        "root_execution_id": execution.root_execution_id,
        "status": execution.status,
        "started_at": us_to_iso(execution.started_at_us),
        "ended_at": us_to_iso(execution.ended_at_us),
        "duration_ms": duration_ms(execution.started_at_us, execution.ended_at_us),
        "event_count": execution.event_count,
        "error_code": execution.error_code,
        "error_message": execution.error_message,
        "metadata": json_ready(execution.metadata_),
    }


def event_to_dict(event: Event) -> dict[str, Any]:
    """An event as received (parsed from its verbatim text) with where and when it was recorded."""
    return {
        "position": event.position,
        "type": event.type,
        "state": event.state,
        "ts": us_to_iso(event.ts_us),
        "received_at": us_to_iso(event.received_at_us),
        "node_id": event.node_id,
        "node_result_id": event.node_result_id,
        "node_type": event.node_type,
        "source_execution_id": event.source_execution_id,
        "flags": event.flags.split(",") if event.flags else [],
        "event": line_json(event.raw),
    }


def line_json(raw: str) -> Any:
    """A stored line as a JSON value: parsed, or (when orjson cannot write that) the line itself,
    which is exact JSON text whenever it holds no NaN or Infinity."""
    try:
        value = load_json(raw)
    except ValueError:
        return orjson.Fragment(raw)
    try:
        orjson.dumps(value)
        return value
    except TypeError:
        pass
    try:
        json.loads(raw, parse_constant=_refuse_constant)
        return orjson.Fragment(raw)
    except RecursionError:
        return orjson.Fragment(raw)
    except ValueError:
        return json_ready(value)


def json_ready(value: Any) -> Any:
    """`value` itself when orjson writes it, else a fragment of its JSON text (exact, except that
    NaN and infinities, which JSON cannot hold, become null as orjson writes them)."""
    try:
        orjson.dumps(value)
        return value
    except TypeError:
        pass
    try:
        try:
            return orjson.Fragment(json.dumps(value, ensure_ascii=True, allow_nan=False))
        except ValueError:
            return orjson.Fragment(json.dumps(_finite(value), ensure_ascii=True, allow_nan=False))
    except RecursionError:
        return None


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_finite(child) for child in value]
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def recording_to_dict(recording: Recording) -> dict[str, Any]:
    return {
        "recording_id": recording.id,
        "source": recording.source,
        "outcome": recording.outcome,
        "http_status": recording.http_status,
        "error": recording.error,
        "started_at": us_to_iso(recording.started_at_us),
        "ended_at": us_to_iso(recording.ended_at_us),
        "line_count": recording.line_count,
        "event_count": recording.event_count,
        "duplicate_count": recording.duplicate_count,
        "reject_count": recording.reject_count,
    }


def reject_to_dict(reject: Reject) -> dict[str, Any]:
    return {
        "recording_id": reject.recording_id,
        "position": reject.position,
        "reason": reject.reason,
        "raw": reject.raw,
    }


def status_check_to_dict(check: StatusCheck) -> dict[str, Any]:
    return {
        "checked_at": us_to_iso(check.checked_at_us),
        "source": check.source,
        "http_status": check.http_status,
        "status": check.status,
        "outputs": json_ready(check.outputs),
        "error_code": check.error_code,
        "error_message": check.error_message,
    }


def actual_to_dict(actual: Actual) -> dict[str, Any]:
    return {
        "submitted_at": us_to_iso(actual.submitted_at_us),
        "output": actual.output_key,
        "output_type": actual.output_type,
        "quality": actual.quality,
        "value": json_ready(actual.value),
        "metadata": json_ready(actual.metadata_),
        "http_status": actual.http_status,
        "error": actual.error,
    }
