"""Consuming response bodies (from files, stdin, a live HTTP stream, or an application's client)
into the store."""

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
