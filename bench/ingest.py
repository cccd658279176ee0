"""Bulk-ingest benchmark: recorder's real ingest path against the raw database driver.

    python bench/ingest.py [--events N] [--backend sqlite|postgresql|both] [--pg-url URL]

What is measured, per backend (each phase in a fresh spawned interpreter, on a fresh database):

1. recorder_ingest (end to end): `ingest_path(store, FILE)`, exactly what `recorder ingest FILE`
   runs on one large NDJSON body: 1 MiB reads, `LineSplitter`, `parse_line`, `RecordingWriter`
   with `FlushPolicy.bulk()` (a transaction per 10,000 events, each also syncing the `executions`
   rows and the recording's progress). Timed from the call to its return (schema creation by
   `Store(url)` is not timed). Its peak RSS is the `peak_rss_mb` figure.
2. recorder_store_only: the same events, parsed and laid out as rows *before* each batch is timed,
   then committed through the writer's own `flush()` (so `insert_events` plus the per-batch
   `sync_executions` and progress update, in the writer's batch size and transactions). This
   separates what the store layer costs from what reading and parsing cost.
3. raw_driver: the very same row tuples (recorder's parser and `writer._event_row` layout, built
   untimed batch by batch) into an identical, empty `events` table (made by the recorder's
   migrations, so same keys and indexes), through the driver's fastest path: sqlite3
   `executemany` of a plain INSERT in large transactions (same WAL / synchronous=NORMAL settings
   the store uses), psycopg `COPY events (...) FROM STDIN` with `write_row`, one COPY per
   transaction. Only the driver calls and the commit are timed.

The ratios (recorder rate / raw driver rate) are what the issue's target is about: recorder ingest
>= 80% of the raw driver's rate on both engines, in < 500 MB RSS.

The workload comes from `recorder.demo.workload.iter_workload` (realistic streams: ~46 events and
~690 bytes per event on average). It is written to a temporary NDJSON file before anything is timed,
so generating it is never measured; executions are appended whole until at least N events.
`--streams` adds a fourth phase: every execution ingested as its own body with its request
(`ingest_chunks` per stream, one recording each), as when many saved bodies are ingested.
`--profile` adds an untimed cProfile run of phase 1 and prints where its time goes.

The last lines of the output are one figure per line, `<backend> <name> <value>`; everything else
is prefixed with `# `.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from _common import DEFAULT_PG_URL, info, libpq_url, peak_rss_mb, run_isolated, scratch_postgres, scratch_sqlite

from recorder.model.events import ParsedEvent, RejectedLine, parse_line
from recorder.model.facts import ExecutionFacts
from recorder.model.lines import iter_lines
from recorder.model.timestamps import now_us
from recorder.store.bulk import EVENT_COLUMNS
from recorder.store.writer import FlushPolicy, _event_row
from recorder.stream.ingest import CHUNK_SIZE

RAW_BATCH = 50_000
TARGET_RATIO = 0.8
TARGET_RSS_MB = 500
SEED = 7

Result = dict[str, Any]


# -- the workload (generated before anything is timed) -----------------------------------------------


def generate_workload(body_path: Path, index_path: Path, events: int, seed: int) -> dict[str, int]:
    """Append whole executions to one NDJSON body until it holds at least `events` events; the index
    file has one JSON line per execution (byte offset, length, request) for the per-stream phase."""
    from recorder.demo.workload import body_bytes, iter_workload

    written = executions = size = 0
    # iter_workload spreads `executions` over its simulated time span and is lazy: ask for more
    # than needed (average ~46 events each) and stop once there are enough events.
    with body_path.open("wb") as body, index_path.open("w", encoding="utf-8") as index:
        for execution in iter_workload(executions=events // 20 + 100, seed=seed):
            data = body_bytes(execution)
            index.write(json.dumps({"offset": size, "length": len(data), "request": execution.request}) + "\n")
            body.write(data)
            size += len(data)
            written += len(execution.lines)
            executions += 1
            if written >= events:
                break
    if written < events:
        raise RuntimeError(f"the workload ran out after {written} events")
    return {"events": written, "executions": executions, "bytes": size}


def prepare_workload(workdir: Path, events: int, seed: int) -> tuple[Path, Path, dict[str, int]]:
    """The NDJSON body and its index; reused when `workdir` already holds them for these arguments."""
    stem = workdir / f"workload-{events}-seed{seed}"
    body, index, meta_path = stem.with_suffix(".ndjson"), stem.with_suffix(".index.jsonl"), stem.with_suffix(".meta.json")
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        info(f"reusing {body} ({meta['events']} events)")
        return body, index, meta
    info(f"generating >= {events} events with iter_workload(seed={seed}) into {body} (not timed)")
    start = time.perf_counter()
    meta = generate_workload(body, index, events, seed)
    meta_path.write_text(json.dumps(meta))
    info(
        f"generated {meta['events']} events in {meta['executions']} executions, "
        f"{meta['bytes'] / 1e6:.0f} MB, in {time.perf_counter() - start:.1f} s"
    )
    return body, index, meta


def iter_row_batches(
    body_path: str, batch_size: int, recording_id: int, observe: Callable[[ParsedEvent], None] | None = None
) -> Iterator[tuple[list[tuple[Any, ...]], int]]:
    """The body's events as `events` rows (the tuples RecordingWriter stores), in batches of
    `batch_size`, with how many lines were read so far; read and parsed by recorder's own code.

    Only the rows are kept (no parsed bodies), so the batches hold what the writer holds. Lines that
    are not events would be rejects; the workload has none, so meeting one is an error.
    """
    rows: list[tuple[Any, ...]] = []
    lines_seen = 0
    received_at_us = now_us()
    with open(body_path, "rb") as handle:
        for line in iter_lines(iter(lambda: handle.read(CHUNK_SIZE), b"")):
            lines_seen = line.position + 1
            parsed = parse_line(line)
            if parsed is None:
                continue
            if isinstance(parsed, RejectedLine):
                raise RuntimeError(f"line {line.position} of the workload is a reject: {parsed.reason}")
            if observe is not None:
                observe(parsed)
            rows.append(_event_row(parsed, recording_id, received_at_us))
            if len(rows) >= batch_size:
                yield rows, lines_seen
                rows = []
                received_at_us = now_us()
    if rows:
        yield rows, lines_seen


# -- phases: each runs in a fresh interpreter and returns a plain dict ---------------------------------


def phase_recorder_ingest(url: str, body_path: str, profile_path: str | None = None) -> Result:
    """End to end: what `recorder ingest FILE` does."""
    from recorder.store import Store
    from recorder.stream.ingest import ingest_path

    store = Store(url)
    profiler = cProfile.Profile() if profile_path else None
    try:
        start = time.perf_counter()
        with profiler or nullcontext():
            result = ingest_path(store, body_path)
        seconds = time.perf_counter() - start
    finally:
        store.close()
    if profiler is not None:
        profiler.dump_stats(profile_path)
    return {
        "events": result.events_stored,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "lines": result.lines,
        "rejects": result.rejects,
        "duplicates": result.duplicates,
    }


def phase_recorder_store_only(url: str, body_path: str) -> Result:
    """Pre-parsed rows through the writer's flush: insert_events + sync_executions + progress update,
    in the writer's batches and transactions. Only `flush()`/`finish()` are timed."""
    import recorder.store.writer as writer_module
    from recorder.store import Store

    timers = {"insert_events": 0.0, "sync_executions": 0.0}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timers[name] += time.perf_counter() - start

        return wrapper

    # The writer calls these through its module globals; wrap them to split the flush time.
    writer_module.insert_events = timed("insert_events", writer_module.insert_events)
    writer_module.sync_executions = timed("sync_executions", writer_module.sync_executions)

    store = Store(url)
    try:
        policy = FlushPolicy.bulk()
        writer = store.writer(source=f"file:{body_path}", policy=policy)
        facts: dict[str, ExecutionFacts] = {}
        touched: dict[str, ExecutionFacts] = {}

        def observe(event: ParsedEvent) -> None:
            # What RecordingWriter.add does per line besides parsing and laying out the row.
            item = facts.get(event.execution_id)
            if item is None:
                item = facts[event.execution_id] = ExecutionFacts(event.execution_id)
            item.observe(event)
            touched[event.execution_id] = item

        writer._facts = facts  # finish() reports these execution ids
        seconds = 0.0
        for rows, lines_seen in iter_row_batches(body_path, policy.max_events, writer.recording_id, observe):
            writer._event_rows.extend(rows)
            writer._touched.update(touched)
            writer._lines = lines_seen
            touched.clear()
            start = time.perf_counter()
            writer.flush()
            seconds += time.perf_counter() - start
        start = time.perf_counter()
        result = writer.finish()
        seconds += time.perf_counter() - start
    finally:
        store.close()
    return {"events": result.events_stored, "seconds": seconds, "peak_rss_mb": peak_rss_mb(), **timers}


