"""The analytics of one store: what `Recorder`'s analytics methods and the CLI commands call.

Point questions (one timeline, one lineage) go to the store's indexes; fleet questions (latency,
usage, comparisons, ad-hoc SQL) go to DuckDB over the fleet snapshot, pulled on first use and
refreshed only where the store changed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from recorder.analytics import latency as _latency
from recorder.analytics.lineage import Lineage, build_lineage
from recorder.analytics.meta import prompt_usage
from recorder.analytics.timeline import Timeline, build_timeline
from recorder.model.filters import ExecutionFilter

if TYPE_CHECKING:
    import duckdb
    import polars as pl

    from recorder.analytics.fleet import FleetSnapshot, RefreshReport
    from recorder.store import Store

SNAPSHOT_ENV = "RECORDER_ANALYTICS_DIR"


class Analytics:
    """Timelines, latency, lineage and SQL over one store. Keep one per process: it holds the
    fleet snapshot, so only the first fleet query pays for the pull."""

    def __init__(self, store: Store, *, snapshot_dir: str | Path | None = None) -> None:
        self._store = store
        directory = snapshot_dir if snapshot_dir is not None else os.environ.get(SNAPSHOT_ENV) or None
        self.snapshot_dir = Path(directory) if directory else None
        self._fleet: FleetSnapshot | None = None  # made on the first fleet question (DuckDB loads then)

    # -- one execution ----------------------------------------------------------------------------

    def timeline(self, execution_id: str) -> Timeline:
        """`execution_id` must be a full id (resolve prefixes first)."""
        execution = self._store.execution_row(execution_id)
        if execution is None:
            raise KeyError(execution_id)
        return build_timeline(execution, self._store.execution_events(execution_id))

    def lineage(self, execution_id: str, *, with_costs: bool = True) -> Lineage:
        family = self._store.lineage_family(execution_id)
        costs: dict[str, float] = {}
        if with_costs and family:
            for owner, raw in self._store.prompt_results([row.execution_id for row in family]):
                usage = prompt_usage(raw)
                if usage is not None and usage.cost_usd is not None:
                    costs[owner] = costs.get(owner, 0.0) + usage.cost_usd
        return build_lineage(execution_id, family, costs)

    # -- the fleet --------------------------------------------------------------------------------

    def latency(
        self, by: Sequence[str] | str = ("node",), where: ExecutionFilter = ExecutionFilter(), *, metric: str = "duration"
    ) -> pl.DataFrame:
        return _latency.latency(self.connection(), by, where, metric=metric)

    def usage(self, by: Sequence[str] | str = ("model",), where: ExecutionFilter = ExecutionFilter()) -> pl.DataFrame:
        return _latency.usage(self.connection(), by, where)

    def compare(self, deployment: str, baseline: str, candidate: str, *, metric: str = "duration") -> pl.DataFrame:
        return _latency.compare(self.connection(), deployment, baseline, candidate, metric=metric)

    def sql(self, query: str, params: Sequence[object] | None = None, *, allow_files: bool = False) -> pl.DataFrame:
        """Ad-hoc DuckDB SQL over the views `executions`, `events` and `node_spans`. Sandboxed
        unless `allow_files`: no file or network access and no extension installed or loaded, so
        a query handed over by someone else cannot read or write the machine's files."""
        relation = self.connection(allow_files=allow_files).sql(query, params=list(params) if params else None)
        if relation is None:  # a statement that returns nothing
            import polars as pl

            return pl.DataFrame()
        return relation.pl()

    def connection(self, *, allow_files: bool = False) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection with the views, refreshed to the store's current state
        (sandboxed unless `allow_files`; see `sql`)."""
        return self._snapshot().connection(allow_files=allow_files)

    def refresh(self) -> RefreshReport:
        """Bring the fleet snapshot up to date now (fleet queries also do it on their own)."""
        return self._snapshot().refresh()

    def close(self) -> None:
        if self._fleet is not None:
            self._fleet.close()

    def _snapshot(self) -> FleetSnapshot:
        if self._fleet is None:
            from recorder.analytics.fleet import FleetSnapshot

            self._fleet = FleetSnapshot(self._store, self.snapshot_dir)
        return self._fleet
