"""workflow-recorder: record, analyse and replay Vellum workflow execution streams."""

from recorder.api import ExecutionNotFound, Recorder

__all__ = ["ExecutionNotFound", "Recorder"]

__version__ = "0.1.0"
