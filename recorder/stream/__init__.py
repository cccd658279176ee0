"""Consuming response bodies (from files, stdin, or a live HTTP stream) into the store."""

from recorder.stream.ingest import ingest_chunks, ingest_path, read_request_file

__all__ = ["ingest_chunks", "ingest_path", "read_request_file"]
