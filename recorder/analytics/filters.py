"""The filter's conditions in DuckDB: recorder.model.filters.ExecutionFilter as WHERE fragments.

The filter type is shared with the store's listing; only its translation to the fleet snapshot's
views lives here, built from the fixed fragments in recorder.analytics.sql.
"""

from __future__ import annotations

from typing import Any

from recorder.analytics import sql
from recorder.model.filters import ExecutionFilter


def filter_clauses(where: ExecutionFilter, *, node_level: bool) -> tuple[list[str], list[Any]]:
    """SQL conditions over `node_spans` (node_level) or `executions`, and their parameters.
    `limit` is not a condition: fleet questions aggregate every matching execution."""
    started = "execution_started_at_us" if node_level else "started_at_us"
    status = "execution_status" if node_level else "status"
    conditions: list[str] = []
    params: list[Any] = []
    if where.deployment:
        conditions.append(sql.FILTERS["deployment"])
        params += [where.deployment, where.deployment]
    if where.release_tag:
        conditions.append(sql.FILTERS["release_tag"])
        params.append(where.release_tag)
    if where.since_us is not None:
        conditions.append(sql.FILTERS["since_us"].format(started=started))
        params.append(where.since_us)
    if where.until_us is not None:
        conditions.append(sql.FILTERS["until_us"].format(started=started))
        params.append(where.until_us)
    if where.status:
        conditions.append(sql.FILTERS["status"].format(status=status))
        params.append(where.status)
    if where.node:
        if not node_level:
            raise ValueError("a node filter applies to node runs, not to whole executions")
        conditions.append(sql.FILTERS["node"])
        params += [where.node, where.node.upper()]
    for key, value in where.metadata.items():
        conditions.append(sql.FILTERS["metadata"])
        params += [sql.json_path(key), value]
    return conditions, params
