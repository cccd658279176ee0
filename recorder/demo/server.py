"""A loopback stand-in for Vellum's predict API: the demo's workload and the tests' faults.

It speaks the real endpoints over a real socket (chunked NDJSON, line by line with the recorded
gaps), so the recorder's own HTTP path is what runs against it:

- `POST /v1/execute-workflow-stream` (the v1 stream) and `POST /v1/workflow-deployments/{id}/execute-stream`
  (the v2 stream): the scenario registered for the request (or the next queued one), with its
  faults: an error status, a slow first byte, a stall, a cut or a reset;
- `GET /v1/workflows/executions/{id}/status`: the registered status answer;
- `POST /v1/submit-workflow-execution-actuals`: accepted (204), kept for inspection.

It binds to 127.0.0.1 only and never forwards anything anywhere.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from recorder.model.endpoints import ACTUALS_PATH, API_KEY_HEADER, STATUS_PATH, stream_of_path
from recorder.model.request import RecordedRequest

STATUS_PREFIX, STATUS_SUFFIX = STATUS_PATH.split("{execution_id}")


@dataclass
class Scenario:
    """What the server answers to one stream request, faults included."""

    lines: list[bytes] = field(default_factory=list)
    offsets_s: list[float] | None = None  # per line, from the request; None: as fast as possible
    speed: float = 1.0  # divides the offsets
    status: int = 200
    error_body: bytes = b""
    error_content_type: str = "application/json"
    first_byte_delay_s: float = 0.0  # before the response headers
    stall_after: int | None = None  # stop sending after this many lines, for `stall_s`
    stall_s: float = 0.0
    cut_after: int | None = None  # close the connection (no final chunk) after this many lines
    reset_after: int | None = None  # reset the connection (TCP RST) after this many lines
    lines_per_chunk: int = 1

    @classmethod
    def from_text_lines(cls, lines: list[str], **options: Any) -> Scenario:
        return cls(lines=[line.encode("utf-8") for line in lines], **options)


def request_key(body: Any, path: str | None = None) -> str:
    """Requests match scenarios by the canonical JSON of their kept form (`RecordedRequest`): a v2
    request sent to `path` is keyed with the deployment its path names, as `Recorder.record` is given it."""
    if isinstance(body, dict):
        kept = RecordedRequest.from_exchange(path, body)
        body = kept.body if kept is not None else body
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


class LoopbackVellum:
    """Start with `with LoopbackVellum() as server:`; `server.base_url` is what clients point at."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self._by_request: dict[str, Scenario] = {}
        self._queue: deque[Scenario] = deque()
        self.statuses: dict[str, tuple[int, Any]] = {}
        self.actuals: list[dict[str, Any]] = []
        self.actuals_status: int = 204
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.lines_sent = 0  # across all streams; tests wait on it to know what a client has
        self._lock = threading.Lock()
        self._httpd = _QuietServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def expect(self, request_body: Any, scenario: Scenario) -> None:
        """Answer this exact request with the scenario (any number of times). A v2 request is given
        in the form `Recorder.record` takes: the deployment named in the body, `"stream": "v2"`."""
        with self._lock:
            self._by_request[request_key(request_body)] = scenario

    def enqueue(self, scenario: Scenario) -> None:
        """Answer the next unmatched stream request with the scenario (once)."""
        with self._lock:
            self._queue.append(scenario)

    def set_status(self, execution_id: str, answer: Any, http_status: int = 200) -> None:
        self.statuses[execution_id] = (http_status, answer)

    def scenario_for(self, body: bytes, path: str | None = None) -> Scenario | None:
        try:
            key = request_key(json.loads(body), path)
        except ValueError:
            key = None
        with self._lock:
            if key is not None and key in self._by_request:
                return self._by_request[key]
            return self._queue.popleft() if self._queue else None

    def start(self) -> LoopbackVellum:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="loopback-vellum", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LoopbackVellum:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client that hangs up mid-stream is a scenario here, not a server error."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(server: LoopbackVellum) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        vellum = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    vellum: LoopbackVellum

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the demo and the tests print what matters themselves."""

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorised(self) -> bool:
        if self.vellum.api_key is None or self.headers.get(API_KEY_HEADER) == self.vellum.api_key:
            return True
        self._send_json(403, {"detail": "Invalid API key"})
        return False

    def _send_json(self, status: int, value: Any) -> None:
        payload = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.vellum.requests.append(("GET", self.path, dict(self.headers), b""))
        if not self._authorised():
            return
        if not self.path.startswith(STATUS_PREFIX) or not self.path.endswith(STATUS_SUFFIX):
            self._send_json(404, {"detail": "Not found."})
            return
        execution_id = self.path[len(STATUS_PREFIX) : -len(STATUS_SUFFIX)]
        status, answer = self.vellum.statuses.get(execution_id, (404, {"detail": "Workflow execution not found."}))
        self._send_json(status, answer)

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self._body()
        self.vellum.requests.append(("POST", self.path, dict(self.headers), body))
        if not self._authorised():
            return
        if self.path == ACTUALS_PATH:
            self.vellum.actuals.append(json.loads(body or b"{}"))
            self.send_response(self.vellum.actuals_status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if stream_of_path(self.path) is None:
            self._send_json(404, {"detail": "Not found."})
            return
        scenario = self.vellum.scenario_for(body, self.path)
        if scenario is None:
            self._send_json(404, {"detail": "No workflow deployment matches this request (loopback server)."})
            return
        self._stream(scenario)

    def _stream(self, scenario: Scenario) -> None:
        if scenario.first_byte_delay_s:
            time.sleep(scenario.first_byte_delay_s)
        if scenario.status >= 400:
            self.send_response(scenario.status)
            self.send_header("Content-Type", scenario.error_content_type)
            self.send_header("Content-Length", str(len(scenario.error_body)))
            self.end_headers()
            self.wfile.write(scenario.error_body)
            return
        self.send_response(scenario.status)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        started = time.monotonic()
        pending: list[bytes] = []
        for index, line in enumerate(scenario.lines):
            if index in (scenario.cut_after, scenario.reset_after):
                self._flush_chunk(pending)
                self._abort(reset=index == scenario.reset_after)
                return
            if index == scenario.stall_after:
                self._flush_chunk(pending)
                time.sleep(scenario.stall_s)
            if scenario.offsets_s is not None:
                wait = scenario.offsets_s[index] / scenario.speed - (time.monotonic() - started)
                if wait > 0:
                    self._flush_chunk(pending)
                    time.sleep(wait)
            pending.append(line + b"\n")
            if len(pending) >= scenario.lines_per_chunk:
                self._flush_chunk(pending)
        self._flush_chunk(pending)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _flush_chunk(self, pending: list[bytes]) -> None:
        if not pending:
            return
        data = b"".join(pending)
        sent = len(pending)
        pending.clear()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
        with self.vellum._lock:
            self.vellum.lines_sent += sent

    def _abort(self, *, reset: bool) -> None:
        """End the connection mid-body: a clean close (no final chunk) or a TCP reset."""
        self.wfile.flush()
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()
        self.close_connection = True
