"""Which executions a fleet query looks at: deployment, release tag, time range, status, metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recorder.analytics import sql


@dataclass(frozen=True, slots=True)
class AnalyticsFilter:
    """Filters on the execution (every node run inherits its execution's). All optional.

    `since_us` / `until_us` bound the execution's start (epoch microseconds, until exclusive);
    `metadata` keeps executions whose request metadata has each key at that value (compared as
    text, so `score=0.5` matches the number 0.5); `node` is a node_id or a node type.
    """

    deployment: str | None = None  # name or id
    release_tag: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    status: str | None = None
    node: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, **filters: Any) -> AnalyticsFilter:
        """From keyword arguments, as the Python API takes them (`since`/`until` accept
        microseconds, datetimes or ISO text; `metadata` a mapping)."""
        from recorder.analytics.moments import to_us

        unknown = set(filters) - {"deployment", "release_tag", "since", "until", "status", "node", "metadata"}
        if unknown:
            raise TypeError(f"unknown filter(s): {', '.join(sorted(unknown))}")
        return cls(
            deployment=filters.get("deployment"),
            release_tag=filters.get("release_tag"),
            since_us=to_us(filters.get("since")),
            until_us=to_us(filters.get("until")),
            status=filters["status"].upper() if filters.get("status") else None,
            node=filters.get("node"),
            metadata={str(k): str(v) for k, v in (filters.get("metadata") or {}).items()},
        )

    def clauses(self, *, node_level: bool) -> tuple[list[str], list[Any]]:
        """SQL conditions (fixed fragments from recorder.analytics.sql) and their parameters."""
        started = "execution_started_at_us" if node_level else "started_at_us"
        status = "execution_status" if node_level else "status"
        conditions: list[str] = []
        params: list[Any] = []
        if self.deployment:
            conditions.append(sql.FILTERS["deployment"])
            params += [self.deployment, self.deployment]
        if self.release_tag:
            conditions.append(sql.FILTERS["release_tag"])
            params.append(self.release_tag)
        if self.since_us is not None:
            conditions.append(sql.FILTERS["since_us"].format(started=started))
            params.append(self.since_us)
        if self.until_us is not None:
            conditions.append(sql.FILTERS["until_us"].format(started=started))
            params.append(self.until_us)
        if self.status:
            conditions.append(sql.FILTERS["status"].format(status=status))
            params.append(self.status)
        if self.node:
            if not node_level:
                raise ValueError("a node filter applies to node runs, not to whole executions")
            conditions.append(sql.FILTERS["node"])
            params += [self.node, self.node.upper()]
        for key, value in self.metadata.items():
            conditions.append(sql.FILTERS["metadata"])
            params += [sql.json_path(key), value]
        return conditions, params
