"""The demo, run live: a loopback Vellum streams the synthetic workload and a recorder records it.

Each execution is recorded through the recorder's own live path (`Recorder.record`), a few at a
time as in production, so a newcomer watches the real consumer work. One in `V2_EVERY` goes
through the v2 stream (`/v1/workflow-deployments/{id}/execute-stream`, SDK events), the rest
through the v1 stream (recorder.demo.v2_stream). The recorder is taken as a
small Protocol: the demo sits below the API and does not import it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Protocol

from recorder.demo.server import LoopbackVellum, Scenario
from recorder.demo.v2_stream import as_v2_execution, sent_through_v2
from recorder.demo.workload import DemoExecution, build_workload
from recorder.model.request import RecordedRequest

DEMO_API_KEY = "demo-loopback-key"
DEMO_CONCURRENCY = 4


class LiveRecorder(Protocol):
    """What the demo needs of a recorder (recorder.api.Recorder is one)."""

    @property
    def url(self) -> str: ...

    def record(self, request_body: dict[str, Any], *, api_key: str | None = ..., base_url: str | None = ...,
               on_parsed: Callable[[Any], None] | None = ...) -> Any: ...

    def list_executions(self, *, limit: int | None = ...) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class DemoRun:
    """What a demo run recorded: the workload it served (each execution as the stream it went
    through tells it) and the listing rows of its executions."""

    database: str
    workload: tuple[DemoExecution, ...]
    recorded: tuple[dict[str, Any], ...]
    new_executions: int  # recorded by this run; the rest were in the store already (same seed)

    @property
    def events(self) -> int:
        return sum(row["event_count"] for row in self.recorded)

    @property
    def statuses(self) -> dict[str, int]:
        return dict(Counter(row["status"] for row in self.recorded))

    @property
    def streams(self) -> dict[str, int]:
        """How many executions went through each stream (`v1`, `v2`: recorder.model.endpoints)."""
        return dict(sorted(Counter(RecordedRequest.for_stream(execution.request).stream.value for execution in self.workload).items()))

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database, "executions": len(self.recorded), "new_executions": self.new_executions,
                "events": self.events, "statuses": self.statuses, "streams": self.streams}


def record_demo(
    recorder: LiveRecorder,
    *,
    executions: int = 60,
    seed: int = 7,
    speed: float = 25.0,
    concurrency: int = DEMO_CONCURRENCY,
    on_serving: Callable[[str], None] | None = None,
    on_parsed: Callable[[Any], None] | None = None,
    on_recorded: Callable[[Any], None] | None = None,
) -> DemoRun:
    """Serve `executions` synthetic executions from a loopback Vellum (`speed` times faster than
    real time) and record each live. The first is recorded alone, its events handed to
    `on_parsed` as they arrive (a live view); the rest `concurrency` at a time. `on_serving` gets
    the server's base URL once it listens; `on_recorded` each execution's result as it ends.
    Every `V2_EVERY`-th execution is requested and served through the v2 stream."""
    workload = [as_v2_execution(e) if sent_through_v2(index) else e for index, e in enumerate(build_workload(executions=executions, seed=seed))]
    ids = {execution.execution_id for execution in workload}
    already = ids & _recorded_ids(recorder)
    with LoopbackVellum(api_key=DEMO_API_KEY) as server:
        for execution in workload:
            server.expect(execution.request, Scenario.from_text_lines(list(execution.lines), offsets_s=list(execution.offsets_s), speed=speed))
        if on_serving is not None:
            on_serving(server.base_url)
        first, rest = workload[0], workload[1:]
        _done(recorder.record(first.request, api_key=DEMO_API_KEY, base_url=server.base_url, on_parsed=on_parsed), on_recorded)
        with ThreadPoolExecutor(concurrency) as pool:
            futures = [pool.submit(recorder.record, e.request, api_key=DEMO_API_KEY, base_url=server.base_url) for e in rest]
            for future in as_completed(futures):
                _done(future.result(), on_recorded)
    recorded = tuple(row for row in recorder.list_executions(limit=None) if row["execution_id"] in ids)
    return DemoRun(database=recorder.url, workload=tuple(workload), recorded=recorded, new_executions=len(ids - already))


def _recorded_ids(recorder: LiveRecorder) -> set[str]:
    return {row["execution_id"] for row in recorder.list_executions(limit=None)}


def _done(result: Any, on_recorded: Callable[[Any], None] | None) -> None:
    if on_recorded is not None:
        on_recorded(result)
