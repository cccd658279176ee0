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

from recorder.model.exact_json import load_json
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
    """A stored line as a JSON value: parsed, with the leaves orjson cannot write as they are
    replaced by exact fragments (the number as received, the string with its escapes)."""
    try:
        value = load_json(raw)
        orjson.dumps(value)
        return value
    except (ValueError, TypeError):
        pass
    try:
        exact = json.loads(raw, parse_int=_exact_int, parse_float=_exact_float, parse_constant=_no_constant)
        return _ready(exact, 0)
    except (ValueError, RecursionError, _TooDeep):
        # Deeper than orjson writes: the line itself is JSON text, and what was received.
        return orjson.Fragment(raw)


def json_ready(value: Any) -> Any:
    """`value` as orjson can write it: unchanged, or with the leaves it cannot write (integers
    beyond 64 bits, lone surrogates) as exact fragments and NaN or infinities as null."""
    try:
        orjson.dumps(value)
        return value
    except TypeError:
        pass
    try:
        return _ready(value, 0)
    except (_TooDeep, RecursionError):
        try:
            return orjson.Fragment(json.dumps(value, ensure_ascii=True, allow_nan=False))
        except (ValueError, RecursionError):
            return None


# orjson writes at most 254 levels; deeper documents go out as one fragment.
_ORJSON_DEPTH = 250


class _TooDeep(Exception):
    pass


def _ready(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return orjson.Fragment(json.dumps(value))
    if isinstance(value, bool) or value is None or isinstance(value, orjson.Fragment):
        return value
    if isinstance(value, int):
        return value if -(1 << 63) <= value < (1 << 64) else orjson.Fragment(str(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= _ORJSON_DEPTH:
        raise _TooDeep
    if isinstance(value, dict):
        return {_key(key): _ready(child, depth + 1) for key, child in value.items()}
    if isinstance(value, list):
        return [_ready(child, depth + 1) for child in value]
    return value


def _key(key: Any) -> Any:
    """Object keys must be text orjson can write: a lone surrogate becomes U+FFFD."""
    if isinstance(key, str):
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in key)
    return key


def _exact_int(literal: str) -> Any:
    number = int(literal)
    return number if -(1 << 63) <= number < (1 << 64) else orjson.Fragment(literal)


def _exact_float(literal: str) -> Any:
    number = float(literal)
    return number if math.isfinite(number) else orjson.Fragment(literal)


def _no_constant(_name: str) -> None:
    # NaN and Infinity are not JSON: shown as null, as orjson shows a non-finite float.
    return None


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
