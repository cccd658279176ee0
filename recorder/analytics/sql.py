"""Every DuckDB statement analytics runs, in one place. Values always travel as `?` parameters.

Tables (Arrow, registered by recorder.analytics.fleet): `executions_t` and `spans_t`, the store's
`executions` and `node_spans` rows as pulled (both kept at ingest with the span rules of
recorder.model.spans, which the timeline applies too), and, only in a connection that asked for
it, `events_t` (the events' indexed columns, never their text).
Views users query with `Recorder.sql` / `recorder sql`: `executions`, `node_spans`, and `events`
when asked for (`events=True`, `--events`).
"""

from __future__ import annotations

EXECUTIONS_VIEW = """
CREATE OR REPLACE VIEW executions AS
SELECT execution_id, deployment, workflow_deployment_name, workflow_deployment_id, release_tag, external_id,
       previous_execution_id, root_execution_id, status, error_code, event_count, metadata,
       started_at_us, ended_at_us,
       make_timestamptz(started_at_us) AS started_at,
       make_timestamptz(ended_at_us) AS ended_at,
       (ended_at_us - started_at_us) / 1000.0 AS duration_ms,
       (ended_at_us - started_at_us - coalesce(paused_us, 0)) / 1000.0 AS work_ms,
       coalesce(paused_us, 0) / 1000.0 AS waiting_ms,
       span_count, prompt_cost_usd, prompt_input_tokens, prompt_output_tokens, first_output_us,
       (first_output_us - started_at_us) / 1000.0 AS time_to_first_output_ms
FROM executions_t
"""

# One row per node run with the execution's attributes beside it, so fleet queries group and
# filter one relation. `node_type` is what the run's own events said (NULL when a failed run sent
# no payload); `node_type_inferred` fills that from other recorded runs of the same node
# definition (node_id). A view, not a table: a CLI process asks one question, and materialising
# would cost that question's scan again (see README, Analytics, for the figures).
NODE_SPANS_VIEW = """
CREATE OR REPLACE VIEW node_spans AS
WITH inferred AS (
    SELECT node_id, max(node_type) AS node_type FROM spans_t WHERE node_id IS NOT NULL GROUP BY node_id
)
SELECT s.execution_id, s.node_result_id, s.node_id, s.node_type,
       coalesce(s.node_type, i.node_type) AS node_type_inferred, s.node_name,
       s.parent_node_result_id, s.depth,
       s.state, s.start_us, s.end_us,
       make_timestamptz(s.start_us) AS start, make_timestamptz(s.end_us) AS "end",
       (s.end_us - s.start_us) / 1000.0 AS duration_ms,
       (s.end_us - s.start_us - coalesce(s.paused_us, 0)) / 1000.0 AS work_ms,
       coalesce(s.paused_us, 0) / 1000.0 AS waiting_ms,
       (s.first_output_us - s.start_us) / 1000.0 AS first_output_ms,
       s.streaming_events, s.source_execution_id, s.error_code, s.end_us IS NULL AS open,
       s.start_pos, s.end_pos, s.start_ts_less OR s.end_ts_less AS ts_less, s.first_output_ts_less,
       s.model_name, s.input_tokens, s.output_tokens, s.cost_usd,
       e.deployment, e.workflow_deployment_id, e.release_tag, e.status AS execution_status,
       e.started_at_us AS execution_started_at_us
FROM spans_t s LEFT JOIN inferred i ON s.node_id = i.node_id LEFT JOIN executions_t e ON s.execution_id = e.execution_id
"""

VIEWS = (EXECUTIONS_VIEW, NODE_SPANS_VIEW)

# Only in a connection that asked for events (their indexed columns; the verbatim line stays in the store).
EVENTS_VIEW = """
CREATE OR REPLACE VIEW events AS
SELECT execution_id, position, type, state, ts_us, received_at_us, node_id, node_result_id, node_type,
       source_execution_id, flags, make_timestamptz(coalesce(ts_us, received_at_us)) AS at
FROM events_t
"""

# What `--by` may name, for node runs and for executions: the SQL expression of each key. Only
# these fixed expressions are ever placed into SQL text; user values are parameters.
NODE_KEYS = {
    "node": ("node_id", "node_id"),
    "node_type": ("node_type_inferred", "node_type"),
    "deployment": ("deployment", "deployment"),
    "release_tag": ("release_tag", "release_tag"),
    "status": ("state", "status"),
    "model": ("model_name", "model"),
    "hour": ("strftime(date_trunc('hour', make_timestamptz(start_us) AT TIME ZONE 'UTC'), '%Y-%m-%dT%H:00:00Z')", "hour"),
    "day": ("strftime(date_trunc('day', make_timestamptz(start_us) AT TIME ZONE 'UTC'), '%Y-%m-%d')", "day"),
}
EXECUTION_KEYS = {
    "deployment": ("deployment", "deployment"),
    "release_tag": ("release_tag", "release_tag"),
    "status": ("status", "status"),
    "hour": ("strftime(date_trunc('hour', make_timestamptz(started_at_us) AT TIME ZONE 'UTC'), '%Y-%m-%dT%H:00:00Z')", "hour"),
    "day": ("strftime(date_trunc('day', make_timestamptz(started_at_us) AT TIME ZONE 'UTC'), '%Y-%m-%d')", "day"),
}

