"""The cassette: one recorded exchange with a Vellum endpoint, as a documented, versioned file.

A cassette keeps what a replay needs to give an application exactly what it got: the request
(never an API key: the key travels in a header, and headers of the request are not kept), the
response status and headers, every received line verbatim with its arrival offset, and how the
stream ended. `Cassette.body()` is the response body byte for byte.

The file is one JSON document (UTF-8) laid out for review and diffs, one body line per file line:

    {
      "format": "vellum-workflow-cassette",       <- always the first key: how a file is recognised
      "version": 1,
      "execution_id": "37626da9-...",              <- the root execution the stream carries, or null
      "recorded_at": "2025-06-02T09:00:00.120000+00:00",   <- when the request was sent
      "source": "https://predict.vellum.ai/v1/execute-workflow-stream",
      "request": {"method": "POST", "path": "/v1/execute-workflow-stream", "redacted": [], "body": {...}},
      "response": {
        "status": 200,
        "headers": {"content-type": "application/x-ndjson"},
        "outcome": "complete",                     <- complete | cut | http_error | interrupted | ...
        "error": null,
        "ends_with_newline": true,
        "lines": [
          [1250, "{\\"execution_id\\":...}"],          <- [arrival offset in µs, the line without its \\n]
          [1250, ""],
          [9800, {"base64": "..."}]                <- a line that is not valid UTF-8, exactly
        ]
      },
      "fault": null                                <- or {"first_byte_delay_s", "status", "body", "cut_after_lines"}
    }

`request.path` says which stream the exchange went to (recorder.model.endpoints): the v1
`/v1/execute-workflow-stream`, its deployment in the body, or the v2
`/v1/workflow-deployments/<id or name>/execute-stream`, its deployment in the path and its body as
the official client sends it (inputs as a `{name: value}` object).

Nothing here touches a database or the network: the store (`recorder.replay.export`,
`recorder.stream.ingest`), the replayers (`recorder.replay.plan` turns a cassette and its fault
into what a replay sends) and the cassette folder (`recorder.replay.library.FolderLibrary`) build
on it.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from recorder.model.endpoints import STREAM_PATH
from recorder.model.timestamps import TimestampError, parse_ts_us, us_to_iso
from recorder.model.vocabulary import Outcome

FORMAT = "vellum-workflow-cassette"
VERSION = 1
SUFFIX = ".cassette.json"


NDJSON = "application/x-ndjson"
REDACTED = "[REDACTED]"

# A file is a cassette when its first key is the format marker (the writer always puts it first).
_HEAD = re.compile(rb'^(?:\xef\xbb\xbf)?\s*\{\s*"format"\s*:\s*"' + re.escape(FORMAT.encode()) + rb'"')
# Raw line and paragraph separators are valid inside JSON strings, but line-oriented tools cut there.
_SEPARATORS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


class CassetteError(ValueError):
    """The data is not a cassette this recorder can read."""


@dataclass(frozen=True, slots=True)
class Line:
    """One received line: its bytes without the `\\n`, and when it arrived (µs after the request)."""

    at_us: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Fault:
    """What a replay does beyond the recorded bytes, to reproduce what fails in production.

    Applied in this order: wait `first_byte_delay_s` before answering; answer `status` (with `body`,
    default `{"detail": ...}`) instead of the recorded response; or send the recorded lines and cut
    the connection (no end of body) after `cut_after_lines` of them.
    """

    first_byte_delay_s: float = 0.0
    status: int | None = None
    body: str | None = None
    cut_after_lines: int | None = None

    def error_body(self) -> bytes:
        if self.body is not None:
            return self.body.encode("utf-8")
        return json.dumps({"detail": f"replayed HTTP {self.status} (a fault in the cassette)"}).encode()


@dataclass(frozen=True, slots=True)
class Request:
    """What was asked. `redacted` names the keys whose values were replaced by `[REDACTED]`."""

    method: str = "POST"
    path: str = STREAM_PATH
    body: dict[str, Any] | None = None
    redacted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Response:
    """What came back, and how the stream ended (`outcome` and `error` as the recorder saw them).
    `outcome` is an `Outcome`, or the string a newer recorder wrote, kept as it is."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: {"content-type": NDJSON})
    lines: tuple[Line, ...] = ()
    ends_with_newline: bool = True
    outcome: Outcome | str = Outcome.COMPLETE
    error: str | None = None

    def body(self, line_count: int | None = None) -> bytes:
        """The body as received; with `line_count`, only that many lines, each with its `\\n`."""
        if line_count is not None and line_count < len(self.lines):
            return b"".join(line.data + b"\n" for line in self.lines[:line_count])
        if not self.lines:
            return b""
        return b"\n".join(line.data for line in self.lines) + (b"\n" if self.ends_with_newline else b"")

    def line_end(self, index: int) -> bytes:
        """What follows line `index` on the wire: `\\n`, or nothing after an unterminated last line."""
        return b"" if index == len(self.lines) - 1 and not self.ends_with_newline else b"\n"


