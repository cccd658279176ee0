"""Executing a workflow over HTTP and recording its stream as it flows.

We read raw bytes with httpx and split lines ourselves: the official client drops every line it
cannot parse and splits on Unicode line separators inside strings. An execution is never retried:
executing a workflow is not idempotent, so a failure is recorded and reported, not repeated.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from recorder import __version__
from recorder.model.events import ParsedEvent, RejectedLine
from recorder.model.secrets import SecretScrubber
from recorder.store import FlushPolicy, Outcome, RecordingResult, Store
from recorder.stream.sink import SinkFailed, StreamSink

DEFAULT_BASE_URL = "https://predict.vellum.ai"
BASE_URL_ENV = "VELLUM_PREDICT_URL"
API_KEY_ENV = "VELLUM_API_KEY"
STREAM_PATH = "/v1/execute-workflow-stream"
ERROR_BODY_LIMIT = 64 * 1024
# An error body is read this far past the limit before it is scrubbed and cut, so a key that starts
# before the cut is found whole (even written with every character JSON-escaped) and leaves no prefix.
ERROR_BODY_READ = ERROR_BODY_LIMIT + 8 * 1024


class MissingApiKey(RuntimeError):
    """VELLUM_API_KEY is not set."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to connect, and to wait for the next bytes (before the first one and between events).

    The read timeout is long by default: a prompt node may think for minutes without streaming.
    """

    connect: float = 10.0
    read: float = 300.0

    def as_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.connect, pool=self.connect)


@dataclass(slots=True)
class LiveResult:
    """How one recorded execution went, for the caller to report."""

    recording: RecordingResult
    url: str
    http_status: int | None
    error: str | None

    @property
    def outcome(self) -> str:
        return self.recording.outcome

    @property
    def execution_id(self) -> str | None:
        ids = self.recording.execution_ids
        return ids[0] if ids else None


def api_key_from_env() -> str:
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise MissingApiKey(f"set {API_KEY_ENV} to your Vellum API key (it is read from the environment only, never stored)")
    return key


def base_url_from_env(explicit: str | None = None) -> str:
    return (explicit or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")


def execute_and_record(
    store: Store,
    request_body: dict[str, Any],
    *,
    api_key: str,
    base_url: str,
    timeouts: Timeouts = Timeouts(),
    policy: FlushPolicy | None = None,
    on_parsed: Callable[[ParsedEvent | RejectedLine], None] | None = None,
    on_bytes: Callable[[bytes], None] | None = None,
    on_commit: Callable[[list[int]], None] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> LiveResult:
    """POST the request, record every line as it arrives, and say how the stream ended.

    KeyboardInterrupt and SystemExit (SIGTERM) are recorded as `interrupted`, then re-raised.
    The API key is scrubbed from whatever a server echoes of it: lines, error bodies, messages.
    """
    url = f"{base_url}{STREAM_PATH}"
    secrets = SecretScrubber([api_key])
    sink = StreamSink(store, source=url, request=request_body, policy=policy, on_parsed=on_parsed, on_commit=on_commit, secrets=secrets)
    headers = {"X-API-KEY": api_key, "User-Agent": f"workflow-recorder/{__version__}", "Accept": "application/x-ndjson"}
    started = False  # response headers arrived: from here on a failure cuts a stream
    try:
        with httpx.Client(timeout=timeouts.as_httpx(), transport=transport) as client:
            with client.stream("POST", url, json=request_body, headers=headers) as response:
                started = True
                if not response.is_success:
                    return _http_error(sink, url, response, secrets)
                for chunk in response.iter_bytes():
                    if on_bytes is not None:
                        on_bytes(chunk)
                    sink.feed(chunk)
        result = sink.close(Outcome.COMPLETE, http_status=response.status_code)
        return LiveResult(result, url, response.status_code, _cut_message(result))
    except (KeyboardInterrupt, SystemExit) as exc:
        signal_name = "SIGINT (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else "SIGTERM"
        sink.close(Outcome.INTERRUPTED, error=f"interrupted by {signal_name}; everything received was kept")
        raise
    except SinkFailed:
        # The store itself failed: nothing more can be recorded, so say so rather than carry on.
        raise
    except httpx.HTTPError as exc:
        if started:
            message = secrets.text(f"stream cut after {sink.lines_seen} lines: {_describe(exc, timeouts, streaming=True)}")
            result = sink.close(Outcome.CUT, http_status=response.status_code, error=message)
            return LiveResult(result, url, response.status_code, message)
        message = secrets.text(f"{url}: {_describe(exc, timeouts, streaming=False)}")
        result = sink.close(Outcome.CONNECTION_ERROR, error=message)
        return LiveResult(result, url, None, message)
    except Exception as exc:
        # Anything unforeseen: keep what was received, say why the recording stopped, re-raise.
        sink.close(Outcome.CUT, error=f"the recorder failed: {exc.__class__.__name__}: {exc}")
        raise


def scrubbed_error_body(body: bytes, secrets: SecretScrubber | None) -> str:
    """The first ERROR_BODY_LIMIT bytes of an error body (read up to ERROR_BODY_READ), as text,
    scrubbed before the cut so that a key straddling it leaves no prefix."""
    if secrets is not None:
        body = secrets.data(body)
    return body[:ERROR_BODY_LIMIT].decode("utf-8", errors="replace")


def _http_error(sink: StreamSink, url: str, response: httpx.Response, secrets: SecretScrubber) -> LiveResult:
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= ERROR_BODY_READ:
            break
    text = scrubbed_error_body(body, secrets)
    reason = response.reason_phrase or "error"
    one_line = " ".join(text.split())
    message = f"HTTP {response.status_code} {reason} from {url}: {one_line[:300] or '(empty body)'}"
    result = sink.close(Outcome.HTTP_ERROR, http_status=response.status_code, error=f"HTTP {response.status_code} {reason}: {text}")
    return LiveResult(result, url, response.status_code, message)


def _cut_message(result: RecordingResult) -> str | None:
    if result.outcome == Outcome.CUT:
        return "the stream ended before the workflow's terminal event (cut)"
    return None


def _describe(exc: BaseException, timeouts: Timeouts | None = None, *, streaming: bool = True) -> str:
    """One line a person can act on, for the transport failures that happen in production.

    `timeouts` are the ones this recorder set (None when someone else's client read the stream).
    """
    detail = str(exc) or exc.__class__.__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection within {timeouts.connect:g} s (connect timeout)" if timeouts else f"connect timeout ({detail})"
    if isinstance(exc, httpx.ReadTimeout):
        if timeouts is None:
            return f"no data within the client's read timeout ({detail})"
        if streaming:
            return f"no data for {timeouts.read:g} s (read timeout); the workflow may still be running: `recorder reconcile` asks for its final status"
        return f"no response within {timeouts.read:g} s (read timeout); the workflow may have started: `recorder reconcile` can check"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server closed the connection mid-response ({detail})"
    if isinstance(exc, httpx.ReadError):
        return f"the connection was reset ({detail})"
    if isinstance(exc, httpx.DecodingError):
        return f"the body could not be decoded ({detail})"
    if isinstance(exc, httpx.ConnectError):
        lowered = detail.lower()
        if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
            return f"TLS handshake failed ({detail})"
        if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered or "name resolution" in lowered:
            return f"the host name could not be resolved ({detail})"
        if "refused" in lowered:
            return f"connection refused ({detail})"
        return f"cannot connect ({detail})"
    if isinstance(exc, asyncio.CancelledError):
        return "the task was cancelled"
    return f"{exc.__class__.__name__}: {detail}"


describe_failure = _describe
