"""What the fleet questions group by and measure: names users type, on the command line or in Python.

They live in the model, not with the DuckDB queries that use them (recorder.analytics.latency), so
that the CLI can offer and check them without loading the analytics.
"""

from __future__ import annotations

LATENCY_KEYS = ("node", "node_type", "deployment", "release_tag", "status", "hour", "day")
USAGE_KEYS = ("node", "node_type", "model", "deployment", "release_tag", "day")
# Metric name -> the column it measures. `work` is the duration less the time paused (v2 stream
# runs and workflows can wait on a human or an event); `first_output` exists for node runs only.
METRICS = {"duration": "duration_ms", "work": "work_ms", "first_output": "first_output_ms"}
