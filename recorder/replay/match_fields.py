"""The request fields matching compares, one reading function each, in a registry.

A field function reads one request body into a `Reading`: the field's canonical form (a hashable
value in which equal JSON values are equal) and what a message shows of it. Everything else is
derived from readings, so equality is defined once: `compare` finds how far two readings agree and
why they differ (the diagnostics `NoMatch` prints), `keys` gives the index keys under which a
recording is found in one lookup, and two readings' keys are equal exactly when `compare` finds no
difference.

Equal means JSON-equal, with numbers compared by value (`3` equals `3.0`: the official client
sends NUMBER values as floats) and a recorded `[REDACTED]` (see `recorder.replay.redaction`) equal
to any value. A reading that holds `[REDACTED]` has no key: it is compared one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from recorder.model.cassette import REDACTED
from recorder.replay.vocabulary import MatchField

Shown = Any  # what a message shows of a value
Part = tuple[Hashable, Shown]  # a canonical form and what a message shows of it


class _Wildcard:
    """The canonical form of a recorded `[REDACTED]`: equal to every form, so never a key."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


WILDCARD = _Wildcard()


class Absent:
    """What a message shows for an input one side does not have."""

    def __repr__(self) -> str:
        return "(absent)"


def canonical(value: Any, *, recorded: bool = False) -> Any:
    """A form in which JSON values equal by `same_value` are equal; with `recorded`, `[REDACTED]`
    becomes the wildcard. Tags keep `True`, `1` and `"1"` apart, which Python would equate."""
    if recorded and value == REDACTED:
        return WILDCARD
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)  # 3 and 3.0 hash and compare equal in Python
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list):
        return ("l", tuple(canonical(item, recorded=recorded) for item in value))
    if isinstance(value, dict):
        return ("d", tuple(sorted((key, canonical(item, recorded=recorded)) for key, item in value.items())))
    return ("z", repr(value))


def same_value(asked: Any, recorded: Any) -> bool:
    """JSON equality where numbers compare by value and a recorded `[REDACTED]` equals anything."""
    return bool(canonical(asked) == canonical(recorded, recorded=True))


def holds_redacted(value: Any) -> bool:
    """Whether a recorded value holds `[REDACTED]` at any depth (its forms cannot be keys)."""
    if value == REDACTED:
        return True
    if isinstance(value, dict):
        return any(holds_redacted(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_redacted(item) for item in value)
    return False


@dataclass(frozen=True, slots=True)
class Reading:
    """One field of one request: its value as the request holds it (what a message shows), and
    either its canonical `form` or, for a field compared part by part (the inputs by name, the
    deployment by name and id), its `parts`."""

    value: Shown
    form: Hashable = None
    parts: Mapping[str, Part] | None = None


@dataclass(frozen=True, slots=True)
class FieldMatcher:
    """A match-rule field: its reading function and how its agreement scores.

    `any_part`: the field agrees when one part does (a deployment asked by name or by id), and a
    recording is indexed once per part. Otherwise every part must agree, and the score is the
    share that does (an input counts by the share of inputs that agree)."""

    name: MatchField
    read: Callable[[Mapping[str, Any], bool], Reading]
    weight: float = 1.0
    any_part: bool = False

    def compare(self, asked: Reading, recorded: Reading) -> tuple[float, dict[str, tuple[Shown, Shown]]]:
        """The score this field adds, and its differences as `{name: (asked, recorded)}`."""
        if self.any_part:
            assert asked.parts is not None and recorded.parts is not None
            if any(name in recorded.parts and part[0] == recorded.parts[name][0] for name, part in asked.parts.items()):
                return self.weight, {}
            return 0.0, {self.name.value: (asked.value, recorded.value)}
        if asked.parts is None or recorded.parts is None:
            same = asked.form == recorded.form if asked.parts is recorded.parts is None else same_value(asked.value, recorded.value)
            return (self.weight, {}) if same else (0.0, {self.name.value: (asked.value, recorded.value)})
        names = list(dict.fromkeys([*asked.parts, *recorded.parts]))
        if not names:
            return self.weight, {}
        differences: dict[str, tuple[Shown, Shown]] = {}
        for name in names:
            a, r = asked.parts.get(name), recorded.parts.get(name)
            if a is None or r is None or not a[0] == r[0]:
                differences[f"{self.name.value}.{name}"] = (Absent() if a is None else a[1], Absent() if r is None else r[1])
        return self.weight * (len(names) - len(differences)) / len(names), differences

    def keys(self, reading: Reading) -> list[Hashable]:
        """The index keys of a reading without `[REDACTED]`: equal to another's exactly when the two agree."""
        if self.any_part:
            assert reading.parts is not None
            return [(name, part[0]) for name, part in reading.parts.items()]
        if reading.parts is None:
            return [("whole", reading.form)]
        return [("parts", tuple(sorted((name, part[0]) for name, part in reading.parts.items())))]


def read_deployment(body: Mapping[str, Any], recorded: bool) -> Reading:
    """The deployment by name and by id, whichever the request gives."""
    parts = {
        kind: (canonical(body[key], recorded=recorded), body[key])
        for kind, key in (("name", "workflow_deployment_name"), ("id", "workflow_deployment_id"))
        if body.get(key) is not None
    }
    shown = ", ".join(f"{kind} {value}" for kind, (_, value) in parts.items()) or None
    return Reading(shown, parts=parts)


def read_inputs(body: Mapping[str, Any], recorded: bool) -> Reading:
    """The inputs by name (order does not matter), each its type and value (a v2 `{name: value}`
    object: each its value); a list that is not of named objects is compared as it is."""
    inputs = body.get("inputs")
    if inputs is None:
        return Reading(inputs, parts={})
    if isinstance(inputs, dict):  # the v2 stream's plain {name: value}: no types to compare
        return Reading(inputs, parts={name: (canonical(value, recorded=recorded), value) for name, value in inputs.items()})
    if not isinstance(inputs, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in inputs):
        return Reading(inputs, canonical(inputs, recorded=recorded))
    parts = {item["name"]: (canonical([item.get("type"), item.get("value")], recorded=recorded), _input_shown(item)) for item in inputs}
    return Reading(inputs, parts=parts)


def read_value(key: str) -> Callable[[Mapping[str, Any], bool], Reading]:
    """A field compared as one value (an absent one equals only an absent one)."""

    def read(body: Mapping[str, Any], recorded: bool) -> Reading:
        value = body.get(key)
        return Reading(value, canonical(value, recorded=recorded))

    return read


def _input_shown(item: Mapping[str, Any]) -> Shown:
    return item.get("value") if item.get("type") is None else {"type": item.get("type"), "value": item.get("value")}


FIELDS: dict[MatchField, FieldMatcher] = {
    field.name: field
    for field in (
        FieldMatcher(MatchField.DEPLOYMENT, read_deployment, weight=10.0, any_part=True),
        FieldMatcher(MatchField.RELEASE_TAG, read_value("release_tag")),
        FieldMatcher(MatchField.INPUTS, read_inputs),
        FieldMatcher(MatchField.EXTERNAL_ID, read_value("external_id")),
        FieldMatcher(MatchField.PREVIOUS_EXECUTION_ID, read_value("previous_execution_id")),
        FieldMatcher(MatchField.METADATA, read_value("metadata")),
    )
}
