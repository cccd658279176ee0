"""The Python API: what notebooks, scripts and the CLI call. The CLI is a thin projection of it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recorder.extras import require
from recorder.model.cassette import Cassette, CassetteError, is_cassette
from recorder.model.events import ParsedEvent, RejectedLine
from recorder.model.filters import ExecutionFilter
from recorder.model.moments import Moment
from recorder.model.timestamps import now_us
from recorder.store import FlushPolicy, RecordingResult, Store
from recorder.store.serialize import (
    actual_to_dict,
    event_to_dict,
    execution_to_dict,
    json_ready,
    recording_to_dict,
    reject_to_dict,
    status_check_to_dict,
)
from recorder.stream.ingest import STDIN, IngestError, ingest_arriving_chunks, ingest_cassette, ingest_chunks, open_body, read_head


if TYPE_CHECKING:
    from collections.abc import Sequence

    import httpx
    import polars as pl

    from recorder.analytics import Analytics, Lineage, Timeline
    from recorder.analytics.fleet import CacheInfo
    from recorder.demo.live_recording import DemoRun
    from recorder.otel.exporter import OtlpExportResult
    from recorder.stream.http import LiveResult
    from recorder.stream.vellum_api import Timeouts


class ExecutionNotFound(LookupError):
    """No recorded execution has this id (or the prefix is ambiguous)."""


@dataclass(frozen=True, slots=True)
class SchemaMigration:
    """What `Recorder.init` did: the store's revision before (None: no schema) and after."""

    url: str
    before: str | None
    after: str | None
    head: str

    @property
    def migrated(self) -> bool:
        return self.before != self.after


