"""`recorder serve` facing clients that are not the official one: raw sockets sending malformed,
oversized, chunked or simply many requests, and cassette folders holding things that are not files.

Every wait is bounded by a socket timeout or a thread join timeout, so a hang fails the test
instead of stalling the suite.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from http.client import HTTPResponse
from pathlib import Path

import pytest

from recorder.model.cassette import STREAM_PATH, Cassette
from recorder.replay.library import CassetteLibrary, FolderLibrary
from recorder.replay.server import MAX_BODY_BYTES, ReplayServer, Served
from tests.test_replay_support import sample_cassette

TIMEOUT_S = 10.0
NAME = "exec_0003"


@pytest.fixture(scope="module")
def cassette(samples_dir: Path) -> Cassette:
    return sample_cassette(samples_dir, NAME)


@pytest.fixture
def served() -> list[Served]:
    return []


@pytest.fixture
def server(cassette: Cassette, served: list[Served]) -> Iterator[ReplayServer]:
    with ReplayServer(CassetteLibrary([cassette]), on_served=served.append, max_body_bytes=64 * 1024) as running:
        yield running


def connect(server: ReplayServer) -> socket.socket:
    host, port = server._httpd.server_address[:2]
    return socket.create_connection((host, port), timeout=TIMEOUT_S)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    response = HTTPResponse(sock)
    response.begin()
    body = response.read()
    return response.status, {name.lower(): value for name, value in response.getheaders()}, body


def exchange(server: ReplayServer, raw: bytes) -> tuple[int, dict[str, str], bytes, bytes]:
    """Send raw bytes on a fresh connection; the answer, then whatever follows it until the server closes."""
    with connect(server) as sock:
        sock.sendall(raw)
        status, headers, body = read_response(sock)
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    return status, headers, body, rest


def stream_request(body: bytes, *framing: str) -> bytes:
    head = [f"POST {STREAM_PATH} HTTP/1.1", "Host: replay", "Content-Type: application/json", *framing]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def chunked(body: bytes, size: int = 7) -> bytes:
    parts = [b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\nX-Trailer: yes\r\n\r\n"


# -- framing --------------------------------------------------------------------------------------


def test_a_chunked_request_body_is_read_whole_and_the_connection_stays_in_step(server: ReplayServer, cassette: Cassette, served: list[Served]) -> None:
    request = json.dumps(cassette.request.body).encode()
    with connect(server) as sock:
        sock.sendall(stream_request(chunked(request), "Transfer-Encoding: chunked"))
        status, _, body = read_response(sock)
        assert status == 200
        assert body == cassette.body()
        # The same connection serves the next request: nothing of the first body was left behind.
        sock.sendall(stream_request(request, f"Content-Length: {len(request)}"))
        status, _, body = read_response(sock)
        assert (status, body) == (200, cassette.body())
    assert [s.status for s in served] == [200, 200]


@pytest.mark.parametrize("value", ["abc", "-5", "+3", "1.0", "3, 4", ""])
def test_an_invalid_content_length_is_answered_400_and_the_connection_closed(server: ReplayServer, value: str) -> None:
    status, headers, body, rest = exchange(server, stream_request(b"{}", f"Content-Length: {value}"))
    assert status == 400
    assert headers["connection"] == "close"
    assert "Content-Length" in json.loads(body)["detail"]
    assert rest == b""


def test_two_content_lengths_that_disagree_are_refused(server: ReplayServer) -> None:
    status, *_ = exchange(server, stream_request(b"{}", "Content-Length: 2", "Content-Length: 5"))
    assert status == 400


def test_content_length_with_chunked_is_refused_as_ambiguous(server: ReplayServer) -> None:
    status, headers, _, rest = exchange(server, stream_request(chunked(b"{}"), "Content-Length: 2", "Transfer-Encoding: chunked"))
    assert (status, headers["connection"], rest) == (400, "close", b"")


def test_an_unknown_transfer_coding_is_not_implemented(server: ReplayServer) -> None:
    status, *_ = exchange(server, stream_request(b"{}", "Transfer-Encoding: gzip, chunked"))
    assert status == 501


def test_a_post_without_a_length_is_answered_411(server: ReplayServer) -> None:
    status, headers, _, _ = exchange(server, stream_request(b""))
    assert (status, headers["connection"]) == (411, "close")


@pytest.mark.parametrize("chunks", [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"-2\r\n{}\r\n0\r\n\r\n", b"0x2\r\n{}\r\n0\r\n\r\n"])
def test_a_malformed_chunked_body_is_answered_400(server: ReplayServer, chunks: bytes) -> None:
    status, _, body, rest = exchange(server, stream_request(chunks, "Transfer-Encoding: chunked"))
    assert (status, rest) == (400, b"")
    assert "chunk" in json.loads(body)["detail"]


def test_a_body_shorter_than_its_length_is_answered_400(server: ReplayServer) -> None:
    with connect(server) as sock:
        sock.sendall(stream_request(b"{}", "Content-Length: 100"))
        sock.shutdown(socket.SHUT_WR)
        status, _, _ = read_response(sock)
    assert status == 400


# -- size -----------------------------------------------------------------------------------------


def test_a_declared_body_over_the_cap_is_answered_413_without_reading_it(server: ReplayServer) -> None:
    status, headers, body, rest = exchange(server, stream_request(b"", f"Content-Length: {200 * 1024 * 1024}"))
    assert (status, headers["connection"], rest) == (413, "close", b"")
    assert "at most" in json.loads(body)["detail"]


def test_a_client_expecting_100_continue_hears_the_refusal_instead(server: ReplayServer) -> None:
    with connect(server) as sock:
        sock.sendall(stream_request(b"", f"Content-Length: {10 * 1024 * 1024}", "Expect: 100-continue"))
        first_line = sock.makefile("rb").readline()
    assert first_line.split()[1] == b"413"


def test_a_chunked_body_over_the_cap_is_answered_413(server: ReplayServer) -> None:
    status, *_ = exchange(server, stream_request(b"%x\r\n" % (100 * 1024), "Transfer-Encoding: chunked"))
    assert status == 413


def test_the_default_cap_is_a_few_megabytes() -> None:
    with ReplayServer(CassetteLibrary()) as running:
        assert running.max_body_bytes == MAX_BODY_BYTES
        status, *_ = exchange(running, stream_request(b"", f"Content-Length: {MAX_BODY_BYTES + 1}"))
    assert status == 413


# -- load and lifecycle ---------------------------------------------------------------------------


def test_connections_pending_while_the_server_is_busy_are_all_answered(cassette: Cassette) -> None:
    """A suite opening many connections at once must not be refused: 100 connect before the server
    accepts any (the kernel holds them in the listen backlog), then every one is answered."""
    server = ReplayServer(CassetteLibrary([cassette]))
    host, port = server._httpd.server_address[:2]
    sockets: list[socket.socket] = []
    started = False
    try:
        for _ in range(100):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(3.0)
            sockets.append(sock)
            sock.connect((host, port))
            sock.sendall(b"GET /v1/nothing HTTP/1.1\r\nHost: replay\r\nConnection: close\r\n\r\n")
        server.start()
        started = True
        for sock in sockets:
            sock.settimeout(TIMEOUT_S)
            assert read_response(sock)[0] == 404
    finally:
        for sock in sockets:
            sock.close()
        if started:
            server.stop()
        else:
            server._httpd.server_close()


def test_stop_without_start_returns() -> None:
    server = ReplayServer(CassetteLibrary())
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(TIMEOUT_S)
    assert not stopper.is_alive()
    server.stop()  # twice is harmless too


# -- the cassette folder --------------------------------------------------------------------------


def test_a_folder_with_a_fifo_a_directory_and_a_dangling_symlink_named_json_serves_the_rest(
    tmp_path: Path, cassette: Cassette, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "good.json").write_bytes(cassette.dumps())
    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "gone.json").symlink_to(tmp_path / "missing")
    libraries: list[FolderLibrary] = []
    caplog.set_level(logging.WARNING, logger="recorder.replay")
    opener = threading.Thread(target=lambda: libraries.append(FolderLibrary(tmp_path)), daemon=True)
    opener.start()
    opener.join(TIMEOUT_S)
    assert not opener.is_alive(), "reading the folder hung"
    [library] = libraries
    assert len(library) == 1
    warned = sorted(Path(record.args[0]).name for record in caplog.records)  # type: ignore[index]
    assert warned == ["dir.json", "gone.json", "pipe.json"]
    caplog.clear()
    assert library.refresh() is False
    assert caplog.records == []  # warned once, not on every refresh
    with ReplayServer(library) as running:
        request = json.dumps(cassette.request.body).encode()
        status, _, body, _ = exchange(running, stream_request(request, f"Content-Length: {len(request)}", "Connection: close"))
    assert (status, body) == (200, cassette.body())
