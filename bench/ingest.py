"""Bulk-ingest benchmark: recorder's real ingest path against the raw database driver.

    python bench/ingest.py [--events N] [--backend sqlite|postgresql|both] [--pg-url URL] [--shape legacy|sdk]
                           [--phases LIST] [--spans-off] [--streams] [--repeat R] [--workdir DIR]

What is measured, per backend (each phase in a fresh spawned interpreter, on a fresh database):

1. recorder_ingest (end to end): `Recorder(store=Store(url)).ingest(FILE)`, exactly what
   `recorder ingest FILE` runs on one large NDJSON body: 1 MiB reads cut into blocks of whole lines
   and hashed; the first 4 MiB prepared (parsed, numbered, facts and span drafts) in this process,
   the rest in the parse stage's process once it is up (recorder.stream.parse_stage) while this
   one commits through `RecordingWriter` with `FlushPolicy.bulk()` (one transaction per
   `max_events` events, printed in the output, each also syncing the `executions` rows, the spans
   and the recording's progress). Timed from the call to its return (schema creation by
   `Store(url)` is not timed). Its peak RSS is the `peak_rss_mb` figure, the parse process's
   `stage_peak_rss_mb` (its CPU time is printed beside the phase).
2. recorder_store_only: the same events, read, parsed and prepared (`RecordingWriter.add_parsed`)
   *before* each batch is timed, then committed through the writer's own `flush()`:
   `insert_events` plus the spans, the per-batch `sync_executions` and the progress update, in the
   writer's batch size and transactions. This is the writing side of the pipeline alone.
2b. prepare_only (`--phases prepare`): the parsing side alone, with no database: what the parse
   stage's process does for the body (blocks cut and hashed, lines prepared into batches, each
   batch pickled as the process sends it). End to end, on two cores, is at best the lower of the
   two rates.
3. raw_driver: the very same row tuples (recorder's parser and `recorder.store.bulk.event_row` layout, built
   untimed batch by batch) into an identical, empty `events` table (made by the recorder's
   migrations, so same keys and indexes), through the driver's fastest path: sqlite3
   `executemany` of a plain INSERT in large transactions (with the store's WAL and
   synchronous=NORMAL), psycopg `COPY events (...) FROM STDIN` with `write_row`, one COPY per
   transaction. Only the driver calls and the commits are timed.

The ratios (recorder rate / raw driver rate) are what the issue's target is about: recorder ingest
>= 80% of the raw driver's rate on both engines, in < 500 MB RSS (each process).

`--spans-off` adds two phases for issue 12's span upkeep: the body through `ingest_chunks` with
`FlushPolicy.bulk()` as `recorder ingest` does, once with the upkeep of `node_spans` and the
execution aggregates (the default) and once with `spans=False`, each on a fresh store, one after
the other in every round. `ratio_span_upkeep` is the first rate over the second (target >= 0.85);
`ratio_span_upkeep_cpu` the same from this process's CPU time (least over the rounds), which other
load disturbs less, but which leaves out PostgreSQL's server.
`--phases spans` runs only those two (the default is `ingest,store,raw`).

The workload comes from `recorder.demo.workload.iter_workload` (realistic streams: ~55 events and
~670 bytes per event on average). It is written to an NDJSON file before anything is timed, so
generating it is never measured; whole executions are appended until there are at least N events.

`--shape sdk` tells the same workload as the v2 stream's SDK-style events, as the demo's v2
endpoint serves them (`recorder.demo.v2_stream`: a parent chain per line, nested workflows
announcing themselves), so
its figures, against the same raw-driver baseline built from the same lines, show what reading
that shape costs; run both shapes in one session to compare them.

Wall time is what the figures use; each phase also reports its CPU time and the machine's load
average, because other load on the machine slows wall time. `--repeat R` runs all phases R times,
interleaved, and keeps each phase's best run. `--streams` adds a phase that ingests every execution
as its own body with its request (`ingest_chunks` per stream, one recording each), as when many
saved bodies are ingested. `--profile` adds an untimed cProfile run of phase 1 and prints the top.
The output names the git commit and a fingerprint of the recorder code measured (MEASURED_CODE),
and warns in front of any phase that runs after that code changed (the tree is shared and edited).

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
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from _common import (
    DEFAULT_PG_URL,
    Stopwatch,
    children_cpu_s,
    children_peak_rss_mb,
    exit_on_sigterm,
    info,
    libpq_url,
    load_average,
    peak_rss_mb,
    recorder_fingerprint,
    recorder_version,
    run_isolated,
    scratch_postgres,
    scratch_sqlite,
    work_directory,
)

from recorder.model.events import ParsedEvent, RejectedLine, parse_line
from recorder.model.lines import iter_lines
from recorder.model.timestamps import now_us
from recorder.store.event_rows import EVENT_COLUMNS, event_row
from recorder.store.writer import FlushPolicy
from recorder.stream.ingest import CHUNK_SIZE

RAW_BATCH = 50_000
TARGET_RATIO = 0.8
TARGET_RSS_MB = 500
TARGET_SPAN_RATIO = 0.85
PHASES = ("ingest", "store", "prepare", "raw", "streams", "spans")
SEED = 7
# The recorder code these figures measure: parser, store, ingest path, public API, workload.
MEASURED_CODE = ("model", "store", "stream/ingest.py", "stream/parse_stage.py", "stream/parse_worker.py", "api.py", "demo")

Result = dict[str, Any]


# -- the workload (generated before anything is timed) -----------------------------------------------


def generate_workload(body_path: Path, index_path: Path, events: int, seed: int, shape: str = "legacy") -> dict[str, int]:
    """Append whole executions to one NDJSON body until it holds at least `events` events; the index
    file has one JSON line per execution (byte offset, length, request) for the per-stream phase."""
    from recorder.demo.v2_stream import as_v2_execution
    from recorder.demo.workload import body_bytes, iter_workload

    written = executions = size = 0
    # iter_workload is lazy and spreads `executions` over its simulated time span: ask for more
    # than needed (there are ~55 events per execution on average) and stop once there are enough.
    with body_path.open("wb") as body, index_path.open("w", encoding="utf-8") as index:
        for execution in iter_workload(executions=events // 20 + 100, seed=seed):
            if shape == "sdk":  # the execution as the demo's v2 endpoint serves it
                execution = as_v2_execution(execution)
            data, count = body_bytes(execution), len(execution.lines)
            index.write(json.dumps({"offset": size, "length": len(data), "request": execution.request}) + "\n")
            body.write(data)
            size += len(data)
            written += count
            executions += 1
            if written >= events:
                break
    if written < events:
        raise RuntimeError(f"the workload ran out after {written} events")
    return {"events": written, "executions": executions, "bytes": size}


def prepare_workload(workdir: Path, events: int, seed: int, shape: str = "legacy") -> tuple[Path, Path, dict[str, int]]:
    """The NDJSON body and its index; reused when `workdir` already holds them for these arguments."""
    stem = workdir / f"workload-{events}-seed{seed}{'' if shape == 'legacy' else '-' + shape}"
    body, index, meta_path = (stem.with_suffix(suffix) for suffix in (".ndjson", ".index.jsonl", ".meta.json"))
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        info(f"reusing {body}: {meta['events']} events in {meta['executions']} executions, {meta['bytes'] / 1e6:.0f} MB")
        return body, index, meta
    info(f"generating >= {events} events with iter_workload(seed={seed}) into {body} (not timed)")
    start = time.perf_counter()
    meta = generate_workload(body, index, events, seed, shape)
    meta_path.write_text(json.dumps(meta))
    info(
        f"generated {meta['events']} events in {meta['executions']} executions, "
        f"{meta['bytes'] / 1e6:.0f} MB, in {time.perf_counter() - start:.1f} s"
    )
    return body, index, meta


def iter_events(body_path: str) -> Iterator[ParsedEvent]:
    """The body's events, read and parsed by recorder's own code. A line that is not an event
    would be a reject; the workload has none, so meeting one is an error."""
    with open(body_path, "rb") as handle:
        for line in iter_lines(iter(lambda: handle.read(CHUNK_SIZE), b"")):
            parsed = parse_line(line)
            if parsed is None:
                continue
            if isinstance(parsed, RejectedLine):
                raise RuntimeError(f"line {line.position} of the workload is a reject: {parsed.reason}")
            yield parsed


def iter_row_batches(body_path: str, batch_size: int, recording_id: int) -> Iterator[list[tuple[Any, ...]]]:
    """The body's events as `events` rows (the tuples RecordingWriter stores), in batches of
    `batch_size`. Only the rows are kept (no parsed bodies), so a batch holds what the writer holds."""
    rows: list[tuple[Any, ...]] = []
    next_seq: dict[str, int] = {}  # each event's number within its execution, as the writer counts
    received_at_us = now_us()
    for parsed in iter_events(body_path):
        seq = next_seq.get(parsed.execution_id, 0)
        next_seq[parsed.execution_id] = seq + 1
        rows.append(event_row(parsed, recording_id, received_at_us, seq) + (1,))  # change_seq, as stamped()
        if len(rows) >= batch_size:
            yield rows
            rows = []
            received_at_us = now_us()
    if rows:
        yield rows


# -- phases: each runs in a fresh interpreter, on a fresh database, and returns a plain dict -----------


def _result(events: int, clock: Stopwatch, **details: Any) -> Result:
    """A phase's figures; a parse stage's process, if the phase had one, is in `stage_*` (it has ended by now)."""
    stage = {"stage_cpu_seconds": children_cpu_s(), "stage_peak_rss_mb": children_peak_rss_mb()} if children_cpu_s() else {}
    return {"events": events, "seconds": clock.wall, "cpu_seconds": clock.cpu, "peak_rss_mb": peak_rss_mb(), **stage, **details}


def phase_recorder_ingest(url: str, body_path: str, profile_path: str | None = None) -> Result:
    """End to end: what `recorder ingest FILE` does (the CLI calls `Recorder.ingest`)."""
    from recorder.api import Recorder
    from recorder.store import Store

    store = Store(url)
    recorder = Recorder(store=store)
    clock = Stopwatch()
    profiler = cProfile.Profile() if profile_path else None
    try:
        with clock.timing(), profiler or nullcontext():
            result = recorder.ingest(body_path)
    finally:
        store.close()
    if profiler is not None:
        profiler.dump_stats(profile_path)
    return _result(result.events_stored, clock, lines=result.lines, rejects=result.rejects, duplicates=result.duplicates)


def phase_recorder_store_only(url: str, body_path: str) -> Result:
    """Pre-parsed rows through the writer's flush: insert_events + sync_executions + progress update,
    in the writer's batches and transactions. Only `flush()` and `finish()` are timed."""
    import recorder.store.writer as writer_module
    from recorder.store import Store

    # The writer calls these through its module globals: wrap them to split the flush time.
    parts = {"insert_events": Stopwatch(), "sync_executions": Stopwatch()}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with parts[name].timing():
                return function(*args, **kwargs)

        return wrapper

    for name, stopwatch in parts.items():
        setattr(writer_module, name, timed(name, getattr(writer_module, name)))

    store = Store(url)
    clock = Stopwatch()
    try:
        writer = store.writer(source=f"file:{body_path}", policy=FlushPolicy.bulk())
        received_at_us = now_us()
        for event in iter_events(body_path):
            writer.add_parsed(event, received_at_us)
            if writer.batch_full:
                with clock.timing():
                    writer.flush()
                received_at_us = now_us()
        with clock.timing():
            result = writer.finish()
    finally:
        store.close()
    return _result(result.events_stored, clock, **{name: stopwatch.wall for name, stopwatch in parts.items()})


