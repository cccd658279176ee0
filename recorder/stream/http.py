"""Executing a workflow over HTTP and recording its stream as it flows: `recorder record`.

The execution goes out as an application's would, through an httpx client whose transport is a
`RecordingTransport` around the real one; so a live recording and an application's recording are
one mechanism, and this module only reads the body and says how it went. We read raw bytes and
leave the line splitting to the recorder: the official client drops every line it cannot parse and
splits on Unicode line separators inside strings. An execution is never retried: executing a
workflow is not idempotent, so a failure is recorded and reported, not repeated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from recorder.model.endpoints import WorkflowStream
from recorder.model.events import ParsedEvent, RejectedLine
from recorder.model.request import wire_request
from recorder.model.secrets import SecretScrubber
from recorder.store import FlushPolicy, Outcome, RecordingResult, Store
from recorder.stream import vellum_api
from recorder.stream.failures import ERROR_BODY_READ, scrubbed_error_body
from recorder.stream.instrument import RECORDING, instrument
from recorder.stream.relay import StreamRelay
from recorder.stream.vellum_api import Timeouts


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


def execute_and_record(
    store: Store,
    request_body: dict[str, Any],
    *,
    api_key: str,
    stream: WorkflowStream | str = WorkflowStream.V1,
    base_url: str,
    timeouts: Timeouts = Timeouts(),
    policy: FlushPolicy | None = None,
    on_parsed: Callable[[ParsedEvent | RejectedLine], None] | None = None,
    on_bytes: Callable[[bytes], None] | None = None,
    on_commit: Callable[[list[int]], None] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> LiveResult:
    """POST the request, record every line as it arrives, and say how the stream ended.

    `request_body` names its deployment the v1 way; `stream` says which endpoint executes it (a
    body saying `"stream": "v2"` goes to v2 whatever `stream` says); see `wire_request`.

    `transport` does the network work under the recording (default: httpx's). KeyboardInterrupt
    and SystemExit (SIGTERM) are recorded as `interrupted`, committed, then re-raised. The API key
    is scrubbed from whatever a server echoes of it: lines, error bodies, messages. A store that
    cannot take a recording raises StoreUnavailable before anything is sent; one that fails
    midway raises SinkFailed once the stream is over.
    """
    path, body = wire_request(request_body, stream)
    url = f"{base_url}{path}"
    store.check_writable()
    with vellum_api.client(timeouts=timeouts, transport=transport) as http:
        instrument(http, store, policy=policy, on_parsed=on_parsed, on_commit=on_commit)
        request = vellum_api.workflow_stream_request(http, base_url, api_key, path, body)
        try:
            http_status, message = _read(http, request, url, SecretScrubber([api_key]), on_bytes)
        finally:
            # However the stream ended (an interruption included), the transport recorded how: wait
            # for that to be committed before the client closes, and before an exception leaves.
            started: StreamRelay | None = request.extensions.get(RECORDING)
            if started is not None:
                started.wait()
    recording: StreamRelay = request.extensions[RECORDING]
    result = recording.result()
    if message is None:
        message = recording.error or (_CUT_WITHOUT_ERROR if result.outcome == Outcome.CUT else None)
    return LiveResult(result, url, http_status, message)


_CUT_WITHOUT_ERROR = "the stream ended before the workflow's terminal event (cut)"


def _read(
    http: httpx.Client, request: httpx.Request, url: str, secrets: SecretScrubber, on_bytes: Callable[[bytes], None] | None
) -> tuple[int | None, str | None]:
    """Send the request and read the body through: the HTTP status (None: no response) and, for an
    error status, the message. A transport failure is not raised: the recording holds it, and
    `result()` raises the store's."""
    try:
        response = http.send(request, stream=True)
    except httpx.HTTPError:
        return None, None
    recording: StreamRelay = request.extensions[RECORDING]
    try:
        if not response.is_success:
            return response.status_code, _http_error_message(url, response, secrets)
        for chunk in response.iter_bytes():
            if on_bytes is not None:
                on_bytes(chunk)
            if recording.failed:
                break  # nothing more can be recorded: stop here rather than carry on unrecorded
    except httpx.HTTPError:
        pass
    finally:
        response.close()
    return response.status_code, None


def _http_error_message(url: str, response: httpx.Response, secrets: SecretScrubber) -> str:
    """Reads the start of the error body (so the recording gets it too) and says it in one line."""
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= ERROR_BODY_READ:
            break
    one_line = " ".join(scrubbed_error_body(body, secrets).split())
    return f"HTTP {response.status_code} {response.reason_phrase or 'error'} from {url}: {one_line[:300] or '(empty body)'}"
