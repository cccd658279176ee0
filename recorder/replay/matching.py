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
each one does not match.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from recorder.model.cassette import REDACTED

STRICT, LOOSE = "strict", "loose"
DEFAULT_FIELDS = ("deployment", "release_tag", "inputs", "external_id")
KNOWN_FIELDS = (*DEFAULT_FIELDS, "previous_execution_id", "metadata")
_CLOSEST = 3
_SHOW = 60


@dataclass(frozen=True, slots=True)
class MatchRule:
    mode: str = STRICT
    fields: tuple[str, ...] = DEFAULT_FIELDS

    def __post_init__(self) -> None:
        if self.mode not in (STRICT, LOOSE):
            raise ValueError(f"match mode must be {STRICT!r} or {LOOSE!r}, not {self.mode!r}")
        unknown = [name for name in self.fields if name not in KNOWN_FIELDS]
        if unknown:
            raise ValueError(f"unknown match field(s) {', '.join(unknown)}; known: {', '.join(KNOWN_FIELDS)}")

    def describe(self) -> str:
        return f"{self.mode} matching on {', '.join(self.fields)}"


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
    """`select` over a fixed list of recordings, indexed so a strict match costs one lookup.

    A recording is indexed under a canonical key of the fields in use (once per deployment
    identity it has: name and id), built so that keys are equal exactly when `compare` finds no
    difference. Recordings holding a `[REDACTED]` value (which equals anything) cannot be keyed
    and are compared one by one. Loose matching compares the recordings of the asked deployment.
    """

    def __init__(self, rule: MatchRule, candidates: Sequence[Candidate]) -> None:
        self.rule = rule
        self.candidates = list(candidates)
        self._order = {id(candidate): index for index, candidate in enumerate(self.candidates)}
        self._keyed: dict[tuple[Any, ...], list[Candidate]] = {}
        self._by_deployment: dict[tuple[str, str], list[Candidate]] = {}
        self._unkeyed: list[Candidate] = []
        for candidate in self.candidates:
            body = candidate.body or {}
            for identity in _identities(rule, body):
                self._by_deployment.setdefault(identity, []).append(candidate)
            rest = _key(rule, body) if not _holds_redacted(body) else None
            if rest is None:
                self._unkeyed.append(candidate)
                continue
            for identity in _identities(rule, body) if "deployment" in rule.fields else [("any", "")]:
                self._keyed.setdefault((identity, rest), []).append(candidate)

    def select(self, asked: dict[str, Any], *, endpoint: str) -> list[Candidate]:
        """The recordings that answer `asked`, equally good, in recorded order; NoMatch if none does."""
        if self.rule.mode == STRICT:
            found: dict[int, Candidate] = {}
            rest = _key(self.rule, asked)
            if rest is not None:
                for identity in _identities(self.rule, asked) if "deployment" in self.rule.fields else [("any", "")]:
                    found.update((id(c), c) for c in self._keyed.get((identity, rest), ()))
            found.update((id(c), c) for c in self._unkeyed if not compare(self.rule, asked, c).differences)
            if found:
                return sorted(found.values(), key=lambda c: self._order[id(c)])
        else:
            pool: list[Candidate] = self.candidates
            if "deployment" in self.rule.fields:
                reached: dict[int, Candidate] = {}
                for identity in _identities(self.rule, asked):
                    reached.update((id(c), c) for c in self._by_deployment.get(identity, ()))
                pool = sorted(reached.values(), key=lambda c: self._order[id(c)])
            comparisons = [compare(self.rule, asked, candidate) for candidate in pool]
            best = max((c.score for c in comparisons), default=None)
            chosen = [c.candidate for c in comparisons if c.score == best]
            if chosen:
                return chosen
        raise no_match(self.rule, asked, [compare(self.rule, asked, c) for c in self.candidates], endpoint=endpoint)


def _identities(rule: MatchRule, body: dict[str, Any]) -> list[tuple[str, str]]:
    identities = []
    for kind, key in (("name", "workflow_deployment_name"), ("id", "workflow_deployment_id")):
        value = body.get(key)
        if value is not None:
            identities.append((kind, _canonical(value)))
    return identities


def _key(rule: MatchRule, body: dict[str, Any]) -> tuple[Any, ...] | None:
    """The canonical form of every field in use but the deployment; None when it cannot be keyed."""
    parts: list[Any] = []
    for name in rule.fields:
        if name == "deployment":
            continue
        if name == "inputs":
            inputs = _inputs_by_name(body.get("inputs"))
            if inputs is None:
                return None
            parts.append(tuple(sorted((n, _canonical(i.get("type")), _canonical(i.get("value"))) for n, i in inputs.items())))
        else:
            parts.append(_canonical(body.get(name)))
    return tuple(parts)


