"""What the charts and the report ask of a recorder, as a Protocol: recorder.api.Recorder is one.

The report sits below the API (it draws the API's answers), so it names the questions it asks
instead of importing the class that answers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import polars as pl

    from recorder.analytics import Lineage, Timeline
    from recorder.model.filters import ExecutionFilter


class RecorderAnswers(Protocol):
    def list_executions(self, where: ExecutionFilter | None = None) -> list[dict[str, Any]]: ...

    def timeline(self, execution_id: str) -> Timeline: ...

    def lineage(self, execution_id: str) -> Lineage: ...

    def latency(self, by: str | Sequence[str] = ..., *, metric: str = ..., **filters: Any) -> pl.DataFrame: ...

    def usage(self, by: str | Sequence[str] = ..., **filters: Any) -> pl.DataFrame: ...

    def sql(self, query: str, params: Sequence[Any] | None = None, *, allow_files: bool = False) -> pl.DataFrame: ...
