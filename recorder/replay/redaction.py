"""Taking values out of a cassette before it is written: request inputs and metadata, everywhere.

A key names where a value sits in the request body:

- `inputs.NAME`: the value of the input called NAME;
- `metadata.A.B`: a key inside `metadata` (dotted for nested objects);
- `external_id`: the request's external id;
- `NAME` alone: any input called NAME and any metadata key called NAME, at any depth.

The request keeps the key with the value `[REDACTED]` (replay matching treats it as "any value").
A workflow echoes its inputs in its events (WORKFLOW `inputs`, NODE `input_values`, often the
outputs too), so the values are also taken out of every recorded line: each string found under a
redacted key is replaced by `[REDACTED]` wherever it appears in a line, as a whole JSON string or
inside a longer one (an LLM repeating it). Strings shorter than `MIN_SUBSTRING` characters are
only replaced where they are a whole JSON string value, so a short value cannot mangle unrelated
text. Numbers and booleans are redacted in the request only. Lines that hold no redacted value
stay byte for byte as received; a line that does is edited in place, and rewritten compactly
from its parsed JSON only if the edit would not leave valid JSON.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from recorder.model.cassette import REDACTED, Cassette, Line
from recorder.model.events import load_json

MIN_SUBSTRING = 4


@dataclass(frozen=True, slots=True)
class Redaction:
    """The redacted cassette, which keys matched something, and how many lines changed."""

    cassette: Cassette
    matched: tuple[str, ...]
    unmatched: tuple[str, ...]
    lines_changed: int


def redact(cassette: Cassette, keys: Iterable[str]) -> Redaction:
    """The cassette with the values under `keys` replaced by `[REDACTED]` (see the module doc)."""
    keys = tuple(dict.fromkeys(key.strip() for key in keys if key.strip()))
    if not keys:
        return Redaction(cassette, (), (), 0)
    body = copy.deepcopy(cassette.request.body) if cassette.request.body is not None else None
    found: list[Any] = []
    matched: list[str] = []
    for key in keys:
        values = _take(body, key) if body is not None else []
        if values:
            matched.append(key)
            found.extend(values)
    secrets = sorted({text for value in found for text in _strings_in(value) if text and text != REDACTED}, key=len, reverse=True)
    lines = list(cassette.response.lines)
    changed = 0
    if secrets:
        for index, line in enumerate(lines):
            scrubbed = _scrub_line(line.data, secrets)
            if scrubbed != line.data:
                lines[index] = Line(line.at_us, scrubbed)
                changed += 1
    error = cassette.response.error
    if error and secrets:
        for secret in secrets:
            error = error.replace(secret, REDACTED)
    request = replace(cassette.request, body=body, redacted=tuple(dict.fromkeys((*cassette.request.redacted, *matched))))
    response = replace(cassette.response, lines=tuple(lines), error=error)
    return Redaction(replace(cassette, request=request, response=response), tuple(matched), tuple(k for k in keys if k not in matched), changed)


# -- finding the values in the request -----------------------------------------------------------------


def _take(body: dict[str, Any], key: str) -> list[Any]:
    """Replace the values `key` names by REDACTED in place; return the originals."""
    head, _, rest = key.partition(".")
    taken: list[Any] = []
    if key == "external_id":
        if body.get("external_id") not in (None, REDACTED):
            taken.append(body["external_id"])
            body["external_id"] = REDACTED
        return taken
    if head == "inputs" and rest:
        return _take_inputs(body, rest)
    if head == "metadata" and rest:
        return _take_path(body.get("metadata"), rest.split("."))
    taken.extend(_take_inputs(body, key))
    taken.extend(_take_anywhere(body.get("metadata"), key))
    return taken


def _take_inputs(body: dict[str, Any], name: str) -> list[Any]:
    taken = []
    for item in body.get("inputs") or ():
        if isinstance(item, dict) and item.get("name") == name and "value" in item and item["value"] != REDACTED:
            taken.append(item["value"])
            item["value"] = REDACTED
    return taken


def _take_path(node: Any, path: list[str]) -> list[Any]:
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    if isinstance(node, dict) and path[-1] in node and node[path[-1]] != REDACTED:
        value, node[path[-1]] = node[path[-1]], REDACTED
        return [value]
    return []


def _take_anywhere(node: Any, name: str) -> list[Any]:
    taken: list[Any] = []
    if isinstance(node, dict):
        for key in list(node):
            if key == name and node[key] != REDACTED:
                taken.append(node[key])
                node[key] = REDACTED
            else:
                taken.extend(_take_anywhere(node[key], name))
    elif isinstance(node, list):
        for item in node:
            taken.extend(_take_anywhere(item, name))
    return taken


def _strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


# -- taking them out of the lines ----------------------------------------------------------------------


def _scrub_line(data: bytes, secrets: list[str]) -> bytes:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        for secret in secrets:  # not JSON anyway: plain byte replacement
            if len(secret) >= MIN_SUBSTRING:
                data = data.replace(secret.encode("utf-8"), REDACTED.encode())
        return data
    try:
        parsed = load_json(text)
    except ValueError:
        parsed = None
    edited = _scrub_text(text, secrets, is_json=parsed is not None)
    if edited == text:
        return data
    if parsed is not None and not _clean_json(edited, secrets):
        edited = json.dumps(_scrub_value(parsed, secrets), ensure_ascii=False, separators=(",", ":"))
    return edited.encode("utf-8")


def _scrub_text(text: str, secrets: list[str], *, is_json: bool) -> str:
    for secret in secrets:
        forms = {json.dumps(secret, ensure_ascii=False)[1:-1], json.dumps(secret)[1:-1]} if is_json else {secret}
        for form in forms:
            if form not in text:
                continue
            if len(secret) >= MIN_SUBSTRING:
                text = text.replace(form, REDACTED)
            elif is_json:  # only a whole string value, never an object key
                text = re.sub('"' + re.escape(form) + r'"(?!\s*:)', f'"{REDACTED}"', text)
    return text


def _clean_json(text: str, secrets: list[str]) -> bool:
    """The edit left valid JSON and no redacted value in any string of it."""
    try:
        value = load_json(text)
    except ValueError:
        return False
    return not any(_contains(string, secrets) for string in _strings_in(value))


def _contains(string: str, secrets: list[str]) -> bool:
    return any(secret in string if len(secret) >= MIN_SUBSTRING else secret == string for secret in secrets)


def _scrub_value(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if len(secret) >= MIN_SUBSTRING:
                value = value.replace(secret, REDACTED)
            elif value == secret:
                return REDACTED
        return value
    if isinstance(value, dict):
        return {key: _scrub_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub_value(item, secrets) for item in value]
    return value
