"""What the fleet questions group by and measure: names users type, on the command line or in Python.

They live in the model, not with the DuckDB queries that use them (recorder.analytics.latency), so
that the CLI can offer and check them without loading the analytics.
"""

from __future__ import annotations

LATENCY_KEYS = ("node", "node_type", "deployment", "release_tag", "status", "hour", "day")
USAGE_KEYS = ("node", "node_type", "model", "deployment", "release_tag", "day")
# Metric name -> the span column it measures.
METRICS = {"duration": "duration_ms", "first_output": "first_output_ms"}
