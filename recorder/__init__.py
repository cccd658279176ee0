"""workflow-recorder: record, analyse and replay Vellum workflow execution streams."""

__version__ = "0.1.0"
