"""Where the time goes across executions: percentiles by group, release comparison, usage and cost.

Grouping by `node` or `node_type` (or asking for time to first output) looks at node runs
(`node_spans`); grouping only by deployment, release_tag, status or a time bucket looks at whole
executions. Percentiles interpolate linearly (DuckDB's quantile_cont, the same as polars'
`quantile(q, "linear")`). Open runs and unfinished executions have no duration and are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from recorder.analytics import sql
from recorder.analytics.filters import filter_clauses
from recorder.model.filters import ExecutionFilter
from recorder.model.groupings import LATENCY_KEYS, METRICS, USAGE_KEYS

if TYPE_CHECKING:
    import duckdb
    import polars as pl

STAT_COLUMNS = ("count", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms")
_NODE_ONLY = frozenset({"node", "node_type", "model"})


class UnknownGrouping(ValueError):
    """`by` names something that cannot be grouped on."""


def latency(
    connection: duckdb.DuckDBPyConnection,
    by: Sequence[str] = ("node",),
    where: ExecutionFilter = ExecutionFilter(),
    *,
    metric: str = "duration",
) -> pl.DataFrame:
    """count, mean, p50, p90, p95, p99 and max (ms) of `metric`, one row per group."""
    keys = _keys(by, LATENCY_KEYS)
    if metric not in METRICS:
        raise UnknownGrouping(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
    node_level = bool(_NODE_ONLY & set(keys)) or metric == "first_output" or where.node is not None
    table = sql.NODE_KEYS if node_level else sql.EXECUTION_KEYS
    conditions, params = filter_clauses(where, node_level=node_level)
    label = "any_value(node_type_inferred) AS node_type" if node_level and "node" in keys and "node_type" not in keys else None
    query = sql.latency_query(
        "node_spans" if node_level else "executions",
        [table[key] for key in keys],
        METRICS[metric],
        conditions,
        label,
    )
    return connection.sql(query, params=params).pl()


def usage(
    connection: duckdb.DuckDBPyConnection, by: Sequence[str] = ("model",), where: ExecutionFilter = ExecutionFilter()
) -> pl.DataFrame:
    """Tokens and cost (USD) of PROMPT runs that reported `execution_meta`, one row per group."""
    keys = _keys(by, USAGE_KEYS)
    conditions, params = filter_clauses(where, node_level=True)
    return connection.sql(sql.usage_query([sql.NODE_KEYS[key] for key in keys], conditions), params=params).pl()


def compare(
    connection: duckdb.DuckDBPyConnection, deployment: str, baseline: str, candidate: str, *, metric: str = "duration"
) -> pl.DataFrame:
    """Node by node, `metric` on release tag `baseline` against `candidate` of one deployment,
    largest p50 slowdown first; the `(workflow)` row compares whole executions."""
    if metric not in METRICS:
        raise UnknownGrouping(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
    query = sql.COMPARE.format(measure=METRICS[metric])
    params = [deployment, deployment, baseline, candidate] * 2 + [metric, baseline, candidate]
    return connection.sql(query, params=params).pl()


def _keys(by: Sequence[str] | str, allowed: Sequence[str]) -> list[str]:
    names = [part.strip() for part in (by.split(",") if isinstance(by, str) else by) if part.strip()]
    if not names:
        raise UnknownGrouping(f"group by at least one of: {', '.join(allowed)}")
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise UnknownGrouping(f"cannot group by {', '.join(unknown)}: choose from {', '.join(allowed)}")
    return list(dict.fromkeys(names))