# Filters on the execution's attributes; each is a fixed fragment with `?` parameters.
FILTERS = {
    "deployment": "(deployment = ? OR workflow_deployment_id = ?)",
    "release_tag": "release_tag = ?",
    "since_us": "{started} >= ?",
    "until_us": "{started} < ?",
    "status": "{status} = ?",
    "node": "(node_id = ? OR node_type_inferred = ?)",
    # metadata is JSON text on executions; the path parameter is built from the key by json_path().
    "metadata": "execution_id IN (SELECT execution_id FROM executions_t WHERE json_extract_string(metadata, ?) = ?)",
}

PERCENTILES = (0.5, 0.9, 0.95, 0.99)


def json_path(key: str) -> str:
    """A JSON path naming one top-level key, quoted so any key text is taken literally."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def latency_query(source: str, keys: list[tuple[str, str]], measure: str, where: list[str], label: str | None) -> str:
    """count, mean, percentiles (linear interpolation: quantile_cont) and max of `measure`,
    grouped by `keys` ((expression, alias) pairs taken from NODE_KEYS / EXECUTION_KEYS only)."""
    group = ", ".join(expression for expression, _ in keys)
    selected = ", ".join(f"{expression} AS {alias}" for expression, alias in keys)
    extra = f", {label}" if label else ""
    conditions = " AND ".join([f"{measure} IS NOT NULL", *where])
    return f"""
        SELECT {selected}{extra},
               count(*) AS count,
               avg({measure}) AS mean_ms,
               quantile_cont({measure}, 0.5) AS p50_ms,
               quantile_cont({measure}, 0.9) AS p90_ms,
               quantile_cont({measure}, 0.95) AS p95_ms,
               quantile_cont({measure}, 0.99) AS p99_ms,
               max({measure}) AS max_ms
        FROM {source}
        WHERE {conditions}
        GROUP BY {group}
        ORDER BY {", ".join(f"{alias} NULLS LAST" for _, alias in keys)}
    """


def usage_query(keys: list[tuple[str, str]], where: list[str]) -> str:
    """Token usage and cost of fulfilled PROMPT runs that reported execution_meta."""
    group = ", ".join(expression for expression, _ in keys)
    selected = ", ".join(f"{expression} AS {alias}" for expression, alias in keys)
    conditions = " AND ".join(["(input_tokens IS NOT NULL OR output_tokens IS NOT NULL OR cost_usd IS NOT NULL)", *where])
    return f"""
        SELECT {selected},
               count(*) AS runs,
               count(DISTINCT execution_id) AS executions,
               sum(input_tokens)::BIGINT AS input_tokens,
               sum(output_tokens)::BIGINT AS output_tokens,
               sum(cost_usd) AS cost_usd,
               sum(cost_usd) / count(DISTINCT execution_id) AS cost_per_execution_usd
        FROM node_spans
        WHERE {conditions}
        GROUP BY {group}
        ORDER BY cost_usd DESC NULLS LAST, {", ".join(f"{alias} NULLS LAST" for _, alias in keys)}
    """


COMPARE = """
WITH runs AS (
    SELECT node_id, node_type_inferred AS node_type,
           release_tag, {measure} AS value
    FROM node_spans
    WHERE (deployment = ? OR workflow_deployment_id = ?) AND release_tag IN (?, ?) AND {measure} IS NOT NULL
    UNION ALL
    SELECT '(workflow)' AS node_id, NULL AS node_type, release_tag, duration_ms AS value
    FROM executions
    WHERE (deployment = ? OR workflow_deployment_id = ?) AND release_tag IN (?, ?) AND duration_ms IS NOT NULL AND ? = 'duration'
), stats AS (
    SELECT node_id, any_value(node_type) AS node_type, release_tag,
           count(*) AS count, avg(value) AS mean_ms,
           quantile_cont(value, 0.5) AS p50_ms, quantile_cont(value, 0.9) AS p90_ms,
           quantile_cont(value, 0.99) AS p99_ms
    FROM runs GROUP BY node_id, release_tag
)
SELECT coalesce(b.node_id, c.node_id) AS node_id, coalesce(b.node_type, c.node_type) AS node_type,
       b.count AS baseline_count, c.count AS candidate_count,
       b.mean_ms AS baseline_mean_ms, c.mean_ms AS candidate_mean_ms,
       b.p50_ms AS baseline_p50_ms, c.p50_ms AS candidate_p50_ms,
       b.p90_ms AS baseline_p90_ms, c.p90_ms AS candidate_p90_ms,
       b.p99_ms AS baseline_p99_ms, c.p99_ms AS candidate_p99_ms,
       c.p50_ms - b.p50_ms AS delta_p50_ms,
       c.p50_ms / nullif(b.p50_ms, 0) AS ratio_p50,
       c.p90_ms / nullif(b.p90_ms, 0) AS ratio_p90
FROM (SELECT * FROM stats WHERE release_tag = ?) b
FULL OUTER JOIN (SELECT * FROM stats WHERE release_tag = ?) c USING (node_id)
ORDER BY delta_p50_ms DESC NULLS LAST, node_id
"""
