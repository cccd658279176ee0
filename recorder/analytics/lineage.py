"""Lineage along `previous_execution_id`: ancestors to the root, descendants as a tree, aggregates.

The request's `previous_execution_id` is the authoritative link; the store's `root_execution_id`
is derived from it and is not consulted here, so a lineage is recomputed from the links each time.
Every walk keeps a visited set: a cycle in bad data is reported (`cycle`) and never loops, and a
chain 10,000 deep is walked iteratively, never recursively.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recorder.store.analytics_reads import LinkRow
from recorder.model.timestamps import us_to_iso

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True, slots=True)
class Descendant:
    execution_id: str
    previous_execution_id: str
    depth: int  # 1 for a direct continuation of the execution asked about


@dataclass(frozen=True, slots=True)
class Lineage:
    """One execution's place in its chain of continuations."""

    execution_id: str
    root_execution_id: str
    ancestors: tuple[str, ...]  # nearest first; the last is the root unless a link is missing
    descendants: tuple[Descendant, ...]  # breadth first: by depth, then start time
    missing: tuple[str, ...]  # referenced by a recorded execution but never recorded
    cycle: bool
    members: tuple[LinkRow, ...]  # every recorded execution above, with its times and status
    costs_usd: Mapping[str, float]  # prompt cost per execution, where execution_meta reported one

    @property
    def children(self) -> list[str]:
        return [item.execution_id for item in self.descendants if item.depth == 1]

    @property
    def chain_length(self) -> int:
        """How many recorded executions the lineage holds (ancestors, itself, descendants)."""
        return len(self.members)

    @property
    def total_duration_ms(self) -> float:
        return sum(m.ended_at_us - m.started_at_us for m in self.members if m.started_at_us is not None and m.ended_at_us is not None) / 1000

    @property
    def total_cost_usd(self) -> float | None:
        """Sum of the prompt costs reported in the lineage; None when none was reported."""
        return round(sum(self.costs_usd.values()), 10) if self.costs_usd else None

    def to_dict(self) -> dict[str, Any]:
        """The `recorder lineage --json` object."""
        return {
            "execution_id": self.execution_id,
            "root_execution_id": self.root_execution_id,
            "ancestors": list(self.ancestors),
            "descendants": [
                {"execution_id": d.execution_id, "previous_execution_id": d.previous_execution_id, "depth": d.depth}
                for d in self.descendants
            ],
            "missing": list(self.missing),
            "cycle": self.cycle,
            "depth": len(self.ancestors),
            "children": self.children,
            "chain_length": self.chain_length,
            "total_duration_ms": self.total_duration_ms,
            "total_cost_usd": self.total_cost_usd,
        }

    def frame(self) -> pl.DataFrame:
        """Every recorded member as a row: relation (ancestor, self, descendant), signed depth
        (ancestors negative, nearest -1), status, times, duration and cost."""
        import polars as pl

        by_id = {member.execution_id: member for member in self.members}
        ordered: list[tuple[str, str, int]] = [(a, "ancestor", -(i + 1)) for i, a in enumerate(self.ancestors)][::-1]
        ordered.append((self.execution_id, "self", 0))
        ordered.extend((d.execution_id, "descendant", d.depth) for d in self.descendants)
        rows = []
        for execution_id, relation, depth in ordered:
            member = by_id[execution_id]
            rows.append(
                {
                    "execution_id": execution_id,
                    "relation": relation,
                    "depth": depth,
                    "previous_execution_id": member.previous_execution_id,
                    "status": member.status,
                    "started_at": us_to_iso(member.started_at_us),
                    "duration_ms": None if member.started_at_us is None or member.ended_at_us is None
                    else (member.ended_at_us - member.started_at_us) / 1000,
                    "cost_usd": self.costs_usd.get(execution_id),
                }
            )
        schema = {"execution_id": pl.String, "relation": pl.String, "depth": pl.Int64, "previous_execution_id": pl.String,
                  "status": pl.String, "started_at": pl.String, "duration_ms": pl.Float64, "cost_usd": pl.Float64}
        return pl.DataFrame(rows, schema=schema).with_columns(pl.col("started_at").str.to_datetime(time_zone="UTC"))


def build_lineage(execution_id: str, family: Iterable[LinkRow], costs_usd: Mapping[str, float] | None = None) -> Lineage:
    """The lineage of `execution_id` from the rows of its family (`Store.lineage_family`)."""
    by_id = {row.execution_id: row for row in family}
    if execution_id not in by_id:
        raise KeyError(execution_id)

    ancestors: list[str] = []
    missing: list[str] = []
    cycle = False
    seen = {execution_id}
    current = execution_id
    while (previous := by_id[current].previous_execution_id) is not None:
        if previous in seen:
            cycle = True
            break
        if previous not in by_id:
            missing.append(previous)
            break
        ancestors.append(previous)
        seen.add(previous)
        current = previous

    children: dict[str, list[LinkRow]] = defaultdict(list)
    for row in by_id.values():
        if row.previous_execution_id is not None and row.previous_execution_id != row.execution_id:
            children[row.previous_execution_id].append(row)
    descendants: list[Descendant] = []
    # Ancestors count as visited: in a cycle they are reached again going down, and a member listed
    # as both ancestor and descendant would be counted twice in the chain's length and totals.
    visited = {execution_id, *ancestors}
    queue: deque[tuple[str, int]] = deque([(execution_id, 0)])
    while queue:
        parent, depth = queue.popleft()
        for child in sorted(children.get(parent, ()), key=_start_order):
            if child.execution_id in visited:
                cycle = True
                continue
            visited.add(child.execution_id)
            descendants.append(Descendant(child.execution_id, parent, depth + 1))
            queue.append((child.execution_id, depth + 1))
    member_ids = {execution_id, *ancestors, *(d.execution_id for d in descendants)}
    costs = {key: value for key, value in (costs_usd or {}).items() if key in member_ids}
    return Lineage(
        execution_id=execution_id,
        root_execution_id=ancestors[-1] if ancestors else execution_id,
        ancestors=tuple(ancestors),
        descendants=tuple(descendants),
        missing=tuple(missing),
        cycle=cycle,
        members=tuple(by_id[key] for key in [execution_id, *ancestors, *(d.execution_id for d in descendants)]),
        costs_usd=costs,
    )


def _start_order(row: LinkRow) -> tuple[int, str]:
    return (row.started_at_us if row.started_at_us is not None else -1, row.execution_id)
