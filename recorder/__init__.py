"""workflow-recorder: record, analyse and replay Vellum workflow execution streams."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder.lazy import lazy_attributes
from recorder.version import __version__

__all__ = ["AsyncRecordingTransport", "ExecutionNotFound", "Recorder", "RecordingTransport", "__version__", "instrument"]

if TYPE_CHECKING:
    from recorder.api import ExecutionNotFound, Recorder
    from recorder.stream.instrument import AsyncRecordingTransport, RecordingTransport, instrument

# Loaded on first use: `import recorder.x` (the pytest plugin, the CLI) should not pay for the
# whole API, SQLAlchemy and httpx included.
_LAZY = {
    "Recorder": "recorder.api",
    "ExecutionNotFound": "recorder.api",
    "RecordingTransport": "recorder.stream.instrument",
    "AsyncRecordingTransport": "recorder.stream.instrument",
    "instrument": "recorder.stream.instrument",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
