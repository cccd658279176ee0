"""Consuming response bodies (from files, stdin, a live HTTP stream, or an application's client)
into the store.

Owns: the Vellum HTTP calls (vellum_api.py), recording at httpx's transport seam
(instrument.py, with the one tee in tee.py and the background relay in relay.py), the live sink
that commits in small batches (sink.py), `recorder record` over that seam (http.py), saved
bodies and cassettes into the store (ingest.py), and how failures are described (failures.py).
May import: recorder.store and recorder.model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder.lazy import lazy_attributes

__all__ = ["AsyncRecordingTransport", "RecordingTransport", "ingest_chunks", "ingest_path", "instrument", "read_request_file"]

if TYPE_CHECKING:
    from recorder.stream.ingest import ingest_chunks, ingest_path, read_request_file
    from recorder.stream.instrument import AsyncRecordingTransport, RecordingTransport, instrument

# Loaded on first use: reading a file into the store should not import httpx for the transports.
_LAZY = {
    "ingest_chunks": "recorder.stream.ingest",
    "ingest_path": "recorder.stream.ingest",
    "read_request_file": "recorder.stream.ingest",
    "AsyncRecordingTransport": "recorder.stream.instrument",
    "RecordingTransport": "recorder.stream.instrument",
    "instrument": "recorder.stream.instrument",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