def _canonical(value: Any) -> Any:
    """A hashable form in which equal JSON values (by `same_value`, without redaction) are equal."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)  # 3 and 3.0 hash and compare equal in Python
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list):
        return ("l", tuple(_canonical(item) for item in value))
    if isinstance(value, dict):
        return ("d", tuple(sorted((key, _canonical(item)) for key, item in value.items())))
    return ("z", repr(value))


def _holds_redacted(value: Any) -> bool:
    if value == REDACTED:
        return True
    if isinstance(value, dict):
        return any(_holds_redacted(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_redacted(item) for item in value)
    return False


def compare(rule: MatchRule, asked: dict[str, Any], candidate: Candidate) -> Comparison:
    recorded = candidate.body or {}
    differences: dict[str, tuple[Any, Any]] = {}
    score = 0.0
    for name in rule.fields:
        if name == "inputs":
            share, input_differences = _compare_inputs(asked.get("inputs"), recorded.get("inputs"))
            score += share
            differences.update(input_differences)
            continue
        asked_value, recorded_value = _field(asked, name), _field(recorded, name)
        if name == "deployment":
            same = _same_deployment(asked_value, recorded_value)
        else:
            same = same_value(asked_value, recorded_value)
        if same:
            score += 10.0 if name == "deployment" else 1.0
        elif name == "deployment":
            differences[name] = (_deployment_view(asked_value), _deployment_view(recorded_value))
        else:
            differences[name] = (asked_value, recorded_value)
    return Comparison(candidate, score, differences)


def same_value(asked: Any, recorded: Any) -> bool:
    """JSON equality where numbers compare by value and a recorded `[REDACTED]` equals anything."""
    if recorded == REDACTED:
        return True
    if isinstance(asked, bool) or isinstance(recorded, bool):
        return type(asked) is type(recorded) and asked == recorded
    if isinstance(asked, (int, float)) and isinstance(recorded, (int, float)):
        return asked == recorded
    if isinstance(asked, dict) and isinstance(recorded, dict):
        return asked.keys() == recorded.keys() and all(same_value(asked[k], recorded[k]) for k in asked)
    if isinstance(asked, list) and isinstance(recorded, list):
        return len(asked) == len(recorded) and all(same_value(a, r) for a, r in zip(asked, recorded))
    return type(asked) is type(recorded) and asked == recorded


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


def _field(body: dict[str, Any], name: str) -> Any:
    if name == "deployment":
        return {"name": body.get("workflow_deployment_name"), "id": body.get("workflow_deployment_id")}
    return body.get(name)


def _same_deployment(asked: dict[str, Any], recorded: dict[str, Any]) -> bool:
    return any(asked[key] is not None and same_value(asked[key], recorded[key]) for key in ("name", "id"))


def _deployment_view(deployment: dict[str, Any]) -> str | None:
    shown = [f"{key} {deployment[key]}" for key in ("name", "id") if deployment[key] is not None]
    return ", ".join(shown) or None


def _compare_inputs(asked: Any, recorded: Any) -> tuple[float, dict[str, tuple[Any, Any]]]:
    """The share of inputs that agree, and the ones that do not (as `inputs.NAME`)."""
    asked_by_name, recorded_by_name = _inputs_by_name(asked), _inputs_by_name(recorded)
    if asked_by_name is None or recorded_by_name is None:
        same = same_value(asked, recorded)
        return (1.0 if same else 0.0), ({} if same else {"inputs": (asked, recorded)})
    names = list(dict.fromkeys([*asked_by_name, *recorded_by_name]))
    if not names:
        return 1.0, {}
    differences: dict[str, tuple[Any, Any]] = {}
    for name in names:
        a, r = asked_by_name.get(name), recorded_by_name.get(name)
        if a is None or r is None or not same_value(a.get("type"), r.get("type")) or not same_value(a.get("value"), r.get("value")):
            differences[f"inputs.{name}"] = (_input_view(a), _input_view(r))
    return (len(names) - len(differences)) / len(names), differences


def _inputs_by_name(inputs: Any) -> dict[str, dict[str, Any]] | None:
    if inputs is None:
        return {}
    if not isinstance(inputs, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in inputs):
        return None
    return {item["name"]: item for item in inputs}


def _input_view(item: dict[str, Any] | None) -> Any:
    if item is None:
        return _Absent()
    return item.get("value") if item.get("type") is None else {"type": item.get("type"), "value": item.get("value")}


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


def _short(value: Any) -> Any:
    """Long values cut for the JSON body of a no-match answer."""
    if isinstance(value, _Absent):
        return None
    if isinstance(value, str):
        return value if len(value) <= _SHOW else value[: _SHOW - 1] + "…"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
        return value if len(text) <= _SHOW else text[: _SHOW - 1] + "…"
    return value


def _show(value: Any) -> str:
    """A value on one line of a message, cut when long."""
    if isinstance(value, _Absent):
        return "(absent)"
    if isinstance(value, dict) and set(value) == {"type", "value"}:
        return f"{value['type']} {_show(value['value'])}"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOW else text[: _SHOW - 1] + "…"
