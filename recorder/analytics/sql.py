"""Every DuckDB statement analytics runs, in one place. Values always travel as `?` parameters.

Tables (Arrow, registered by recorder.analytics.fleet): `pulled_events` (a pull, with the verbatim
text of rejected and fulfilled-PROMPT runs), `executions_t`, `events_t`, `spans_t`.
Views users query with `Recorder.sql` / `recorder sql`: `executions`, `events`, `node_spans`.

The span rules here are the ones recorder.analytics.timeline applies to one execution (start =
INITIATED, end = first terminal event, `ts` else received time, state of the first terminal event
else of the last event); the tests hold the two to the same answers.
"""

from __future__ import annotations

# One row per node run, from pulled events. `moment` is ts, or the received time when ts is null.
DERIVE_SPANS = """
WITH node_events AS (
    SELECT execution_id, node_result_id, position, state, node_id, node_type, source_execution_id, raw,
           {'at': coalesce(ts_us, received_at_us), 'ts_less': ts_us IS NULL, 'position': position} AS moment
    FROM pulled_events
    WHERE type = 'NODE' AND node_result_id IS NOT NULL
), runs AS (
    -- Structs keep the aggregates few: one arg_min per kind of event instead of one per field.
    SELECT
        execution_id,
        node_result_id,
        arg_min(node_id, position) FILTER (WHERE node_id IS NOT NULL) AS node_id,
        arg_min(node_type, position) FILTER (WHERE node_type IS NOT NULL) AS node_type,
        arg_min(source_execution_id, position) FILTER (WHERE source_execution_id IS NOT NULL) AS source_execution_id,
        arg_min(moment, position) AS first_event,
        arg_min(moment, position) FILTER (WHERE state = 'INITIATED') AS initiated,
        arg_min({'moment': moment, 'state': state, 'raw': raw}, position) FILTER (WHERE state IN ('FULFILLED', 'REJECTED')) AS terminal,
        arg_max(state, position) FILTER (WHERE state IS NOT NULL) AS last_state,
        count(*) FILTER (WHERE state = 'STREAMING') AS streaming_events,
        arg_min(moment, position) FILTER (WHERE state = 'STREAMING') AS first_output
    FROM node_events
    GROUP BY execution_id, node_result_id
), parsed AS (
    SELECT *,
           coalesce(initiated, first_event) AS start,
           CASE WHEN terminal.raw IS NOT NULL AND json_valid(terminal.raw) THEN terminal.raw::JSON END AS body
    FROM runs
)
SELECT
    execution_id, node_result_id, node_id, node_type,
    coalesce(terminal.state, last_state) AS state,
    start.at AS start_us,
    terminal.moment.at AS end_us,
    start.position AS start_pos,
    terminal.moment.position AS end_pos,
    first_output.at AS first_output_us,
    streaming_events,
    source_execution_id,
    CASE WHEN json_type(body, '$.data.error.code') = 'VARCHAR' THEN json_extract_string(body, '$.data.error.code') END AS error_code,
    start.ts_less OR coalesce(terminal.moment.ts_less, false) AS ts_less,
    coalesce(first_output.ts_less, false) AS first_output_ts_less,
    json_extract_string(body, '$.data.data.data.execution_meta.model_name') AS model_name,
    TRY_CAST(json_extract(body, '$.data.data.data.execution_meta.usage.input_token_count') AS BIGINT) AS input_tokens,
    TRY_CAST(json_extract(body, '$.data.data.data.execution_meta.usage.output_token_count') AS BIGINT) AS output_tokens,
    CASE WHEN coalesce(json_extract_string(body, '$.data.data.data.execution_meta.cost.unit'), 'USD') = 'USD'
         THEN TRY_CAST(json_extract(body, '$.data.data.data.execution_meta.cost.value') AS DOUBLE) END AS cost_usd
FROM parsed
"""

# The documented views. node_spans is materialized once per refresh (a DuckDB table) with the
# execution's attributes beside each run, so fleet queries scan one table and join nothing.
# `node_type` is what the run's own events said (NULL when a failed run sent no payload);
# `node_type_inferred` fills that from other recorded runs of the same node definition (node_id).
VIEWS = (
    """
    CREATE OR REPLACE VIEW executions AS
    SELECT execution_id, deployment, workflow_deployment_name, workflow_deployment_id, release_tag, external_id,
           previous_execution_id, root_execution_id, status, error_code, event_count, metadata,
           started_at_us, ended_at_us,
           make_timestamptz(started_at_us) AS started_at,
           make_timestamptz(ended_at_us) AS ended_at,
           (ended_at_us - started_at_us) / 1000.0 AS duration_ms
    FROM executions_t
    """,
    """
    CREATE OR REPLACE VIEW events AS
    SELECT execution_id, position, type, state, ts_us, received_at_us, node_id, node_result_id, node_type,
           source_execution_id, flags, make_timestamptz(coalesce(ts_us, received_at_us)) AS at
    FROM events_t
    """,
    """
    CREATE OR REPLACE TABLE node_spans AS
    SELECT s.execution_id, s.node_result_id, s.node_id, s.node_type,
           coalesce(s.node_type, max(s.node_type) OVER (PARTITION BY s.node_id)) AS node_type_inferred,
           s.state, s.start_us, s.end_us,
           make_timestamptz(s.start_us) AS start, make_timestamptz(s.end_us) AS "end",
           (s.end_us - s.start_us) / 1000.0 AS duration_ms,
           (s.first_output_us - s.start_us) / 1000.0 AS first_output_ms,
           s.streaming_events, s.source_execution_id, s.error_code, s.end_us IS NULL AS open,
           s.start_pos, s.end_pos, s.ts_less, s.first_output_ts_less,
           s.model_name, s.input_tokens, s.output_tokens, s.cost_usd,
           e.deployment, e.workflow_deployment_id, e.release_tag, e.status AS execution_status,
           e.started_at_us AS execution_started_at_us
    FROM spans_t s LEFT JOIN executions_t e USING (execution_id)
    """,
)

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
