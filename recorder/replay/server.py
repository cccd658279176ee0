"""`recorder serve`: recorded exchanges served over HTTP, as Vellum's predict API would serve them.

Point any client at it (`VellumEnvironment(predict="http://127.0.0.1:PORT", ...)`): a stream is
answered with the recorded bytes, chunked, at the chosen timing; a cut recording breaks the
connection where the original broke. It binds to 127.0.0.1 unless another address is given, and
never forwards anything anywhere. API keys are accepted and ignored, never logged.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from recorder.replay.library import Library
from recorder.replay.matching import MatchRule
from recorder.replay.responder import Answer, Responder
from recorder.replay.timing import Timing

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Served:
    """One answered request, for a log line (never the request headers: they carry the API key)."""

    method: str
    path: str
    status: int
    replayed_from: str | None
    detail: str | None  # the no-match message, when nothing matched


class ReplayServer:
    """`with ReplayServer(library) as server:` serves on `server.base_url` from a thread;
    `serve_forever()` serves on the calling thread (the CLI)."""

    def __init__(
        self,
        library: Library,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        match: MatchRule = MatchRule(),
        timing: Timing = Timing(),
        on_served: Callable[[Served], None] | None = None,
    ) -> None:
        self.responder = Responder(library, match=match, timing=timing)
        self.on_served = on_served
        self._httpd = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}"

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(target=self.serve_forever, name="recorder-replay-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-stream is normal for a replay, not a server error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        replay = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "recorder-replay"
    # Headers, chunks and the end of the body are separate small writes: without this, Nagle's
    # algorithm holds each one back until the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True
    replay: ReplayServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: `on_served` reports what matters, without headers."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._answer(b"")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(self.rfile.read(length) if length else b"")

    def _answer(self, body: bytes) -> None:
        received = time.monotonic()
        path = self.path.split("?", 1)[0]
        answer = self.replay.responder.answer(self.command, path, body)
        if self.replay.on_served is not None:
            detail = answer.no_match.message if answer.no_match is not None else None
            self.replay.on_served(Served(self.command, path, answer.status, answer.replayed_from, detail))
        if answer.first_byte_delay_s:
            time.sleep(answer.first_byte_delay_s)
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        if not answer.streamed:
            body = answer.body
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._stream(answer, received + answer.first_byte_delay_s)

    def _stream(self, answer: Answer, started: float) -> None:
        write = self.wfile.write
        for chunk in answer.chunks:
            wait = started + chunk.at_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if chunk.data:
                write(b"%x\r\n%s\r\n" % (len(chunk.data), chunk.data))
        if answer.cut:
            self._break_connection()
            return
        write(b"0\r\n\r\n")

    def _break_connection(self) -> None:
        """End mid-body, as a dropped connection does: no final chunk, then close."""
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()
        self.close_connection = True
