"""`execution_meta` of a fulfilled PROMPT run (docs/wire-format.md B.6): model, tokens and cost.

The fleet reads the same fields with DuckDB's JSON functions (recorder.analytics.sql.DERIVE_SPANS);
this is the per-execution reading, for lineage aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recorder.model.events import load_json


@dataclass(frozen=True, slots=True)
class PromptUsage:
    model_name: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None  # only costs reported in USD (or without a unit) count


def prompt_usage(raw: str) -> PromptUsage | None:
    """The usage a PROMPT FULFILLED line reports; None when it reports none (not requested)."""
    try:
        body = load_json(raw)
    except ValueError:
        return None
    meta = dig(body, "data", "data", "data", "execution_meta")
    if not isinstance(meta, dict):
        return None
    usage = meta.get("usage") if isinstance(meta.get("usage"), dict) else {}
    cost = meta.get("cost") if isinstance(meta.get("cost"), dict) else {}
    unit = cost.get("unit")
    value = cost.get("value")
    return PromptUsage(
        model_name=meta.get("model_name") if isinstance(meta.get("model_name"), str) else None,
        input_tokens=_int(usage.get("input_token_count")),
        output_tokens=_int(usage.get("output_token_count")),
        cost_usd=float(value) if isinstance(value, int | float) and not isinstance(value, bool) and unit in (None, "USD") else None,
    )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def dig(value: Any, *keys: str) -> Any:
    """The value under nested keys of parsed event JSON, or None where any level is missing."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