class Recorder:
    """A recorder store and everything done with it. `Recorder()` uses RECORDER_DATABASE_URL or
    ./recorder.db; `Recorder("postgresql://...")` a server."""

    def __init__(self, url: str | None = None, *, store: Store | None = None) -> None:
        self.store = store or Store(url)

    @property
    def url(self) -> str:
        return self.store.url

    @classmethod
    def init(cls, url: str | None = None, *, allow_other_tables: bool = False) -> SchemaMigration:
        """Create the schema in an empty database, or migrate it to this version (alembic upgrade
        head), as `recorder init` does. A database holding another application's tables gets the
        recorder's beside them only with `allow_other_tables`. A class method: a `Recorder` opens
        only a database that already has the schema (or that recording may give it)."""
        from recorder.store.engine import head_revision

        store = Store(url, ensure_schema=False)
        try:
            before, after = store.migrate(allow_other_tables=allow_other_tables)
        finally:
            store.close()
        return SchemaMigration(url=store.url, before=before, after=after, head=head_revision())

    # -- recording ------------------------------------------------------------------------------

    def ingest(
        self, path: str, *, request: dict[str, Any] | None = None, on_bytes: Callable[[int], None] | None = None
    ) -> RecordingResult:
        """Record a saved response body (NDJSON file or cassette; `-` for stdin)."""
        source, chunks = open_body(path, on_bytes)
        head, rest = read_head(chunks)
        if is_cassette(head):
            # A cassette (`recorder export`) is recorded as the exchange it holds: its request
            # (unless one is given), arrival times, HTTP status and outcome.
            try:
                cassette = Cassette.loads(head + b"".join(rest))
            except CassetteError as exc:
                raise IngestError(f"{path}: {exc}") from exc
            return ingest_cassette(self.store, cassette, request=request, source=source)
        body = itertools.chain((head,), rest)
        if path == STDIN:
            return ingest_arriving_chunks(self.store, body, source=source, request=request)
        return ingest_chunks(self.store, body, source=source, request=request, body_bytes=Path(path).stat().st_size)

    def ingest_lines(self, lines: Iterable[bytes | str], *, request: dict[str, Any] | None = None, source: str = "api") -> RecordingResult:
        """Record any iterable of raw lines (without their newlines) as one stream."""
        chunks = ((line.encode("utf-8") if isinstance(line, str) else line) + b"\n" for line in lines)
        return ingest_chunks(self.store, chunks, source=source, request=request)

    def record(
        self,
        request_body: dict[str, Any],
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeouts: Timeouts | None = None,
        policy: FlushPolicy | None = None,
        on_parsed: Callable[[ParsedEvent | RejectedLine], None] | None = None,
        on_bytes: Callable[[bytes], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        stream: str = "v1",
    ) -> LiveResult:
        """Execute a deployed workflow and record its stream as it flows (never retried).

        `request_body` names the deployment the v1 way (`workflow_deployment_name` or `_id`);
        `stream="v2"` executes it through `/v1/workflow-deployments/{id}/execute-stream` instead,
        with `inputs` a plain `{name: value}` object (see recorder.model.endpoints).
        The API key defaults to VELLUM_API_KEY and is sent as a header only, never stored.
        `transport` does the network work under the recording (default: httpx's own).
        """
        # HTTP modules are imported on use: reading the store (the CLI's listings) never needs httpx.
        from recorder.stream.http import execute_and_record
        from recorder.stream.vellum_api import Timeouts, api_key_from_env, base_url_from_env

        return execute_and_record(
            self.store,
            request_body,
            api_key=api_key or api_key_from_env(),
            base_url=base_url_from_env(base_url),
            timeouts=timeouts or Timeouts(),
            policy=policy,
            on_parsed=on_parsed,
            on_bytes=on_bytes,
            transport=transport,
            stream=stream,
        )

    def reconcile(
        self,
        execution_ids: Iterable[str] | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        abandoned_after_s: float = 60.0,
    ) -> list[dict[str, Any]]:
        """Ask the status endpoint about INCOMPLETE executions and record each answer as a fact.

        Recorded events and the execution's own status are left as they were. First, recordings
        whose recorder died mid-stream (no heartbeat for `abandoned_after_s`) are marked cut.
        """
        from recorder.stream.vellum_api import api_key_from_env, base_url_from_env, get_execution_status

        key, url = api_key or api_key_from_env(), base_url_from_env(base_url)
        self.store.mark_abandoned_recordings(silent_for_s=abandoned_after_s)
        ids = [self.resolve(i) for i in execution_ids] if execution_ids else self.store.incomplete_execution_ids()
        report = []
        for execution_id in ids:
            answer = get_execution_status(url, key, execution_id)
            body = answer.json() if answer.http_status is not None else None
            body = body if isinstance(body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            self.store.add_status_check(
                execution_id=execution_id,
                source=answer.url,
                http_status=answer.http_status,
                status=body.get("status") if answer.error is None else None,
                outputs=body.get("outputs"),
                error_code=error.get("code"),
                error_message=error.get("message"),
                response=answer.body or answer.error,
            )
            execution = self.store.execution(execution_id)
            report.append(
                {
                    "execution_id": execution_id,
                    "recorded_status": execution.status if execution else None,
                    "reported_status": body.get("status") if answer.error is None else None,
                    "error_code": error.get("code"),
                    "error": answer.error,
                }
            )
        return report

    def submit_actual(
        self,
        execution_id: str,
        *,
        output: str,
        quality: float | None = None,
        value: Any = None,
        output_type: str = "STRING",
        metadata: Any = None,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> dict[str, Any]:
        """Post feedback on an execution's output and record it beside the execution."""
        from recorder.stream.vellum_api import api_key_from_env, base_url_from_env, submit_actuals

        key, url = api_key or api_key_from_env(), base_url_from_env(base_url)
        execution_id = self.resolve(execution_id)
        actual: dict[str, Any] = {"output_key": output, "output_type": output_type, "timestamp": now_us() / 1_000_000}
        if quality is not None:
            actual["quality"] = quality
        if value is not None:
            actual["desired_output_value"] = value
        if metadata is not None:
            actual["metadata"] = metadata
        answer = submit_actuals(url, key, {"execution_id": execution_id, "actuals": [actual]})
        self.store.add_actual(
            execution_id=execution_id,
            output_key=output,
            output_type=output_type,
            quality=quality,
            value=value,
            metadata_=metadata,
            source=answer.url,
            http_status=answer.http_status,
            error=answer.error,
        )
        return {"execution_id": execution_id, "output": output, "quality": quality, "value": value,
                "http_status": answer.http_status, "error": answer.error}

    def demo(
        self,
        *,
        executions: int = 60,
        seed: int = 7,
        speed: float = 25.0,
        on_serving: Callable[[str], None] | None = None,
        on_parsed: Callable[[ParsedEvent | RejectedLine], None] | None = None,
        on_recorded: Callable[[LiveResult], None] | None = None,
    ) -> DemoRun:
        """Record a synthetic workload live, as `recorder demo` does: a loopback Vellum streams
        `executions` executions (same `seed`, same workload; `speed` times faster than real time)
        and each is recorded through `record`. The first one's events go to `on_parsed` as they
        arrive; `on_serving` gets the server's URL, `on_recorded` each execution's result."""
        from recorder.demo.live_recording import record_demo

        return record_demo(self, executions=executions, seed=seed, speed=speed,
                           on_serving=on_serving, on_parsed=on_parsed, on_recorded=on_recorded)

    # -- replay ---------------------------------------------------------------------------------

    def export(self, execution_id: str, **fault: Any) -> Cassette:
        """The cassette of a recorded execution (id or unique prefix): request, status and every
        received line with its arrival offset; `.body()` is the received bytes, `.dumps()` the file.

        `fault` fields (`cut_after_lines`, `status`, `first_byte_delay_s`, `body`; see
        recorder.model.cassette.Fault) make replays of it fail that way, as in production."""
        from recorder.replay.export import export_cassette

        cassette = export_cassette(self.store, self.resolve(execution_id))
        return cassette.adding_fault(**fault) if fault else cassette

    # -- auditing -------------------------------------------------------------------------------

    def resolve(self, execution_id: str) -> str:
        """The full id of an execution given its id or a unique prefix. A prefix shared by several
        ids is refused naming a few of them, so the user knows to type more, not that nothing is there."""
        resolved = self.store.resolve_execution_id(execution_id)
        if resolved is not None:
            return resolved
        shown = 5
        candidates = self.store.find_execution_ids(execution_id, limit=shown + 1)
        if len(candidates) > 1:
            count, more = (f"more than {shown}", ", ...") if len(candidates) > shown else (str(len(candidates)), "")
            raise ExecutionNotFound(
                f"{execution_id!r} is ambiguous: {count} recorded executions begin with it "
                f"({', '.join(candidates[:shown])}{more}); type more characters"
            )
        raise ExecutionNotFound(f"no recorded execution matches {execution_id!r}")

    def list_executions(
        self,
        where: ExecutionFilter | None = None,
        *,
        deployment: str | None = None,
        status: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        limit: int | None = 100,
    ) -> list[dict[str, Any]]:
        """Recorded executions, newest first, at most `limit` (None: all). `since`/`until` as the
        CLI takes them (epoch microseconds, a datetime, ISO-8601 text, or an age such as "2h");
        a whole `where` filter replaces the keyword filters."""
        if where is None:
            where = ExecutionFilter.of(deployment=deployment, status=status, since=since, until=until, limit=limit)
        return [execution_to_dict(execution) for execution in self.store.executions(where)]

    def executions(
        self,
        where: ExecutionFilter | None = None,
        *,
        deployment: str | None = None,
        status: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Executions as a polars DataFrame (times as UTC datetimes): `list_executions`' filters,
        with no row limit unless one is given."""
        pl = require("polars", "Recorder.executions()")  # on use: a plain install has no polars

        rows = self.list_executions(where, deployment=deployment, status=status, since=since, until=until, limit=limit)
        frame = pl.DataFrame(rows, schema_overrides={"metadata": pl.Object}) if rows else pl.DataFrame()
        for column in ("started_at", "ended_at"):
            if column in frame.columns:
                frame = frame.with_columns(pl.col(column).str.to_datetime(time_zone="UTC"))
        return frame

    def audit(self, execution_id: str) -> dict[str, Any]:
        """Everything recorded about one execution: request, inputs, outputs, error, events in order."""
        execution = self.store.execution(self.resolve(execution_id))
        assert execution is not None
        recordings = self.store.recordings_of(execution.execution_id)
        describing = next((r for r in recordings if r.id == execution.recording_id), None)
        rejects = self.store.rejects([recording.id for recording in recordings])
        error = None
        if execution.error_code or execution.error_message:
            error = {"code": execution.error_code, "message": execution.error_message}
        return {
            **execution_to_dict(execution),
            "request": json_ready(describing.request) if describing is not None else None,
            "inputs": json_ready(execution.inputs),
            "outputs": json_ready(execution.outputs),
            "error": error,
            "recordings": [recording_to_dict(recording) for recording in recordings],
            "rejects": [reject_to_dict(reject) for reject in rejects],
            "status_checks": [status_check_to_dict(c) for c in self.store.status_checks_of([execution.execution_id]).get(execution.execution_id, [])],
            "actuals": [actual_to_dict(a) for a in self.store.actuals_of(execution.execution_id)],
            "events": [event_to_dict(event) for event in self.store.events(execution.execution_id)],
        }

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- analytics ------------------------------------------------------------------------------
    # Timelines and lineage come from indexed store queries; latency, usage, compare and sql run in
    # DuckDB over a snapshot pulled on first use and refreshed only where the store changed since.
    # Imports happen on use, so the CLI's start-up does not pay for DuckDB, polars or pyarrow.

    @property
    def analytics(self) -> Analytics:
        """The store's analytics (recorder.analytics.Analytics), created on first use and kept,
        so the fleet snapshot is pulled once per Recorder."""
        analytics = self.__dict__.get("_analytics")
        if analytics is None:
            from recorder.analytics import Analytics

            analytics = self.__dict__["_analytics"] = Analytics(self.store)
        return analytics

    def _fleet(self, purpose: str) -> Analytics:
        """The analytics, for a fleet question: those run in DuckDB over Arrow (the analytics extra)."""
        for module in ("duckdb", "polars", "pyarrow"):
            require(module, purpose)
        return self.analytics

    def timeline(self, execution_id: str) -> Timeline:
        """What happened in one execution and when: its node spans (`.frame()` for polars),
        overhead, concurrency and critical path. Takes an id or a unique prefix."""
        return self.analytics.timeline(self.resolve(execution_id))

    def lineage(self, execution_id: str) -> Lineage:
        """Ancestors along previous_execution_id (nearest first), descendants with depth, missing
        links, cycle flag and chain aggregates (`.frame()` for polars). Id or unique prefix."""
        return self.analytics.lineage(self.resolve(execution_id))

    def latency(self, by: str | Sequence[str] = "node", *, metric: str = "duration", **filters: Any) -> pl.DataFrame:
        """count, mean_ms, p50/p90/p95/p99_ms and max_ms per group. `by`: node, node_type,
        deployment, release_tag, status, hour, day (several: "deployment,node"). `metric`:
        duration or first_output (time to first streamed output). Filters: deployment,
        release_tag, status, node, metadata={key: value}, and since/until as the CLI takes them
        (epoch microseconds, a datetime, ISO-8601 text, or an age such as "30m", "2h", "7d")."""
        return self._fleet("Recorder.latency()").latency(by, ExecutionFilter.of(**filters), metric=metric)

    def usage(self, by: str | Sequence[str] = "model", **filters: Any) -> pl.DataFrame:
        """Tokens and cost (USD) from PROMPT runs' execution_meta, by node, node_type, model,
        deployment, release_tag or day; the same filters as `latency`."""
        return self._fleet("Recorder.usage()").usage(by, ExecutionFilter.of(**filters))

    def compare(self, deployment: str, baseline: str, candidate: str, *, metric: str = "duration") -> pl.DataFrame:
        """Release tag `candidate` against `baseline` of one deployment, node by node (the
        regression question): counts, p50/p90/p99 of each, delta and ratio, worst first."""
        return self._fleet("Recorder.compare()").compare(deployment, baseline, candidate, metric=metric)

    def sql(
        self, query: str, params: Sequence[Any] | None = None, *, allow_files: bool = False, events: bool = False
    ) -> pl.DataFrame:
        """Ad-hoc DuckDB SQL (`?` parameters) over the views executions and node_spans, and events
        with `events=True` (the events' indexed columns, pulled from the store for that query's
        connection only: the fleet snapshot holds no events). Without `allow_files` the query
        cannot touch files or the network (read_text, COPY ... TO, ATTACH) nor install or load
        extensions."""
        return self._fleet("Recorder.sql()").sql(query, params, allow_files=allow_files, events=events)

    # -- the fleet snapshot's cache -----------------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        """This store's fleet snapshot on disk: its folder, size, and the store state (store_id,
        change cursor) and rows it holds. Reads only the cache folder."""
        return self._fleet("Recorder.cache_info()").cache_info()

    def clear_cache(self, *, every_store: bool = False) -> int:
        """Drop this store's fleet snapshot from disk, or with `every_store` every store's;
        returns the bytes freed. The next fleet question pulls the store again."""
        if every_store:
            from recorder.analytics.snapshot_files import clear_all

            self._fleet("Recorder.clear_cache()")
            freed = clear_all()
            return freed + self.analytics.clear_cache()
        return self._fleet("Recorder.clear_cache()").clear_cache()

    # -- OpenTelemetry export -------------------------------------------------------------------------

    def export_otlp(
        self,
        *,
        endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        deployment: str | None = None,
        resume: bool = True,
        dry_run: bool = False,
        timeout_s: float = 10.0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> OtlpExportResult:
        """Send recorded executions as OpenTelemetry traces over OTLP/HTTP (the `[otel]` extra):
        one trace per terminal execution, the workflow as root span, node runs nested below.

        `endpoint` defaults to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT
        + /v1/traces, else Phoenix's http://localhost:6006/v1/traces; `headers` add to
        OTEL_EXPORTER_OTLP_HEADERS. `resume` (the default) sends only what was written after the
        endpoint's cursor, which moves after each batch the receiver accepted; `resume=False`
        sends everything again. `since`/`until` (the execution's start) and `deployment` narrow
        what is sent. Raises OtlpExportFailed when a batch is refused or the receiver is down."""
        for module in ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter"):
            require(module, "Recorder.export_otlp()")
        from recorder.otel.exporter import export_executions

        where = ExecutionFilter.of(deployment=deployment, since=since, until=until, limit=None)
        return export_executions(
            self.store, endpoint=endpoint, headers=headers, where=where, resume=resume, dry_run=dry_run,
            timeout_s=timeout_s, on_progress=on_progress,
        )

    # -- retention ----------------------------------------------------------------------------------

    def prune(
        self,
        *,
        older_than: Moment,
        deployment: str | None = None,
        keep_failed: bool = False,
        dry_run: bool = False,
        vacuum: bool = False,
        batch_size: int = 500,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> PruneReport:
        """Delete whole executions started before `older_than` (an ISO-8601 time, an age like
        `90d` before now, a datetime or epoch microseconds), as `recorder prune` does: their
        events, node spans, status checks and actuals, and the recordings (with their rejects)
        left holding no execution. `deployment` (name or id) narrows it; `keep_failed` keeps
        REJECTED executions; an execution a live recording (`in_progress`) holds is never
        touched. Works in transactions of `batch_size` executions; `dry_run` counts only.
        `vacuum` gives the space back afterwards (SQLite VACUUM; PostgreSQL VACUUM ANALYZE).
        `on_progress(done, total)` is told executions deleted so far after each batch.

        Survivors whose parent was pruned root their own subtree (`root_execution_id`); their
        `previous_execution_id` stays, so lineage reports the pruned parent as missing. A prune
        that deleted anything gives the store a new identity, so every fleet snapshot rebuilds.
        """
        import time

        from recorder.model.moments import to_us
        from recorder.store.retention import PruneCriteria

        started = time.perf_counter()
        cutoff_us = to_us(older_than)
        if cutoff_us is None:
            raise ValueError("older_than is required: the age or time before which executions are pruned")
        criteria = PruneCriteria(cutoff_us=cutoff_us, deployment=deployment or None, keep_failed=keep_failed)
        on_batch: Callable[[Any], None] | None = None
        if on_progress is not None and not dry_run:
            total = self.store.count_prunable(criteria)
            on_progress(0, total)
            on_batch = lambda counts: on_progress(counts.executions, max(total, counts.executions))  # noqa: E731

        counts = self.store.prune_executions(criteria, batch_size=batch_size, dry_run=dry_run, on_batch=on_batch)
        vacuumed = vacuum and not dry_run
        if vacuumed:
            self.store.reclaim_space()
        return PruneReport(
            cutoff_us=cutoff_us,
            deployment=criteria.deployment,
            keep_failed=keep_failed,
            dry_run=dry_run,
            executions=counts.executions,
            events=counts.events,
            spans=counts.spans,
            recordings=counts.recordings,
            rejects=counts.rejects,
            status_checks=counts.status_checks,
            actuals=counts.actuals,
            repointed=counts.repointed,
            batches=counts.batches,
            vacuumed=vacuumed,
            seconds=round(time.perf_counter() - started, 3),
        )


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What `Recorder.prune` removed (with `dry_run`: would remove), from which cut-off, and how."""

    cutoff_us: int
    deployment: str | None
    keep_failed: bool
    dry_run: bool
    executions: int
    events: int
    spans: int
    recordings: int
    rejects: int
    status_checks: int
    actuals: int
    repointed: int  # survivors handed a new root_execution_id
    batches: int
    vacuumed: bool
    seconds: float

    @property
    def cutoff(self) -> str:
        from recorder.model.timestamps import us_to_iso

        return us_to_iso(self.cutoff_us)

    def to_dict(self) -> dict[str, Any]:
        """The `recorder prune --json` document."""
        return {"cutoff": self.cutoff, **{name: getattr(self, name) for name in self.__slots__}}