def phase_prepare(url: str, body_path: str) -> Result:
    """What the parse stage's process does for the body, alone, in this process: blocks cut and
    hashed, lines parsed, numbered, their facts gathered and spans drafted into batches
    (recorder.store.prepare), and each batch pickled as the process sends it. No database (`url`
    is unused): this is the rate parsing could feed a writer at."""
    from recorder.store.body_blocks import BodyBlocks
    from recorder.store.prepare import LinePreparer, PreparerState
    from recorder.stream.stage_messages import BATCH_LINES, write_message

    import gc

    gc.disable()  # as the parse stage's process runs (recorder.stream.parse_worker)
    blocks, preparer = BodyBlocks(), LinePreparer(PreparerState(recording_id=1))
    clock = Stopwatch()
    with open(body_path, "rb") as body, open(os.devnull, "wb") as sink, clock.timing():
        for chunk in iter(lambda: body.read(CHUNK_SIZE), b""):
            block = blocks.cut(chunk, now_us())
            if block is not None:
                preparer.add_block(block)
            if preparer.pending >= BATCH_LINES:
                write_message(sink, preparer.take())
        write_message(sink, preparer.take())
    return _result(preparer.state.next_position, clock)


def phase_recorder_streams(url: str, body_path: str, index_path: str) -> Result:
    """Every execution as its own body with its request (`ingest_chunks` per stream)."""
    from recorder.store import Store
    from recorder.stream.ingest import ingest_chunks

    store = Store(url)
    clock = Stopwatch()
    events = streams = 0
    try:
        with open(body_path, "rb") as body, open(index_path, encoding="utf-8") as index:
            for entry in map(json.loads, index):
                with clock.timing():
                    chunk = body.read(entry["length"])
                    result = ingest_chunks(store, [chunk], source=f"bench:{streams}", request=entry["request"])
                events += result.events_stored
                streams += 1
    finally:
        store.close()
    return _result(events, clock, streams=streams)


