"""The analytics of one store: what `Recorder`'s analytics methods and the CLI commands call.

Point questions (one timeline, one lineage) go to the store's indexes; fleet questions (latency,
usage, comparisons, ad-hoc SQL) go to DuckDB over the fleet snapshot, which is read from its cache
folder (or pulled) on first use and refreshed by the store's change cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from recorder.analytics import latency as _latency
from recorder.analytics.lineage import Lineage, build_lineage
from recorder.analytics.timeline import Timeline, build_timeline
from recorder.model.filters import ExecutionFilter

if TYPE_CHECKING:
    import duckdb
    import polars as pl

    from recorder.analytics.fleet import CacheInfo, FleetSnapshot, RefreshReport
    from recorder.store import Store


class Analytics:
    """Timelines, latency, lineage and SQL over one store. Keep one per process: it holds the
    fleet snapshot, so only the first fleet query reads it (and pulls what changed).

    The snapshot is kept on disk in the store's cache folder (recorder.analytics.snapshot_files:
    `RECORDER_ANALYTICS_DIR`, else one folder per store under the user cache) unless
    `persist=False`; `snapshot_dir` names the folder instead.
    """

    def __init__(self, store: Store, *, snapshot_dir: str | Path | None = None, persist: bool = True) -> None:
        self._store = store
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir is not None else None
        self.persist = persist
        self._fleet: FleetSnapshot | None = None  # made on the first fleet question (DuckDB loads then)

    # -- one execution ----------------------------------------------------------------------------

    def timeline(self, execution_id: str) -> Timeline:
        """`execution_id` must be a full id (resolve prefixes first)."""
        execution = self._store.execution_row(execution_id)
        if execution is None:
            raise KeyError(execution_id)
        return build_timeline(execution, self._store.execution_events(execution_id))

    def lineage(self, execution_id: str, *, with_costs: bool = True) -> Lineage:
        """The lineage with each member's prompt cost, which the store keeps on the execution row at
        ingest: the family's one recursive query brings it along (`with_costs=False` leaves it out)."""
        family = self._store.lineage_family(execution_id)
        costs = {row.execution_id: row.prompt_cost_usd for row in family if row.prompt_cost_usd is not None} if with_costs else {}
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

    def sql(
        self, query: str, params: Sequence[object] | None = None, *, allow_files: bool = False, events: bool = False
    ) -> pl.DataFrame:
        """Ad-hoc DuckDB SQL over the views `executions` and `node_spans`, and `events` with
        `events=True` (their indexed columns, pulled from the store for this: the fleet snapshot
        holds no events). Sandboxed unless `allow_files`: no file or network access and no
        extension installed or loaded, so a query handed over by someone else cannot read or
        write the machine's files."""
        relation = self.connection(allow_files=allow_files, events=events).sql(query, params=list(params) if params else None)
        if relation is None:  # a statement that returns nothing
            import polars as pl

            return pl.DataFrame()
        return relation.pl()

    def connection(self, *, allow_files: bool = False, events: bool = False) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection with the views, refreshed to the store's current state
        (sandboxed unless `allow_files`; with the `events` view when `events`; see `sql`)."""
        return self._snapshot().connection(allow_files=allow_files, events=events)

    def refresh(self) -> RefreshReport:
        """Bring the fleet snapshot up to date now (fleet queries also do it on their own)."""
        return self._snapshot().refresh()

    # -- the snapshot's cache folder --------------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        """Where this store's snapshot is kept, its size on disk, and the store state and rows it holds."""
        return self._snapshot().info()

    def clear_cache(self) -> int:
        """Drop this store's snapshot from disk (the next process pulls the store); bytes freed."""
        return self._snapshot().clear()

    def close(self) -> None:
        if self._fleet is not None:
            self._fleet.close()

    def _snapshot(self) -> FleetSnapshot:
        if self._fleet is None:
            from recorder.analytics.fleet import FleetSnapshot

            self._fleet = FleetSnapshot(self._store, self.snapshot_dir, persist=self.persist)
        return self._fleet