def phase_recorder_streams(url: str, body_path: str, index_path: str) -> Result:
    """Every execution as its own body with its request (`ingest_chunks` per stream)."""
    from recorder.store import Store
    from recorder.stream.ingest import ingest_chunks

    store = Store(url)
    events = streams = 0
    seconds = 0.0
    try:
        with open(body_path, "rb") as body, open(index_path, encoding="utf-8") as index:
            for entry in map(json.loads, index):
                start = time.perf_counter()
                result = ingest_chunks(
                    store, [body.read(entry["length"])], source=f"bench:{streams}", request=entry["request"]
                )
                seconds += time.perf_counter() - start
                events += result.events_stored
                streams += 1
    finally:
        store.close()
    return {"events": events, "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "streams": streams}


def _create_schema(url: str) -> None:
    """An empty recorder database, made by the recorder's migrations (same table, keys, indexes)."""
    from recorder.store import Store

    Store(url).close()


def phase_raw_sqlite(url: str, body_path: str, batch_size: int) -> Result:
    """sqlite3 executemany of a plain INSERT, one transaction per `batch_size` rows."""
    from sqlalchemy.engine import make_url

    _create_schema(url)
    db_path = make_url(url).database
    connection = sqlite3.connect(db_path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")  # the store's settings (recorder.store.engine)
    connection.execute("PRAGMA synchronous=NORMAL")
    statement = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
    events = 0
    seconds = 0.0
    try:
        for rows, _ in iter_row_batches(body_path, batch_size, recording_id=1):
            start = time.perf_counter()
            connection.execute("BEGIN")
            connection.executemany(statement, rows)
            connection.execute("COMMIT")
            seconds += time.perf_counter() - start
            events += len(rows)
    finally:
        connection.close()
    return {"events": events, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def phase_raw_postgresql(url: str, body_path: str, batch_size: int) -> Result:
    """psycopg COPY ... FROM STDIN with write_row, one COPY and transaction per `batch_size` rows."""
    import psycopg

    _create_schema(url)
    statement = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
    events = 0
    seconds = 0.0
    with psycopg.connect(libpq_url(url)) as connection:
        for rows, _ in iter_row_batches(body_path, batch_size, recording_id=1):
            start = time.perf_counter()
            with connection.transaction(), connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
            seconds += time.perf_counter() - start
            events += len(rows)
    return {"events": events, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


# -- orchestration --------------------------------------------------------------------------------------


def rate(result: Result) -> float:
    return result["events"] / result["seconds"] if result["seconds"] > 0 else 0.0


def report_phase(backend: str, name: str, result: Result, expected: int) -> None:
    details = ", ".join(
        f"{key} {value:.2f} s" if isinstance(value, float) else f"{key} {value}"
        for key, value in result.items()
        if key not in ("events", "seconds", "peak_rss_mb")
    )
    info(
        f"{backend} {name}: {result['events']} events in {result['seconds']:.2f} s = {rate(result):,.0f} events/s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB" + (f" ({details})" if details else "")
    )
    if result["events"] != expected:
        info(f"WARNING: {backend} {name} stored {result['events']} events, expected {expected}")


def print_profile(profile_path: str, limit: int = 25) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profile_path, stream=out)
        stats.strip_dirs().sort_stats(order).print_stats(limit)
        info(f"profile of the recorder ingest, top {limit} by {order}:")
        for line in out.getvalue().splitlines():
            if line.strip() and not line.lstrip().startswith(("Ordered by", "List reduced")):
                info("  " + line)


def run_backend(backend: str, args: argparse.Namespace, body: Path, index: Path, expected: int, workdir: Path) -> list[tuple[str, str, Any]]:
    """Run the phases for one backend, each on a fresh database; returns its figures."""

    def run(tag: str, function: Callable[..., Result], *extra: Any) -> Result:
        scratch = scratch_sqlite(workdir, tag) if backend == "sqlite" else scratch_postgres(args.pg_url, tag)
        with scratch as url:
            return run_isolated(function, url, str(body), *extra)

    phases: list[tuple[str, str, Callable[..., Result], tuple[Any, ...]]] = [
        ("recorder_ingest", "ingest", phase_recorder_ingest, ()),
        ("recorder_store_only", "store", phase_recorder_store_only, ()),
        ("raw_driver", "raw", phase_raw_sqlite if backend == "sqlite" else phase_raw_postgresql, (args.raw_batch,)),
    ]
    if args.streams:
        phases.append(("recorder_per_stream", "streams", phase_recorder_streams, (str(index),)))
    results: dict[str, Result] = {}
    for name, tag, function, extra in phases:
        info(f"{backend} {name}: running")
        results[name] = run(tag, function, *extra)
        report_phase(backend, name, results[name], expected)
    if args.profile:
        profile_path = str(workdir / f"profile-{backend}.prof")
        info(f"{backend}: profiling the recorder ingest (a separate run, not part of the figures)")
        run("profile", phase_recorder_ingest, profile_path)
        print_profile(profile_path)

    raw = rate(results["raw_driver"])
    ingest, store_only = rate(results["recorder_ingest"]), rate(results["recorder_store_only"])
    figures = [
        (backend, "recorder_ingest_events_per_s", round(ingest)),
        (backend, "recorder_store_only_events_per_s", round(store_only)),
        (backend, "raw_driver_events_per_s", round(raw)),
        (backend, "ratio_end_to_end", f"{ingest / raw:.2f}"),
        (backend, "ratio_store_only", f"{store_only / raw:.2f}"),
        (backend, "peak_rss_mb", round(results["recorder_ingest"]["peak_rss_mb"])),
    ]
    if "recorder_per_stream" in results:
        per_stream = rate(results["recorder_per_stream"])
        figures += [
            (backend, "recorder_per_stream_events_per_s", round(per_stream)),
            (backend, "ratio_per_stream", f"{per_stream / raw:.2f}"),
        ]
    met = ingest / raw >= TARGET_RATIO and results["recorder_ingest"]["peak_rss_mb"] < TARGET_RSS_MB
    info(
        f"{backend}: target (recorder ingest >= {TARGET_RATIO:.0%} of raw driver, < {TARGET_RSS_MB} MB RSS) "
        f"{'met' if met else 'NOT met'}"
    )
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="at least this many events (default 1,000,000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL),
                        help="an existing PostgreSQL database to connect to; scratch databases are created beside it "
                        f"(default $BENCH_PG_URL or {DEFAULT_PG_URL})")
    parser.add_argument("--raw-batch", type=int, default=RAW_BATCH, help=f"rows per raw-driver transaction (default {RAW_BATCH})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"workload seed (default {SEED})")
    parser.add_argument("--workdir", type=Path, help="keep the generated workload here and reuse it on later runs "
                        "(default: a temporary directory, removed at the end)")
    parser.add_argument("--streams", action="store_true", help="also ingest every execution as its own stream with its request")
    parser.add_argument("--profile", action="store_true", help="also profile the recorder ingest (cProfile) and print the top functions")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        info(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, work directory {workdir}")
        body, index, meta = prepare_workload(workdir, args.events, args.seed)
        info(
            "recorder_ingest = ingest_path(Store(url), FILE) on the whole NDJSON body, i.e. `recorder ingest FILE` "
            "(one recording; FlushPolicy.bulk(): 10,000 events per transaction)"
        )
        backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
        figures: list[tuple[str, str, Any]] = []
        for backend in backends:
            figures += run_backend(backend, args, body, index, meta["events"], workdir)
        for backend, name, value in figures:
            print(f"{backend} {name} {value}", flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
