"""Which recorded exchange answers a request: documented, configurable request matching.

A request is compared with each recorded request of the same endpoint on these fields:

- `deployment`: the same `workflow_deployment_name`, or the same `workflow_deployment_id`;
- `release_tag`: equal (an absent tag equals only an absent tag);
- `inputs`: the same input names, each with the same type and value (order does not matter;
  `3` equals `3.0`, as the official client sends NUMBER values as floats);
- `external_id`: equal;
- optionally `previous_execution_id` and `metadata`: equal.

A recorded value `[REDACTED]` (see `recorder.replay.redaction`) equals any value.

`strict` (the default) answers only with a recording equal on every field in use. `loose` needs
the deployment only, and picks the recording that agrees on the most of the other fields (an
input counts by the share of inputs that agree). When several recordings match equally well they
are served in turn, in the order they were recorded (first request -> first recording, ...).
When nothing matches, `NoMatch` says what was asked and which recordings came closest, and why
each one does not match. How each field reads, compares and keys a request: `recorder.replay.match_fields`.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from recorder.replay.match_fields import FIELDS, Absent, Reading, holds_redacted
from recorder.replay.vocabulary import MatchField, MatchMode

STRICT, LOOSE = MatchMode.STRICT, MatchMode.LOOSE
DEFAULT_FIELDS = (MatchField.DEPLOYMENT, MatchField.RELEASE_TAG, MatchField.INPUTS, MatchField.EXTERNAL_ID)
KNOWN_MODES = tuple(MatchMode)
KNOWN_FIELDS = tuple(MatchField)
_CLOSEST = 3
_SHOW = 60
# The key part standing for the deployment when a rule does not compare it.
_ANY_DEPLOYMENT: Hashable = ("any", "")

Readings = dict[MatchField, Reading]


@dataclass(frozen=True, slots=True)
class MatchRule:
    mode: MatchMode = STRICT
    fields: tuple[MatchField, ...] = DEFAULT_FIELDS

    def __post_init__(self) -> None:
        if self.mode not in KNOWN_MODES:
            raise ValueError(f"match mode must be {STRICT.value!r} or {LOOSE.value!r}, not {self.mode!r}")
        unknown = [name for name in self.fields if name not in KNOWN_FIELDS]
        if unknown:
            raise ValueError(f"unknown match field(s) {', '.join(unknown)}; known: {', '.join(KNOWN_FIELDS)}")
        object.__setattr__(self, "mode", MatchMode(self.mode))
        object.__setattr__(self, "fields", tuple(MatchField(name) for name in self.fields))

    def describe(self) -> str:
        return f"{self.mode} matching on {', '.join(self.fields)}"

    def read(self, body: dict[str, Any] | None, *, recorded: bool = False) -> Readings:
        """Every field in use, read from one request body."""
        return {name: FIELDS[name].read(body or {}, recorded) for name in self.fields}

    def compare(self, asked: Readings, candidate: Candidate, recorded: Readings) -> Comparison:
        differences: dict[str, tuple[Any, Any]] = {}
        score = 0.0
        for name in self.fields:
            agreement, field_differences = FIELDS[name].compare(asked[name], recorded[name])
            score += agreement
            differences.update(field_differences)
        return Comparison(candidate, score, differences)

    def keys(self, readings: Readings) -> list[Hashable]:
        """The index keys of a request: one per deployment identity, each with every other field's key."""
        rest = tuple(FIELDS[name].keys(readings[name])[0] for name in self.fields if name != MatchField.DEPLOYMENT)
        if MatchField.DEPLOYMENT not in self.fields:
            return [(_ANY_DEPLOYMENT, rest)]
        return [(identity, rest) for identity in FIELDS[MatchField.DEPLOYMENT].keys(readings[MatchField.DEPLOYMENT])]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recorded request: its body, and a name to report it by (a file, an execution)."""

    name: str
    body: dict[str, Any] | None
    execution_id: str | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    candidate: Candidate
    score: float
    differences: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (asked, recorded)


class NoMatch(LookupError):
    """No recorded exchange matches the request; `str()` is the message a person reads."""

    def __init__(self, message: str, asked: dict[str, Any], closest: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.message = message
        self.asked = asked
        self.closest = closest

    def as_json(self) -> dict[str, Any]:
        return {"detail": self.message, "asked": self.asked, "closest": self.closest}


def select(rule: MatchRule, asked: dict[str, Any], candidates: Sequence[Candidate], *, endpoint: str) -> list[Candidate]:
    """The recordings that answer `asked`, equally good, in recorded order; NoMatch if none does."""
    return Matcher(rule, candidates).select(asked, endpoint=endpoint)


class Matcher:
    """`select` over a fixed list of recordings, read once and indexed so a strict match costs one lookup.

    A recording is indexed under its keys (`MatchRule.keys`: once per deployment identity it has,
    name and id), which are equal to a request's exactly when the rule finds no difference.
    Recordings holding a `[REDACTED]` value (which equals anything) cannot be keyed and are
    compared one by one. Loose matching compares the recordings of the asked deployment.
    """

    def __init__(self, rule: MatchRule, candidates: Sequence[Candidate]) -> None:
        self.rule = rule
        self.candidates = list(candidates)
        self._order = {id(candidate): index for index, candidate in enumerate(self.candidates)}
        self._readings = {id(candidate): rule.read(candidate.body, recorded=True) for candidate in self.candidates}
        self._keyed: dict[Hashable, list[Candidate]] = {}
        self._by_deployment: dict[Hashable, list[Candidate]] = {}
        self._unkeyed: list[Candidate] = []
        deployment = FIELDS[MatchField.DEPLOYMENT]
        for candidate in self.candidates:
            readings = self._readings[id(candidate)]
            identities = readings[MatchField.DEPLOYMENT] if MatchField.DEPLOYMENT in readings else deployment.read(candidate.body or {}, True)
            for identity in deployment.keys(identities):
                self._by_deployment.setdefault(identity, []).append(candidate)
            if holds_redacted(candidate.body or {}):
                self._unkeyed.append(candidate)
                continue
            for key in rule.keys(self._readings[id(candidate)]):
                self._keyed.setdefault(key, []).append(candidate)

    def select(self, asked: dict[str, Any], *, endpoint: str) -> list[Candidate]:
        """The recordings that answer `asked`, equally good, in recorded order; NoMatch if none does."""
        readings = self.rule.read(asked)
        if self.rule.mode == STRICT:
            found: dict[int, Candidate] = {}
            for key in self.rule.keys(readings):
                found.update((id(c), c) for c in self._keyed.get(key, ()))
            found.update((id(c), c) for c in self._unkeyed if not self._compare(readings, c).differences)
            if found:
                return sorted(found.values(), key=lambda c: self._order[id(c)])
        else:
            pool: list[Candidate] = self.candidates
            if MatchField.DEPLOYMENT in self.rule.fields:
                reached: dict[int, Candidate] = {}
                for identity in FIELDS[MatchField.DEPLOYMENT].keys(readings[MatchField.DEPLOYMENT]):
                    reached.update((id(c), c) for c in self._by_deployment.get(identity, ()))
                pool = sorted(reached.values(), key=lambda c: self._order[id(c)])
            comparisons = [self._compare(readings, candidate) for candidate in pool]
            best = max((c.score for c in comparisons), default=None)
            chosen = [c.candidate for c in comparisons if c.score == best]
            if chosen:
                return chosen
        raise no_match(self.rule, asked, [self._compare(readings, c) for c in self.candidates], endpoint=endpoint)

    def _compare(self, asked: Readings, candidate: Candidate) -> Comparison:
        return self.rule.compare(asked, candidate, self._readings[id(candidate)])


def describe_request(body: dict[str, Any] | None) -> dict[str, Any]:
    """The fields matching looks at, for messages."""
    body = body or {}
    described: dict[str, Any] = {}
    for key in ("workflow_deployment_name", "workflow_deployment_id", "release_tag", "external_id", "previous_execution_id"):
        if body.get(key) is not None:
            described[key] = body[key]
    inputs = body.get("inputs")
    if isinstance(inputs, list):
        described["inputs"] = {item.get("name"): item.get("value") for item in inputs if isinstance(item, dict)}
    elif isinstance(inputs, dict):  # the v2 stream's {name: value}
        described["inputs"] = dict(inputs)
    return described


def no_match(rule: MatchRule, asked: dict[str, Any], comparisons: list[Comparison], *, endpoint: str) -> NoMatch:
    asked_view = describe_request(asked)
    ranked = sorted(comparisons, key=lambda c: -c.score)[:_CLOSEST]
    closest = [
        {
            "recording": c.candidate.name,
            "execution_id": c.candidate.execution_id,
            "differs": {name: {"asked": _short(a), "recorded": _short(r)} for name, (a, r) in c.differences.items()},
        }
        for c in ranked
    ]
    shown = [f"{key}={_show(value)}" for key, value in asked_view.items() if key != "inputs"]
    shown += [f"inputs.{name}={_show(value)}" for name, value in (asked_view.get("inputs") or {}).items()]
    lines = [f"no recorded exchange matches {endpoint} ({rule.describe()})", f"asked: {', '.join(shown) or '(an empty request)'}"]
    if not comparisons:
        lines.append("nothing is recorded for this endpoint")
    else:
        lines.append(f"closest of {len(comparisons)} recorded:")
        for index, comparison in enumerate(ranked, start=1):
            differs = "; ".join(f"{name}: asked {_show(a)}, recorded {_show(r)}" for name, (a, r) in comparison.differences.items())
            lines.append(f"  {index}. {comparison.candidate.name}: {differs or 'same deployment (loose matching)'}")
    asked_json = {key: _short(value) for key, value in asked_view.items() if key != "inputs"}
    if "inputs" in asked_view:
        asked_json["inputs"] = {name: _short(value) for name, value in asked_view["inputs"].items()}
    return NoMatch("\n".join(lines), asked_json, closest)


def _short(value: Any) -> Any:
    """Long values cut for the JSON body of a no-match answer."""
    if isinstance(value, Absent):
        return None
    if isinstance(value, str):
        return value if len(value) <= _SHOW else value[: _SHOW - 1] + "…"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
        return value if len(text) <= _SHOW else text[: _SHOW - 1] + "…"
    return value


def _show(value: Any) -> str:
    """A value on one line of a message, cut when long."""
    if isinstance(value, Absent):
        return "(absent)"
    if isinstance(value, dict) and set(value) == {"type", "value"}:
        return f"{value['type']} {_show(value['value'])}"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOW else text[: _SHOW - 1] + "…"
