"""Consuming response bodies (from files, stdin, a live HTTP stream, or an application's client)
into the store."""

from recorder.stream.ingest import ingest_chunks, ingest_path, read_request_file
from recorder.stream.instrument import AsyncRecordingTransport, RecordingTransport, instrument

__all__ = ["AsyncRecordingTransport", "RecordingTransport", "ingest_chunks", "ingest_path", "instrument", "read_request_file"]
