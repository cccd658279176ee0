"""Keeping a credential the recorder knows out of everything it writes or prints.

The recorder holds the API key it sends (or sees the application send), and servers echo it back:
in an error body ("invalid key sk-..."), inside a streamed event, in a status answer. Whatever the
recorder stores, prints or writes into a cassette goes through a `SecretScrubber` first.

A server may write the value raw or JSON-escaped in any of the legal ways: `\\/` for `/`, `\\uXXXX`
in either case for any character, and once more escaped for a JSON document nested inside a
string. The scrubber matches each character of the value in all of those forms at once, so no
escaping hides it. A matched occurrence becomes `[REDACTED]`; when that edit would leave a JSON
document invalid (an occurrence starting inside an escape), the document is parsed and its strings
(keys included) are scrubbed one by one, then it is written back compactly.

Whole lines (or whole bodies) are scrubbed, never chunks: a chunk boundary may fall inside the key.
Values shorter than `MIN_SECRET_LENGTH` are ignored by default: no real credential is that short,
and replacing a short string everywhere would mangle unrelated text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, AnyStr

from recorder.model.cassette import REDACTED
from recorder.model.lines import LineSplitter

MIN_SECRET_LENGTH = 8
_SHORT_ESCAPES = {'"': '"', "\\": "\\\\", "/": "/", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t"}
_CREDENTIAL_HEADERS = ("x-api-key", "authorization", "proxy-authorization")


class SecretScrubber:
    """Replaces the given values, in every form JSON can write them, by `[REDACTED]`."""

    def __init__(self, secrets: Iterable[str | None] = (), *, min_length: int = MIN_SECRET_LENGTH) -> None:
        kept = sorted({secret for secret in secrets if secret and len(secret) >= min_length}, key=len, reverse=True)
        self._text: re.Pattern[str] | None = None
        self._bytes: re.Pattern[bytes] | None = None
        self._raw = tuple(secret.encode("utf-8") for secret in kept)
        # A secret holding `/`, `"`, `\\` or a control character can hide behind a short escape;
        # any other character only behind `\\u`, which the stream rarely holds.
        self._short_escapable = any(char in _SHORT_ESCAPES for secret in kept for char in secret)
        if kept:
            source = "|".join(_any_escaping(secret) for secret in kept)
            self._text = re.compile(source)
            self._bytes = re.compile(source.encode("utf-8"))

    def __bool__(self) -> bool:
        return self._text is not None

    def text(self, text: str) -> str:
        """`text` without the secrets (a JSON document stays valid JSON)."""
        if self._text is None or not self._text.search(text):
            return text
        return _scrubbed(text, self._text, REDACTED, self._value)

    def optional_text(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def data(self, data: bytes) -> bytes:
        """A raw line or body without the secrets; bytes that are not UTF-8 are handled too."""
        if self._bytes is None or not self._may_hold(data) or not self._bytes.search(data):
            return data
        return _scrubbed(data, self._bytes, REDACTED.encode(), self._value)

    def lines(self, block: bytes) -> bytes:
        """Whole lines, each without the secrets as `data` would give it: one look at the block
        first, since most blocks hold no secret at all."""
        if self._bytes is None or not self._may_hold(block) or not self._bytes.search(block):
            return block
        return b"\n".join(self.data(line) for line in block.split(b"\n"))

    def _may_hold(self, data: bytes) -> bool:
        """A quick look before the full pattern, which costs a lot more on every line of a stream."""
        if b"\\" in data and (self._short_escapable or b"\\u" in data):
            return True
        return any(raw in data for raw in self._raw)

    def value(self, value: Any) -> Any:
        """A parsed JSON value (a request body) with the secrets taken out of every string in it,
        keys included."""
        return self._value(value) if self else value

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key) if isinstance(key, str) else key: self._value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._value(item) for item in value]
        return value


def credentials_in(headers: Mapping[str, str]) -> list[str]:
    """The credential values among request headers: the X-API-KEY, and an Authorization header
    both whole and without its scheme (`Bearer ...`), since a server may echo either."""
    found: list[str] = []
    for name in _CREDENTIAL_HEADERS:
        value = headers.get(name)
        if not value:
            continue
        found.append(value)
        _scheme, _, token = value.partition(" ")
        if token.strip() and name != "x-api-key":
            found.append(token.strip())
    return found


class ScrubbedLines:
    """Writes a byte stream through `write` a whole line at a time, each line scrubbed.

    For passing a live stream on (stdout) while keeping the key out of it: a chunk may end in the
    middle of the key, so bytes wait for their newline; `finish()` writes what is left.
    """

    def __init__(self, write: Callable[[bytes], None], scrubber: SecretScrubber) -> None:
        self._write = write
        self._scrubber = scrubber
        self._splitter = LineSplitter()

    def feed(self, chunk: bytes) -> None:
        if not self._scrubber:
            self._write(chunk)
            return
        lines = self._splitter.feed(chunk)
        if lines:
            self._write(b"".join(self._scrubber.data(line.data) + b"\n" for line in lines))

    def finish(self) -> None:
        last = self._splitter.finish()
        if last is not None:
            self._write(self._scrubber.data(last.data))


def _any_escaping(secret: str) -> str:
    """A pattern matching `secret` with each character raw or escaped as JSON may write it, at any
    nesting depth (each level of nesting escapes the backslashes once more)."""
    return "".join(_one_char(char) for char in secret)


def _one_char(char: str) -> str:
    forms = [re.escape(char)]
    code = ord(char)
    if code > 0xFFFF:
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms.append(_unicode_escape(high) + _unicode_escape(low))
    else:
        forms.append(_unicode_escape(code))
    if char in _SHORT_ESCAPES:
        forms.append(r"\\+" + re.escape(_SHORT_ESCAPES[char]))
    return "(?:" + "|".join(forms) + ")"


def _unicode_escape(code: int) -> str:
    return r"\\+u" + "".join(f"[{digit.lower()}{digit.upper()}]" if digit.isalpha() else digit for digit in f"{code:04x}")


def _scrubbed(data: AnyStr, pattern: re.Pattern[AnyStr], marker: AnyStr, scrub_value: Callable[[Any], Any]) -> AnyStr:
    edited = pattern.sub(marker, data)
    original = _parsed(data)
    if original is _NOT_JSON or _parsed(edited) is not _NOT_JSON:
        return edited
    rewritten = json.dumps(scrub_value(original), ensure_ascii=False, separators=(",", ":"))
    return rewritten if isinstance(data, str) else rewritten.encode("utf-8")  # type: ignore[return-value]


_NOT_JSON = object()


def _parsed(data: str | bytes) -> Any:
    """The JSON value `data` holds, or `_NOT_JSON`."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON
