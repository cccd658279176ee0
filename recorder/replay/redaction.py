"""Taking values out of a cassette before it is written: request inputs and metadata, everywhere.

A key names where a value sits in the request body:

- `inputs.NAME`: the value of the input called NAME;
- `metadata.A.B`: a key inside `metadata` (dotted for nested objects);
- `external_id`: the request's external id;
- `NAME` alone: any input called NAME and any metadata key called NAME, at any depth.

The request keeps the key with the value `[REDACTED]` (replay matching treats it as "any value").
A workflow echoes its inputs in its events (WORKFLOW `inputs`, NODE `input_values`, often the
outputs too), so the values are also taken out of every recorded line. Each line is read as JSON
and each string value in it, at any depth, is compared once decoded, so no escaping hides a value
(`\\u0026`, upper-case hex, `\\/`): a value equal to a redacted one becomes `[REDACTED]`, a longer
value has each redacted string of at least `MIN_SUBSTRING` characters inside it replaced (an LLM
repeating it), and a string that itself holds a JSON document is redacted the same way, inside.
Object keys are never touched, so a value that happens to equal a key name ("type") cannot break
the events. Only the redacted string tokens are rewritten: a line that held no redacted value stays
byte for byte as received, and every other byte of a changed line too. Text that is not JSON (junk,
a line cut mid-way, the recorded error) gets its complete JSON strings redacted as values, then the
longer redacted strings replaced wherever they appear, raw or in any JSON escaping. Numbers and booleans
are redacted in the request only.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from recorder.model.cassette import REDACTED, Cassette, Line
from recorder.model.exact_json import load_json
from recorder.model.secrets import SecretScrubber

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
    error = cassette.response.error
    if secrets:
        redactor = _ValueRedactor(secrets)
        for index, line in enumerate(lines):
            scrubbed = redactor.line(line.data)
            if scrubbed != line.data:
                lines[index] = Line(line.at_us, scrubbed)
                changed += 1
        if error:
            error = redactor.loose_text(error)
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
    inputs = body.get("inputs")
    if isinstance(inputs, dict):  # the v2 stream's {name: value}
        if name in inputs and inputs[name] != REDACTED:
            taken.append(inputs[name])
            inputs[name] = REDACTED
        return taken
    for item in inputs or ():
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

# One JSON string token (escapes included), and the colon after it when it is an object key.
_STRING_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"(\s*:)?', re.DOTALL)


class _ValueRedactor:
    """Takes the secrets out of the string values of JSON text, leaving every other byte alone."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._whole = frozenset(secrets)
        self._inside = sorted((secret for secret in self._whole if len(secret) >= MIN_SUBSTRING), key=len, reverse=True)
        self._in_any_escaping = SecretScrubber(self._inside, min_length=MIN_SUBSTRING)

    def line(self, data: bytes) -> bytes:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            for secret in self._inside:  # not JSON anyway: plain byte replacement
                data = data.replace(secret.encode("utf-8"), REDACTED.encode())
            return data
        try:
            load_json(text)
        except ValueError:
            edited = self.loose_text(text)
        else:
            edited = self.json_text(text)
        return data if edited == text else edited.encode("utf-8")

    def json_text(self, text: str) -> str:
        """JSON text with each string value redacted; keys, numbers, spacing and escapes elsewhere
        stay exactly as written. Also right for a JSON document cut short (a cut stream's last line)."""
        return _STRING_TOKEN.sub(self._token, text)

    def loose_text(self, text: str) -> str:
        """Text that is not (all) JSON: an error message, junk, a cut line. Its complete JSON
        strings are redacted as values; then long secrets anywhere, raw or in any JSON escaping."""
        return self._in_any_escaping.text(self.json_text(text))

    def string(self, value: str) -> str:
        """A decoded string value, redacted: whole, inside a JSON document it holds, or in part."""
        if value in self._whole:
            return REDACTED
        if value.lstrip()[:1] in ('{', '[', '"'):
            try:
                load_json(value)
            except ValueError:
                pass
            else:
                return self.json_text(value)
        for secret in self._inside:
            value = value.replace(secret, REDACTED)
        return value

    def _token(self, match: re.Match[str]) -> str:
        token = match[0]
        if match[1] is not None:  # an object key: never touched
            return token
        try:
            value = json.loads(token, strict=False)
        except ValueError:
            return token
        redacted = self.string(value)
        return token if redacted == value else _encoded_like(redacted, token)


def _encoded_like(value: str, token: str) -> str:
    """`value` as a JSON string token written in the style of `token` (\\u escapes, `\\/`)."""
    encoded = json.dumps(value, ensure_ascii=token.isascii() and "\\u" in token)
    return encoded.replace("/", "\\/") if "\\/" in token else encoded
