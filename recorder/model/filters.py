"""Which executions a question is about: one filter for the store's listing and the fleet analytics.

A listing and a latency breakdown given the same filter look at the same executions. The store's
listing reads deployment, status, the time range and `limit`; the fleet analytics read every field
but `limit` (they aggregate, so a row cap would change the answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recorder.model.moments import Moment, to_us


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    """Filters on the execution (every node run inherits its execution's). All optional.

    `since_us` / `until_us` bound the execution's start (epoch microseconds, until exclusive);
    `metadata` keeps executions whose request metadata has each key at that value (compared as
    text, so `score=0.5` matches the number 0.5); `node` is a node_id or a node type; `limit` caps
    a listing (newest first).
    """

    deployment: str | None = None  # name or id
    release_tag: str | None = None
    status: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    node: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    limit: int | None = 100

    @classmethod
    def of(
        cls,
        *,
        deployment: str | None = None,
        release_tag: str | None = None,
        status: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        node: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int | None = 100,
    ) -> ExecutionFilter:
        """From keyword arguments as the Python API takes them: `since`/`until` accept what the
        CLI's --since accepts (microseconds, a datetime, ISO-8601 text or an age like "2h");
        `metadata` maps keys to values of any type. An unknown keyword is a TypeError."""
        return cls(
            deployment=deployment,
            release_tag=release_tag,
            status=status.upper() if status else None,
            since_us=to_us(since),
            until_us=to_us(until),
            node=node,
            metadata={str(key): str(value) for key, value in (metadata or {}).items()},
            limit=limit,
        )
