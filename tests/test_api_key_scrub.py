"""The API key never reaches the store, the terminal or a cassette, even when a server echoes it.

A real server on a loopback socket echoes the caller's X-API-KEY back in every answer, in the
forms servers write it: raw, with `\\/` for `/`, as upper-case `\\uXXXX` escapes, inside a JSON
document nested in a string, and split across two chunks of the stream. Each test runs on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from recorder.cli.main import cli
from recorder.model.cassette import REDACTED, Cassette
from recorder.model.exact_json import load_json
from recorder.model.secrets import SecretScrubber, credentials_in
from recorder.replay.capture import CaptureTransport
from recorder.stream.ingest import ingest_cassette
from recorder.store import Recording, Store
from recorder.stream.ingest import ingest_chunks
from recorder.stream.instrument import RecordingTransport
from recorder.store.schema import Base, StatusCheck

API_KEY = "vk_live/7Hq9+ZZ3xP-echoed"
EXECUTION_ID = "3161c940-7c63-47b9-a3b7-216f6ad28eb6"
REQUEST_ARGS = ["--deployment", "support-agent", "--input", "query=hello"]
STREAM_PATH = "/v1/execute-workflow-stream"
TABLES = tuple(table.name for table in Base.metadata.sorted_tables)


def echoed_forms(key: str) -> dict[str, str]:
    """The key as servers write it inside a JSON string."""
    return {
        "raw": key,
        "slash": key.replace("/", "\\/"),
        "upper_hex": "".join(f"\\u{ord(char):04X}" for char in key),
        "nested": json.dumps(json.dumps({"api_key_seen": key}))[1:-1],
    }


def revealed(text: str) -> str:
    """`text` with every JSON escape of an ordinary character undone, at any nesting depth."""
    text = re.sub(r"\\+u([0-9a-fA-F]{4})", lambda match: chr(int(match[1], 16)), text)
    return re.sub(r"\\+/", "/", text)


def assert_no_key(text: str) -> None:
    assert API_KEY not in revealed(text)


def store_dump(store_url: str) -> str:
    engine = create_engine(store_url)
    with engine.connect() as connection:
        rows = {table: [list(row) for row in connection.execute(text(f"SELECT * FROM {table}"))] for table in TABLES}
    engine.dispose()
    return json.dumps(rows, default=str)


class EchoingVellum:
    """Answers every endpoint with the caller's key in it. `stream_status` != 200 makes the stream
    endpoint answer with an error body; `status_code` is the status endpoint's HTTP status."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.stream_status = 200
        self.status_code = 200
        self.error_padding = 0  # bytes before the key in the error body
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _echo_handler(self))
        self._httpd.daemon_threads = True

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> EchoingVellum:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def echoing_line(line: bytes, key: str) -> bytes:
    """A sample event with the key echoed into it in every form (the text is still valid JSON)."""
    forms = echoed_forms(key)
    text = line.decode()[:-1] + "".join(f',"echo_{name}":"the key {form} was refused"' for name, form in forms.items()) + "}"
    load_json(text)
    return text.encode()


