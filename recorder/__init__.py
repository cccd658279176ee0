"""workflow-recorder: record, analyse and replay Vellum workflow execution streams."""

__version__ = "0.1.0"

from recorder.api import ExecutionNotFound, Recorder  # noqa: E402 - the version must exist first

__all__ = ["ExecutionNotFound", "Recorder", "__version__"]
