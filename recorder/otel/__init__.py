"""OpenTelemetry export: recorded executions as OTLP traces (`recorder otlp export`).

Owns: the mapping of a recorded execution (its row, node spans and STREAMING moments) to
OpenTelemetry spans with deterministic ids (trace_mapping.py), the attribute keys it writes
(conventions.py), and sending them in batches over OTLP/HTTP with the SDK's exporter while
keeping the per-target cursor (exporter.py).
May import: recorder.store (the export reads and the cursor, through `Store`) and recorder.model.
The OpenTelemetry SDK comes with the `[otel]` extra and is imported on use.
"""