@dataclass(frozen=True, slots=True)
class Cassette:
    request: Request
    response: Response
    execution_id: str | None = None
    recorded_at_us: int | None = None
    source: str | None = None
    fault: Fault | None = None

    def body(self) -> bytes:
        """The response body exactly as it was received."""
        return self.response.body()

    def with_fault(self, **fault: Any) -> Cassette:
        """A copy that replays with this fault (see `Fault`), e.g. `with_fault(cut_after_lines=3)`."""
        return replace(self, fault=Fault(**fault))

    def adding_fault(self, **changes: Any) -> Cassette:
        """A copy whose fault has these fields set and keeps the rest of the fault it already has."""
        return replace(self, fault=replace(self.fault or Fault(), **changes))

    # -- the file ---------------------------------------------------------------------------------

    def dumps(self) -> bytes:
        """The cassette file: stable key order, one body line per file line."""
        token = f"@lines-{uuid.uuid4().hex}@"
        document = {
            "format": FORMAT,
            "version": VERSION,
            "execution_id": self.execution_id,
            "recorded_at": us_to_iso(self.recorded_at_us),
            "source": self.source,
            "request": {
                "method": self.request.method,
                "path": self.request.path,
                "redacted": list(self.request.redacted),
                "body": self.request.body,
            },
            "response": {
                "status": self.response.status,
                "headers": dict(self.response.headers),
                "outcome": self.response.outcome,
                "error": self.response.error,
                "ends_with_newline": self.response.ends_with_newline,
                "lines": token,
            },
            "fault": _fault_document(self.fault),
        }
        text = json.dumps(document, indent=2, ensure_ascii=False)
        rows = ",\n".join(f"      [{line.at_us}, {_line_document(line.data)}]" for line in self.response.lines)
        text = text.replace(f'"{token}"', f"[\n{rows}\n    ]" if rows else "[]")
        # A lone surrogate (only possible inside a string) is written as its JSON escape.
        return (text.translate(_SEPARATORS) + "\n").encode("utf-8", errors="backslashreplace")

    @classmethod
    def loads(cls, data: bytes | str) -> Cassette:
        try:
            document = json.loads(data)
        except ValueError as exc:
            raise CassetteError(f"not a cassette: the file is not JSON ({exc})") from exc
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise CassetteError(f'not a cassette: no "format": "{FORMAT}" marker')
        version = document.get("version")
        if version != VERSION:
            raise CassetteError(f"cassette version {version!r} is not readable by this recorder (it reads version {VERSION})")
        try:
            return _cassette_from(document)
        except (KeyError, TypeError, ValueError, TimestampError) as exc:
            raise CassetteError(f"malformed cassette: {exc}") from exc


def is_cassette(head: bytes) -> bool:
    """Whether bytes (the start of a file is enough) begin a cassette rather than a bare body."""
    return _HEAD.match(head) is not None


def read_cassette(path: str | Path) -> Cassette:
    file = Path(path)
    try:
        return Cassette.loads(file.read_bytes())
    except CassetteError as exc:
        raise CassetteError(f"{file}: {exc}") from exc


def write_cassette(cassette: Cassette, path: str | Path) -> Path:
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(cassette.dumps())
    return file


