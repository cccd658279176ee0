"""Helpers shared by the replay tests (this module holds no tests).

The reference for "what the official client yields" is always the official client itself, reading
the original bytes from `BareServer`: a server that knows nothing of cassettes and answers every
stream request with the same bytes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from vellum import AsyncVellum, Vellum, VellumEnvironment

from recorder.model.cassette import Cassette, Request, Response, lines_of_body
from recorder.replay.export import export_cassette
from recorder.store import Store
from recorder.stream.ingest import ingest_chunks, ingest_path

SAMPLE_NAMES = [f"exec_{index:04d}" for index in range(30)]
API_KEY = "k-replay-test-7c41"  # distinctive, so a leak into a cassette would be found

# Every framing oddity the recorder keeps and the official client trips over or skips: a leading
# blank line, whitespace-only and CRLF lines, junk, invalid UTF-8, a NUL, a raw U+2028 inside a
# string (the client cuts the event in two there), and a last line without its newline.
EXECUTION = "9f2c0a57-1b7e-4d0c-9a51-6d1f1c0e7a10"


def _event(state: str, ts: str, extra: str = "") -> str:
    return (
        f'{{"execution_id":"{EXECUTION}","run_id":null,"external_id":null,"type":"WORKFLOW","data":{{"id":"{state.lower()}-1",'
        f'"state":"{state}","ts":"{ts}","output":null,"error":null,"outputs":{extra or "null"},"inputs":null}}}}'
    )


ADVERSARIAL_BODY = b"".join(
    [
        b"\n",
        _event("INITIATED", "2025-06-02T09:00:00.000001Z").encode() + b"\r\n",
        b"   \t\n",
        b"not json at all\n",
        b"\xff\xfe broken utf-8 \xc3\n",
        b'{"a": "nul \x00 inside"}\n',
        _event("STREAMING", "2025-06-02T09:00:00.5Z").replace('"output":null', '"output":{"name":"answer","state":"STREAMING","delta":"a\u2028b","type":"STRING","value":null}').encode() + b"\n",
        b"\n\n",
        _event("FULFILLED", "2025-06-02T09:00:01.000000+00:00", '[{"id":"o1","name":"answer","type":"STRING","value":"a\u2028b"}]').encode(),
    ]
)
ADVERSARIAL_REQUEST = {"workflow_deployment_name": "edge-cases", "inputs": [{"name": "q", "type": "STRING", "value": "edge"}]}


def load_sample(samples_dir: Path, name: str) -> tuple[dict[str, Any], bytes]:
    truth = json.loads((samples_dir / f"{name}.truth.json").read_text())
    return truth, (samples_dir / f"{name}.ndjson").read_bytes()


def ingest_samples(store: Store, samples_dir: Path, names: list[str] = SAMPLE_NAMES) -> dict[str, dict[str, Any]]:
    """Ingest samples with their requests; returns the truth by name."""
    truths = {}
    for name in names:
        truth, _ = load_sample(samples_dir, name)
        ingest_path(store, str(samples_dir / f"{name}.ndjson"), request=truth["request"])
        truths[name] = truth
    return truths


def ingest_body(store: Store, body: bytes, request: dict[str, Any] | None, source: str = "test") -> None:
    ingest_chunks(store, [body], source=source, request=request)


def sample_cassettes(store: Store, samples_dir: Path, names: list[str] = SAMPLE_NAMES) -> dict[str, Cassette]:
    truths = ingest_samples(store, samples_dir, names)
    return {name: export_cassette(store, truth["execution_id"]) for name, truth in truths.items()}


def write_folder(folder: Path, cassettes: dict[str, Cassette]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, cassette in cassettes.items():
        (folder / f"{name}.cassette.json").write_bytes(cassette.dumps())
    return folder


def empty(store: Store) -> Store:
    """The same store with every table emptied: the fresh destination of a round trip, without
    the cost of another database."""
    store.wipe()
    return store


# -- clients ------------------------------------------------------------------------------------------


def environment(base_url: str) -> VellumEnvironment:
    return VellumEnvironment(default=base_url, predict=base_url, documents=base_url)


@functools.lru_cache(maxsize=32)
def client_at(base_url: str) -> Vellum:
    """One client per URL for the session: building a Vellum client takes ~80 ms."""
    return Vellum(api_key=API_KEY, environment=environment(base_url))


def client_over(transport: httpx.BaseTransport) -> Vellum:
    return Vellum(api_key=API_KEY, environment=environment("https://predict.vellum.ai"), httpx_client=httpx.Client(transport=transport))


def events_of(client: Vellum, request: dict[str, Any]) -> list[dict[str, Any]]:
    return [event.dict() for event in client.execute_workflow_stream(**request)]


def async_events_of(request: dict[str, Any], *, base_url: str | None = None, transport: httpx.AsyncBaseTransport | None = None) -> list[dict[str, Any]]:
    async def consume() -> list[Any]:
        http = httpx.AsyncClient(transport=transport) if transport is not None else None
        client = AsyncVellum(api_key=API_KEY, environment=environment(base_url or "https://predict.vellum.ai"), httpx_client=http)
        return [event async for event in client.execute_workflow_stream(**request)]

    return [event.dict() for event in asyncio.run(consume())]


# -- the reference server -------------------------------------------------------------------------------


class BareServer:
    """Answers every POST with `body` (chunked, in one write); knows nothing of cassettes."""

    def __init__(self, body: bytes = b"") -> None:
        self.body = body
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                data = owner.body
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.write(b"0\r\n\r\n")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> BareServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="session")
def bare_server() -> Iterator[BareServer]:
    with BareServer() as server:
        yield server


def reference_events(bare: BareServer, body: bytes, request: dict[str, Any]) -> list[dict[str, Any]]:
    """What the official client yields from the original bytes."""
    bare.body = body
    return events_of(client_at(bare.base_url), request)


def sample_cassette(samples_dir: Path, name: str) -> Cassette:
    """A cassette made straight from a shared sample's body and request (no store involved)."""
    truth, body = load_sample(samples_dir, name)
    lines, ends = lines_of_body(body)
    return Cassette(Request(body=truth["request"]), Response(lines=lines, ends_with_newline=ends), execution_id=truth["execution_id"])