def _echo_handler(server: EchoingVellum) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def _key(self) -> str:
            return self.headers.get("X-API-KEY", "")

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error_body(self) -> bytes:
            forms = echoed_forms(self._key())
            padding = "x" * server.error_padding
            return ('{"detail": "%sInvalid API key: %s", "hint": "%s", "debug": "%s"}' % (padding, forms["raw"], forms["slash"], forms["upper_hex"])).encode()

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if server.status_code != 200:
                self._send(server.status_code, self._error_body())
                return
            key = self._key()
            answer = {"status": "REJECTED", "outputs": {"seen": key}, "error": {"code": "AUTH", "message": f"key {key} is revoked"}}
            self._send(200, json.dumps(answer).replace("/", "\\/").encode())

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != STREAM_PATH:
                self._send(403, self._error_body())
                return
            if server.stream_status != 200:
                self._send(server.stream_status, self._error_body())
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            lines = list(server.lines)
            lines[1] = echoing_line(lines[1], self._key())
            body = b"\n".join(lines) + b"\n"
            middle = body.index(self._key().encode()) + 5  # a chunk boundary inside the key
            for chunk in (body[:middle], body[middle:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    return Handler


@pytest.fixture
def sample_lines(samples_dir: Path) -> list[bytes]:
    return (samples_dir / "exec_0003.ndjson").read_bytes().splitlines()


@pytest.fixture
def server(sample_lines: list[bytes]) -> Iterator[EchoingVellum]:
    with EchoingVellum(sample_lines) as running:
        yield running


def invoke(store_url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", store_url, *args], env={"VELLUM_API_KEY": API_KEY})


def only_recording(store_url: str) -> Recording:
    with Store(store_url) as store, Session(store.engine) as session:
        [recording] = session.scalars(select(Recording)).all()
        return recording


# -- recorder record --------------------------------------------------------------------------------------


def test_an_error_body_echoing_the_key_is_stored_and_printed_without_it(store_url: str, server: EchoingVellum) -> None:
    server.stream_status = 401
    result = invoke(store_url, "record", *REQUEST_ARGS, "--base-url", server.base_url)
    assert result.exit_code == 3, result.output
    assert "HTTP 401" in result.output and REDACTED in result.output
    assert_no_key(result.output)
    recording = only_recording(store_url)
    assert recording.outcome == "http_error" and recording.error.count(REDACTED) == 3
    assert_no_key(store_dump(store_url))


def test_a_streamed_line_echoing_the_key_is_stored_without_it_and_still_parses(
    store_url: str, server: EchoingVellum, sample_lines: list[bytes]
) -> None:
    result = invoke(store_url, "record", *REQUEST_ARGS, "--base-url", server.base_url)
    assert result.exit_code == 0, result.output
    assert_no_key(result.output)
    assert_no_key(store_dump(store_url))
    with Store(store_url) as store:
        events = store.events(EXECUTION_ID)
        assert len(events) == len(sample_lines) and not store.rejects([only_recording(store_url).id])
        echoed = load_json(events[1].raw)
        assert {name: echoed[f"echo_{name}"] for name in echoed_forms(API_KEY) if name != "nested"} == {
            name: f"the key {REDACTED} was refused" for name in ("raw", "slash", "upper_hex")
        }
        assert json.loads(echoed["echo_nested"].removeprefix("the key ").removesuffix(" was refused")) == {"api_key_seen": REDACTED}
        assert [event.raw.encode() for event in events[2:]] == sample_lines[2:]


def test_the_json_passthrough_prints_the_stream_without_the_key(store_url: str, server: EchoingVellum, sample_lines: list[bytes]) -> None:
    result = invoke(store_url, "record", *REQUEST_ARGS, "--base-url", server.base_url, "--json")
    assert result.exit_code == 0
    printed = result.stdout_bytes.split(b"\n")
    assert printed[0] == sample_lines[0] and printed[2:-1] == sample_lines[2:]
    assert REDACTED.encode() in printed[1]
    assert_no_key(result.stdout_bytes.decode())
    assert_no_key(store_dump(store_url))


def test_credential_like_metadata_at_any_depth_and_the_key_as_a_value_are_not_stored(store_url: str, server: EchoingVellum) -> None:
    metadata = {"user": "u-42", "auth": {"api_key": "other-secret-1", "nested": [{"Authorization": "Bearer other-secret-2"}]},
                "note": f"sent with {API_KEY}"}
    result = invoke(store_url, "record", *REQUEST_ARGS, "--base-url", server.base_url, "--metadata", json.dumps(metadata))
    assert result.exit_code == 0, result.output
    stored = only_recording(store_url).request["metadata"]
    assert stored == {"user": "u-42", "auth": {"api_key": REDACTED, "nested": [{"Authorization": REDACTED}]}, "note": f"sent with {REDACTED}"}
    dump = store_dump(store_url)
    assert_no_key(dump)
    assert "other-secret-1" not in dump and "other-secret-2" not in dump


# -- recorder reconcile and actuals -----------------------------------------------------------------------


@pytest.fixture
def cut_execution(store_url: str, sample_lines: list[bytes]) -> str:
    with Store(store_url) as store:
        ingest_chunks(store, [b"\n".join(sample_lines[:20]) + b"\n"], source="test")
    return EXECUTION_ID


@pytest.mark.parametrize("status_code", [200, 401])
def test_reconcile_stores_and_prints_status_answers_without_the_key(store_url: str, server: EchoingVellum, cut_execution: str, status_code: int) -> None:
    server.status_code = status_code
    result = invoke(store_url, "reconcile", "--base-url", server.base_url, "--json")
    assert result.exit_code == 0, result.output
    assert_no_key(result.output)
    [row] = json.loads(result.output)
    assert_no_key(store_dump(store_url))
    with Store(store_url) as store, Session(store.engine) as session:
        [check] = session.scalars(select(StatusCheck)).all()
    assert check.http_status == status_code
    if status_code == 200:
        assert row["reported_status"] == "REJECTED"
        assert check.outputs == {"seen": REDACTED}
        assert check.error_message == f"key {REDACTED} is revoked"
        assert json.loads(check.response)["outputs"] == {"seen": REDACTED}
    else:
        assert REDACTED in row["error"] and REDACTED in check.response


def test_a_rejected_actual_is_stored_and_printed_without_the_key(store_url: str, server: EchoingVellum, cut_execution: str) -> None:
    result = invoke(store_url, "actuals", cut_execution, "--output", "answer", "--quality", "1", "--base-url", server.base_url)
    assert result.exit_code == 1 and "HTTP 403" in result.output and REDACTED in result.output
    assert_no_key(result.output)
    assert_no_key(store_dump(store_url))


# The error body is kept up to 64 KiB: a key that starts just before the cut must not leave its prefix.
STRADDLING_PADDING = 64 * 1024 - len('{"detail": "Invalid API key: ') - 6


def test_a_key_straddling_the_error_body_limit_leaves_no_prefix_when_recording(store_url: str, server: EchoingVellum) -> None:
    server.stream_status, server.error_padding = 401, STRADDLING_PADDING
    result = invoke(store_url, "record", *REQUEST_ARGS, "--base-url", server.base_url)
    assert result.exit_code == 3, result.output
    assert API_KEY[:6] not in only_recording(store_url).error


def test_a_key_straddling_the_error_body_limit_leaves_no_prefix_inside_an_application(store: Store, store_url: str, server: EchoingVellum) -> None:
    server.stream_status, server.error_padding = 401, STRADDLING_PADDING
    transport = RecordingTransport(store)
    stream_through(transport, server.base_url, API_KEY)
    assert transport.wait(15.0)
    assert API_KEY[:6] not in only_recording(store_url).error


# -- inside an application, and the pytest plugin's capture ------------------------------------------------


def stream_through(transport: httpx.BaseTransport, base_url: str, key: str) -> httpx.Response:
    with httpx.Client(transport=transport) as client:
        with client.stream("POST", base_url + STREAM_PATH, json={"workflow_deployment_name": "support-agent", "inputs": []},
                           headers={"X-API-KEY": key}) as response:
            response.read()
            return response


@pytest.mark.parametrize("stream_status", [200, 401])
def test_the_in_app_transport_keeps_the_applications_key_out_of_the_store(store: Store, store_url: str, server: EchoingVellum, stream_status: int) -> None:
    server.stream_status = stream_status
    transport = RecordingTransport(store)
    response = stream_through(transport, server.base_url, API_KEY)
    assert response.status_code == stream_status and API_KEY.encode() in response.content  # the application sees what was sent
    assert transport.wait(15.0)
    recording = only_recording(store_url)
    assert recording.outcome == ("complete" if stream_status == 200 else "http_error")
    if stream_status == 200:
        assert len(store.events(EXECUTION_ID)) == len(server.lines)
    else:
        assert recording.error.count(REDACTED) == 3
    assert_no_key(store_dump(store_url))


@pytest.mark.parametrize("stream_status", [200, 401])
def test_a_captured_cassette_holds_neither_key_and_ingests_back(store: Store, store_url: str, server: EchoingVellum, stream_status: int) -> None:
    server.stream_status = stream_status
    cassettes: list[Cassette] = []
    app_key = "dummy-key-of-the-test-client"
    stream_through(CaptureTransport(httpx.HTTPTransport(), cassettes.append, api_key=API_KEY), server.base_url, app_key)
    [cassette] = cassettes
    dumped = cassette.dumps().decode()
    assert_no_key(dumped)
    assert REDACTED in dumped
    ingest_cassette(store, Cassette.loads(cassette.dumps()))
    if stream_status == 200:
        assert len(store.events(EXECUTION_ID)) == len(server.lines)
    assert_no_key(store_dump(store_url))


# -- the scrubber itself -------------------------------------------------------------------------------------


def test_an_occurrence_starting_inside_an_escape_leaves_valid_json() -> None:
    key = "nABCDEF123"
    line = json.dumps({"a": "\n" + key[1:], "b": f"key={key}"}).encode()  # `\nABCDEF123` is not the key
    scrubbed = SecretScrubber([key]).data(line)
    assert json.loads(scrubbed) == {"a": "\n" + key[1:], "b": f"key={REDACTED}"}


def test_a_bearer_token_is_scrubbed_with_or_without_its_scheme() -> None:
    scrubber = SecretScrubber(credentials_in(httpx.Headers({"Authorization": "Bearer tok-0123456789"})))
    assert scrubber.text("got 'Bearer tok-0123456789' and tok-0123456789") == f"got '{REDACTED}' and {REDACTED}"
