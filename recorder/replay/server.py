"""`recorder serve`: recorded exchanges served over HTTP, as Vellum's predict API would serve them.

Point any client at it (`VellumEnvironment(predict="http://127.0.0.1:PORT", ...)`): a stream is
answered with the recorded bytes, chunked, at the chosen timing; a cut recording breaks the
connection where the original broke. It binds to 127.0.0.1 unless another address is given, and
never forwards anything anywhere. API keys are accepted and ignored, never logged.

Requests are read strictly, because a replay server is often reachable by more than the test that
started it: a body is framed by a valid Content-Length or by chunked transfer coding (never both),
and is at most `MAX_BODY_BYTES` (recorded requests are small JSON documents). Anything else is
answered 400, 411, 413 or 501 and the connection closed, so no leftover bytes are ever read as the
next request.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from recorder.model.vocabulary import Outcome
from recorder.replay.library import Library
from recorder.replay.matching import MatchRule
from recorder.replay.responder import Answer, Responder, json_answer
from recorder.replay.timing import Timing, sleep_until

LOOPBACK = "127.0.0.1"
# Recorded requests are JSON documents of a few kilobytes; 4 MiB leaves room for large inputs while
# keeping a hostile or mistaken client from filling memory.
MAX_BODY_BYTES = 4 * 1024 * 1024
# Pending connections the kernel keeps while every handler thread is busy starting: a test suite
# opening a few hundred connections at once must not see refusals.
LISTEN_BACKLOG = 128
_DIGITS = re.compile(r"[0-9]+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
_LINE_LIMIT = 8192
_TRAILER_LIMIT = 64


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
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.responder = Responder(library, match=match, timing=timing)
        self.on_served = on_served
        self.max_body_bytes = max_body_bytes
        self._httpd = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None
        # Whether a serving loop was (or is about to be) entered: `shutdown()` waits for the loop
        # to acknowledge, so calling it when no loop ever ran would wait forever.
        self._serving = False

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}"

    def serve_forever(self) -> None:
        self._serving = True
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> ReplayServer:
        self._serving = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="recorder-replay-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call without `start()` and more than once."""
        if self._serving:
            self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

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
        self._handle()

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._handle()

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except _Refused as refused:
            self._refuse(refused)
            return
        self._answer(body)

    def handle_expect_100(self) -> bool:
        """A client that asks before sending its body hears the refusal instead of "100 Continue"."""
        try:
            self._framing()
        except _Refused as refused:
            self._refuse(refused)
            return False
        return super().handle_expect_100()

    def _framing(self) -> int | None:
        """The body's length from the headers, None for a chunked body (RFC 9112 section 6);
        `_Refused` for anything ambiguous, unsupported or over the cap."""
        limit = self.replay.max_body_bytes
        codings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if codings:
            if lengths:
                raise _Refused(400, "a request cannot have both Transfer-Encoding and Content-Length")
            if [c.strip().lower() for c in ",".join(codings).split(",")] != ["chunked"]:
                raise _Refused(501, f"transfer coding {', '.join(codings)!r} is not supported (only chunked)")
            return None
        if not lengths:
            if self.command == "POST":
                raise _Refused(411, "a POST needs a Content-Length or chunked transfer coding")
            return 0
        values = {value.strip() for value in ",".join(lengths).split(",")}
        if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
            raise _Refused(400, "Content-Length must be one non-negative integer")
        length = int(next(iter(values)))
        if length > limit:
            raise _Refused(413, f"the body is {length} bytes; at most {limit} are accepted")
        return length

    def _read_body(self) -> bytes:
        """The request body, framed as the headers say; `_Refused` when it cannot be read safely."""
        length = self._framing()
        if length is None:
            return _read_chunked(self.rfile, self.replay.max_body_bytes)
        body = self.rfile.read(length)
        if len(body) != length:
            raise _Refused(400, f"the body ended after {len(body)} of {length} bytes")
        return body

    def _refuse(self, refused: _Refused) -> None:
        """Answer a request that could not be read, and close: its body's end is unknown."""
        self.close_connection = True
        path = self.path.split("?", 1)[0]
        if self.replay.on_served is not None:
            self.replay.on_served(Served(self.command, path, refused.status, None, refused.detail))
        self._send(json_answer(refused.status, {"detail": refused.detail}), close=True)

    def _answer(self, body: bytes) -> None:
        received = time.monotonic()
        path = self.path.split("?", 1)[0]
        answer = self.replay.responder.answer(self.command, path, body)
        if self.replay.on_served is not None:
            detail = answer.no_match.message if answer.no_match is not None else None
            self.replay.on_served(Served(self.command, path, answer.status, answer.replayed_from, detail))
        if answer.first_byte_delay_s:
            time.sleep(answer.first_byte_delay_s)
        if not answer.streamed:
            self._send(answer)
            return
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._stream(answer, received + answer.first_byte_delay_s)

    def _send(self, answer: Answer, *, close: bool = False) -> None:
        """An answer with a Content-Length body."""
        body = answer.body
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, answer: Answer, started: float) -> None:
        write = self.wfile.write
        for chunk in answer.chunks:
            sleep_until(started + chunk.at_s)
            if chunk.data:
                write(b"%x\r\n%s\r\n" % (len(chunk.data), chunk.data))
        if answer.ending == Outcome.CUT:
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


class _Refused(Exception):
    """A request whose body cannot be read safely: answered with `status` and the connection closed."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _read_chunked(rfile: Any, limit: int) -> bytes:
    """A chunked body (RFC 9112 section 7.1): sizes in hex, extensions ignored, trailers read and dropped."""
    body = bytearray()
    while True:
        line = rfile.readline(_LINE_LIMIT + 1)
        match = _CHUNK_SIZE.fullmatch(line)
        if match is None:
            raise _Refused(400, "malformed chunk size line in a chunked body")
        size = int(match.group(1), 16)
        if size == 0:
            break
        if len(body) + size > limit:
            raise _Refused(413, f"the chunked body exceeds {limit} bytes")
        data = rfile.read(size)
        if len(data) != size or rfile.read(2) != b"\r\n":
            raise _Refused(400, "a chunk of the chunked body is truncated or not followed by CRLF")
        body += data
    for _ in range(_TRAILER_LIMIT):
        line = rfile.readline(_LINE_LIMIT + 1)
        if line in (b"\r\n", b"\n"):
            return bytes(body)
        if not line or len(line) > _LINE_LIMIT:
            break
    raise _Refused(400, "the trailer section of the chunked body does not end")