def phase_ingest_chunks(url: str, body_path: str, spans: bool) -> Result:
    """The body through `ingest_chunks` with `FlushPolicy.bulk()`, with span upkeep or without
    (`spans=False`, which exists only so that this benchmark can price the upkeep)."""
    from recorder.store import Store
    from recorder.stream.ingest import ingest_chunks

    store = Store(url)
    clock = Stopwatch()
    try:
        with clock.timing(), open(body_path, "rb") as body:
            chunks = iter(lambda: body.read(CHUNK_SIZE), b"")
            result = ingest_chunks(store, chunks, source=f"file:{body_path}", policy=FlushPolicy.bulk(), spans=spans)
    finally:
        store.close()
    return _result(result.events_stored, clock)


def _create_schema(url: str) -> None:
    """An empty recorder database, made by the recorder's migrations (same table, keys, indexes)."""
    from recorder.store import Store

    Store(url).close()


def phase_raw_sqlite(url: str, body_path: str, batch_size: int) -> Result:
    """sqlite3 executemany of a plain INSERT, one transaction per `batch_size` rows."""
    from sqlalchemy.engine import make_url

    from recorder.store.dialects import dialect_of

    _create_schema(url)
    connection = sqlite3.connect(dialect_of(url).database_file(make_url(url)), isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")  # the store's settings (recorder.store.dialects)
    connection.execute("PRAGMA synchronous=NORMAL")
    statement = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
    clock = Stopwatch()
    events = 0
    try:
        for rows in iter_row_batches(body_path, batch_size, recording_id=1):
            with clock.timing():
                connection.execute("BEGIN")
                connection.executemany(statement, rows)
                connection.execute("COMMIT")
            events += len(rows)
    finally:
        connection.close()
    return _result(events, clock)


def phase_raw_postgresql(url: str, body_path: str, batch_size: int) -> Result:
    """psycopg COPY ... FROM STDIN with write_row, one COPY and transaction per `batch_size` rows."""
    import psycopg

    _create_schema(url)
    statement = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
    clock = Stopwatch()
    events = 0
    with psycopg.connect(libpq_url(url)) as connection:
        for rows in iter_row_batches(body_path, batch_size, recording_id=1):
            with clock.timing(), connection.transaction(), connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
            events += len(rows)
    return _result(events, clock)


# -- orchestration --------------------------------------------------------------------------------------


def rate(result: Result) -> float:
    return result["events"] / result["seconds"] if result["seconds"] > 0 else 0.0


def report_phase(backend: str, name: str, result: Result, expected: int, load_before: str) -> None:
    details = ", ".join(
        f"{key} {value:.1f} s" if isinstance(value, float) else f"{key} {value}"
        for key, value in result.items()
        if key not in ("events", "seconds", "cpu_seconds", "peak_rss_mb", "stage_cpu_seconds", "stage_peak_rss_mb")
    )
    stage = result.get("stage_cpu_seconds")
    info(
        f"{backend} {name}: {result['events']} events in {result['seconds']:.1f} s (cpu {result['cpu_seconds']:.1f} s) "
        f"= {rate(result):,.0f} events/s, peak RSS {result['peak_rss_mb']:.0f} MB, load {load_before} -> {load_average()}"
        + (f"; parse stage cpu {stage:.1f} s, peak RSS {result['stage_peak_rss_mb']:.0f} MB" if stage else "")
        + (f"; {details}" if details else "")
    )
    if result["events"] != expected:
        info(f"WARNING: {backend} {name} stored {result['events']} events, expected {expected}")


def print_profile(profile_path: str, limit: int = 30) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile_path, stream=out).strip_dirs().sort_stats(order).print_stats(limit)
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

    available: dict[str, list[tuple[str, str, Callable[..., Result], tuple[Any, ...]]]] = {
        "ingest": [("recorder_ingest", "ingest", phase_recorder_ingest, ())],
        "store": [("recorder_store_only", "store", phase_recorder_store_only, ())],
        "prepare": [("prepare_only", "prepare", phase_prepare, ())],
        "raw": [("raw_driver", "raw", phase_raw_sqlite if backend == "sqlite" else phase_raw_postgresql, (args.raw_batch,))],
        "streams": [("recorder_per_stream", "streams", phase_recorder_streams, (str(index),))],
        "spans": [("ingest_spans_on", "spans", phase_ingest_chunks, (True,)),
                  ("ingest_spans_off", "nospans", phase_ingest_chunks, (False,))],
    }
    phases = [phase for name in args.phases for phase in available[name]]
    best: dict[str, Result] = {}
    least_cpu: dict[str, float] = {}  # per phase, over the rounds: less disturbed by other load than wall time
    peak_rss = stage_rss = 0.0
    for round_ in range(1, args.repeat + 1):
        for name, tag, function, extra in phases:
            info(f"{backend} {name}: running" + (f" (round {round_} of {args.repeat})" if args.repeat > 1 else ""))
            source = recorder_fingerprint(*MEASURED_CODE)
            if source != args.source:
                info(f"WARNING: the measured recorder code changed since the run began ({args.source} -> {source}): "
                     "this phase measures other code than the first")
            load = load_average()
            result = run(tag, function, *extra)
            report_phase(backend, name, result, expected, load)
            if name not in best or rate(result) > rate(best[name]):
                best[name] = result
            least_cpu[name] = min(least_cpu.get(name, result["cpu_seconds"]), result["cpu_seconds"])
            if name == "recorder_ingest":
                peak_rss = max(peak_rss, result["peak_rss_mb"])
                stage_rss = max(stage_rss, result.get("stage_peak_rss_mb", 0.0))
    if args.profile:
        profile_path = str(workdir / f"profile-{backend}.prof")
        info(f"{backend}: profiling the recorder ingest (a separate run, not part of the figures)")
        run("profile", phase_recorder_ingest, profile_path)
        print_profile(profile_path)

    rates = {name: rate(result) for name, result in best.items()}
    raw = rates.get("raw_driver")
    figures: list[tuple[str, str, Any]] = []
    for name in ("recorder_ingest", "recorder_store_only", "prepare_only", "raw_driver", "recorder_per_stream", "ingest_spans_on",
                 "ingest_spans_off"):
        if name in rates:
            figures.append((backend, f"{name}_events_per_s", round(rates[name])))
    for name, figure in (("recorder_ingest", "ratio_end_to_end"), ("recorder_store_only", "ratio_store_only"),
                         ("prepare_only", "ratio_prepare_only"), ("recorder_per_stream", "ratio_per_stream")):
        if raw and name in rates:
            figures.append((backend, figure, f"{rates[name] / raw:.2f}"))
    if "recorder_ingest" in rates:
        figures.append((backend, "peak_rss_mb", round(peak_rss)))
        figures.append((backend, "stage_peak_rss_mb", round(stage_rss)))
        if raw:
            met = rates["recorder_ingest"] / raw >= TARGET_RATIO and peak_rss < TARGET_RSS_MB and stage_rss < TARGET_RSS_MB
            info(
                f"{backend}: target (recorder ingest >= {TARGET_RATIO:.0%} of the raw driver's rate, < {TARGET_RSS_MB} MB RSS) "
                f"{'met' if met else 'NOT met'}"
            )
    if "ingest_spans_on" in rates:
        ratio = rates["ingest_spans_on"] / rates["ingest_spans_off"]
        figures.append((backend, "ratio_span_upkeep", f"{ratio:.2f}"))
        # This process's CPU only (on PostgreSQL the server's share is left out): steadier on a busy machine.
        figures.append((backend, "ratio_span_upkeep_cpu", f"{least_cpu['ingest_spans_off'] / least_cpu['ingest_spans_on']:.2f}"))
        info(f"{backend}: target (ingest with span upkeep >= {TARGET_SPAN_RATIO:.0%} of the rate without) "
             f"{'met' if ratio >= TARGET_SPAN_RATIO else 'NOT met'}")
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Bulk-ingest benchmark: recorder's ingest against the raw database driver (see the module docstring).",
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="at least this many events (default 1,000,000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL),
        help=f"an existing database to connect to; scratch databases are created beside it (default $BENCH_PG_URL or {DEFAULT_PG_URL})",
    )
    parser.add_argument("--raw-batch", type=int, default=RAW_BATCH, help=f"rows per raw-driver transaction (default {RAW_BATCH})")
    parser.add_argument("--repeat", type=int, default=1, help="run every phase this many times, interleaved; keep the best run (default 1)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"workload seed (default {SEED})")
    parser.add_argument("--shape", choices=("legacy", "sdk"), default="legacy",
                        help="the workload as legacy WORKFLOW/NODE events (default) or as the newer endpoint's SDK-style events")
    parser.add_argument(
        "--workdir", type=Path, help="keep the generated workload here and reuse it on later runs (default: a temporary directory)"
    )
    parser.add_argument("--phases", default="ingest,store,raw",
                        help=f"comma-separated, of {', '.join(PHASES)} (default ingest,store,raw; spans is the pair of --spans-off)")
    parser.add_argument("--streams", action="store_true", help="also ingest every execution as its own stream, with its request")
    parser.add_argument("--spans-off", action="store_true",
                        help="also ingest through ingest_chunks with span upkeep and without (spans=False); prints ratio_span_upkeep")
    parser.add_argument("--profile", action="store_true", help="also profile the recorder ingest (cProfile) and print the top functions")
    args = parser.parse_args(argv)
    if args.events < 1 or args.repeat < 1 or args.raw_batch < 1:
        parser.error("--events, --repeat and --raw-batch must be positive")
    args.phases = [name.strip() for name in args.phases.split(",") if name.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown or not args.phases:
        parser.error(f"--phases: unknown {', '.join(sorted(unknown))}" if unknown else "--phases: none given")
    args.phases += [name for name, flag in (("streams", args.streams), ("spans", args.spans_off)) if flag and name not in args.phases]
    if "spans" in args.phases:
        import inspect

        from recorder.stream.ingest import ingest_chunks

        if "spans" not in inspect.signature(ingest_chunks).parameters:
            parser.error("--spans-off: this recorder's ingest_chunks has no `spans` argument (the span upkeep has not landed)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    with work_directory(args.workdir, "bench-ingest-") as workdir:
        info(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load_average()}, work directory {workdir}")
        args.source = recorder_fingerprint(*MEASURED_CODE)
        info(f"recorder {recorder_version(*MEASURED_CODE)} (source = {', '.join(MEASURED_CODE)} under recorder/)")
        body, index, meta = prepare_workload(workdir, args.events, args.seed, args.shape)
        info(
            "recorder_ingest is Recorder(store=Store(url)).ingest(FILE) on the whole NDJSON body, i.e. `recorder ingest FILE`: "
            f"one recording, FlushPolicy.bulk() = {FlushPolicy.bulk().max_events:,} events per transaction"
        )
        backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
        figures: list[tuple[str, str, Any]] = []
        for backend in backends:
            figures += run_backend(backend, args, body, index, meta["events"], workdir)
        for backend, name, value in figures:
            print(f"{backend} {name} {value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
