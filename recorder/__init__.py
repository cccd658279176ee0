"""workflow-recorder: record, analyse and replay Vellum workflow execution streams."""

__version__ = "0.1.0"

# The version must exist before these imports: the modules below read it.
from recorder.api import ExecutionNotFound, Recorder  # noqa: E402
from recorder.stream.instrument import AsyncRecordingTransport, RecordingTransport, instrument  # noqa: E402

__all__ = ["AsyncRecordingTransport", "ExecutionNotFound", "Recorder", "RecordingTransport", "__version__", "instrument"]