def lines_of_body(body: bytes, at_us: Iterable[int] | None = None) -> tuple[tuple[Line, ...], bool]:
    """A body as cassette lines (split on `\\n` only, as recorded) and whether it ends in `\\n`."""
    if not body:
        return (), True
    ends_with_newline = body.endswith(b"\n")
    parts = (body[:-1] if ends_with_newline else body).split(b"\n")
    offsets = list(at_us) if at_us is not None else [0] * len(parts)
    return tuple(Line(offset, data) for offset, data in zip(offsets, parts, strict=True)), ends_with_newline


def _line_document(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return json.dumps({"base64": base64.b64encode(data).decode("ascii")})
    return json.dumps(text, ensure_ascii=False)


def _fault_document(fault: Fault | None) -> dict[str, Any] | None:
    if fault is None:
        return None
    return {
        "first_byte_delay_s": fault.first_byte_delay_s,
        "status": fault.status,
        "body": fault.body,
        "cut_after_lines": fault.cut_after_lines,
    }


def _cassette_from(document: dict[str, Any]) -> Cassette:
    request = document["request"]
    response = document["response"]
    recorded_at = document.get("recorded_at")
    fault = document.get("fault")
    body = request.get("body")
    if body is not None and not isinstance(body, dict):
        raise ValueError("request.body must be a JSON object or null")
    headers = response.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError("response.headers must map names to strings")
    return Cassette(
        request=Request(
            method=str(request.get("method", "POST")).upper(),
            path=str(request.get("path", STREAM_PATH)),
            body=body,
            redacted=tuple(str(key) for key in request.get("redacted") or ()),
        ),
        response=Response(
            status=int(response.get("status", 200)),
            headers={str(name).lower(): value for name, value in headers.items()},
            lines=tuple(_line_from(index, row) for index, row in enumerate(response.get("lines") or ())),
            ends_with_newline=bool(response.get("ends_with_newline", True)),
            outcome=_outcome_from(str(response.get("outcome", Outcome.COMPLETE))),
            error=response.get("error"),
        ),
        execution_id=document.get("execution_id"),
        recorded_at_us=None if recorded_at is None else parse_ts_us(recorded_at)[0],
        source=document.get("source"),
        fault=None if fault is None else _fault_from(fault),
    )


def _line_from(index: int, row: Any) -> Line:
    if not isinstance(row, list) or len(row) != 2 or not isinstance(row[0], int) or isinstance(row[0], bool):
        raise ValueError(f"response.lines[{index}] must be [offset_us, text]")
    offset, value = row
    if offset < 0:
        raise ValueError(f"response.lines[{index}]: the offset must not be negative")
    if isinstance(value, str):
        if "\n" in value:
            raise ValueError(f"response.lines[{index}] contains a newline; one entry holds one line")
        try:
            return Line(offset, value.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ValueError(f"response.lines[{index}] holds a lone surrogate; write such a line as base64") from exc
    if isinstance(value, dict) and isinstance(value.get("base64"), str):
        data = base64.b64decode(value["base64"], validate=True)
        if b"\n" in data:
            raise ValueError(f"response.lines[{index}] contains a newline; one entry holds one line")
        return Line(offset, data)
    raise ValueError(f"response.lines[{index}] must hold a string or {{\"base64\": ...}}")


def _outcome_from(value: str) -> Outcome | str:
    try:
        return Outcome(value)
    except ValueError:
        return value


def _fault_from(document: Any) -> Fault:
    if not isinstance(document, dict):
        raise ValueError("fault must be an object or null")
    unknown = set(document) - {"first_byte_delay_s", "status", "body", "cut_after_lines"}
    if unknown:
        raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
    status = document.get("status")
    cut = document.get("cut_after_lines")
    if status is not None and not 400 <= int(status) <= 599:
        raise ValueError("fault.status must be an HTTP error status (400-599)")
    if cut is not None and int(cut) < 0:
        raise ValueError("fault.cut_after_lines must not be negative")
    return Fault(
        first_byte_delay_s=float(document.get("first_byte_delay_s") or 0.0),
        status=None if status is None else int(status),
        body=document.get("body"),
        cut_after_lines=None if cut is None else int(cut),
    )
