"""Live-consumer benchmark: the recorder on a fast loopback stream, beside a read-and-discard ceiling.

    python bench/consumer.py [--events N] [--backend sqlite|postgresql|both] [--pg-url URL]
                             [--lines-per-chunk K] [--rate EVENTS_PER_S] [--repeat R]

A loopback server (`recorder.demo.server.LoopbackVellum`, in a process of its own so it never
competes for the consumers' GIL) streams N small events (~430 bytes: a WORKFLOW INITIATED, then
alternating NODE PROMPT STREAMING and WORKFLOW STREAMING token events, then WORKFLOW FULFILLED)
as fast as it can, K lines per HTTP chunk. (A leaner server, one `sendall` of the precomputed
response, raised the ceiling by roughly 20-30% here, within the noise of a loaded 2-CPU machine: the
reading client is most of the ceiling's cost.) The ceiling, and each backend, run in a freshly
spawned interpreter; each backend on a fresh database, emptied before every run.

1. ceiling: a plain httpx loop, `client.stream(POST)` and `iter_bytes()`, discarding the bytes
   (newlines are counted, to check the body).
2. consumer (per backend): `execute_and_record(store, ...)`, exactly `recorder record`'s path
   (an httpx client over `RecordingTransport`: chunks stamped as the reader takes them and queued
   by the recording's relay thread, cut into blocks of lines, parsed and committed by its writer
   thread at the default FlushPolicy of 50 lines / 100 ms; once 2,000 lines wait, the rest is
   parsed in the parse stage's process while the writer thread only commits). events/s is N over the time from the call to its return (the
   last commit included). The arrival-to-commit delay of every line is the `on_commit` time minus
   the line's `received_at_us`.
3. steady (per backend): the same consumer while the server sends the same N events at a fixed
   rate (`--rate`, default 5,000 events/s: 20 s for 100,000 events), each line when its time
   comes (`Scenario.offsets_s`), so chunks are as small as the rate makes them. This is the
   shape of a busy live stream, where the burst is the shape of a backlog; its figures are the
   commit delay p50/p99/max (events/s is the rate unless the recorder falls behind).
4. raw insert rate (per backend, fresh database): `bench/ingest.py`'s raw-driver phase on this
   workload: the rows the writer would store (recorder's parser builds them before timing), put
   into an identical empty `events` table by the driver's fastest path (sqlite3 `executemany`,
   psycopg `COPY`), 50,000 rows per transaction; only the driver calls and commits are timed.
   `raw_ratio` is the burst consumer's events/s over it: what the live path costs against the
   bare insert, parsing included.
5. instrumented (per backend): the official client, `Vellum(...).execute_workflow_stream(...)`,
   plain and with `httpx_client=httpx.Client(transport=RecordingTransport(store))`, alternately.
   The application's time per event is the gap between consecutive events in its loop; the
   overhead figures are the instrumented percentile minus the plain one (p50, p99), and the mean
   difference per event. The client's one-off TypeAdapter build is done before any timing; after
   each instrumented loop the run waits for the recording to finish (not timed, but reported).

Targets: consumer >= 50% of the ceiling's events/s and >= 0.8x the raw insert rate; commit delay
p99 < 150 ms in the steady shape; the instrumented application's per-event overhead p99 < 1 ms.
The last lines are one figure each, `[<backend>] <name> <value>`; everything else starts with `# `.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import DEFAULT_PG_URL, info, run_isolated, scratch_postgres, scratch_sqlite

API_KEY = "bench-key"
REQUEST = {"workflow_deployment_name": "bench-consumer", "inputs": [{"name": "query", "type": "STRING", "value": "hi"}]}
# The same body at a fixed rate: a request of its own, so one server answers both shapes.
REQUEST_STEADY = {**REQUEST, "workflow_deployment_name": "bench-consumer-steady"}
RAW_BATCH = 50_000
TARGET_RATIO = 0.5
TARGET_RAW_RATIO = 0.8
TARGET_DELAY_P99_MS = 150.0
TARGET_OVERHEAD_P99_MS = 1.0
DELTAS = ("Hello", " world", ",", " this", " is", " a", " token", " stream", " from", " the", " model", ".")

Result = dict[str, Any]


# -- the workload and its server -------------------------------------------------------------------


def workload(events: int, seed: int = 5) -> list[bytes]:
    """N event lines of one execution: INITIATED, token events, FULFILLED."""
    rng = random.Random(seed)
    fresh = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))  # noqa: E731
    execution_id, node_id, node_result_id, output_id = fresh(), fresh(), fresh(), fresh()
    start = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)

    def ts(index: int) -> str:
        return (start + timedelta(microseconds=index * 250)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def envelope(kind: str, data: dict[str, Any]) -> bytes:
        body = {"execution_id": execution_id, "run_id": None, "external_id": None, "type": kind, "data": data}
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    lines = [envelope("WORKFLOW", {"id": fresh(), "state": "INITIATED", "ts": ts(0), "output": None, "error": None, "outputs": None, "inputs": None})]
    for index in range(1, events - 1):
        delta = DELTAS[index % len(DELTAS)]
        if index % 2:
            prompt = {"type": "PROMPT", "data": {"output_id": output_id, "text": None, "delta": delta}}
            data = {"id": fresh(), "node_id": node_id, "node_result_id": node_result_id, "state": "STREAMING", "ts": ts(index),
                    "data": prompt, "source_execution_id": None, "output": None, "output_index": None}
            lines.append(envelope("NODE", data))
        else:
            output = {"id": output_id, "name": "answer", "state": "STREAMING", "node_id": node_id, "delta": delta, "type": "STRING", "value": None}
            lines.append(envelope("WORKFLOW", {"id": fresh(), "state": "STREAMING", "ts": ts(index), "output": output, "error": None, "outputs": None, "inputs": None}))
    outputs = [{"id": output_id, "name": "answer", "type": "STRING", "value": "".join(DELTAS)}]
    lines.append(envelope("WORKFLOW", {"id": fresh(), "state": "FULFILLED", "ts": ts(events), "output": None, "error": None, "outputs": outputs, "inputs": None}))
    return lines


def serve(body_path: str, lines_per_chunk: int, rate: float, connection: Any) -> None:
    """The loopback server's process: serve the body for every request until told to stop, as a
    burst for `REQUEST` and at `rate` lines per second for `REQUEST_STEADY`."""
    from recorder.demo.server import LoopbackVellum, Scenario

    lines = Path(body_path).read_bytes().split(b"\n")[:-1]
    with LoopbackVellum(api_key=API_KEY) as server:
        server.expect(REQUEST, Scenario(lines=lines, lines_per_chunk=lines_per_chunk))
        offsets = [index / rate for index in range(len(lines))]
        server.expect(REQUEST_STEADY, Scenario(lines=lines, offsets_s=offsets, lines_per_chunk=lines_per_chunk))
        connection.send(server.base_url)
        connection.recv()


@contextlib.contextmanager
def loopback_server(body_path: Path, lines_per_chunk: int, rate: float) -> Any:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=serve, args=(str(body_path), lines_per_chunk, rate, child), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the loopback server did not start")
        yield parent.recv()
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.terminate()


# -- the measured process (one per backend) --------------------------------------------------------


def phase_backend(url: str, base_url: str, body_path: str, repeats: int) -> Result:
    """All runs on one backend, in one fresh interpreter, the database emptied before each run."""
    from recorder.store import Store

    Store(url).close()  # the schema, before anything is timed
    consumer = [consumer_run(url, base_url, REQUEST) for _ in range(repeats)]
    steady = [consumer_run(url, base_url, REQUEST_STEADY) for _ in range(repeats)]
    return {"consumer": consumer, "steady": steady, "app": app_runs(url, base_url, body_path, repeats)}


def phase_raw(backend: str, url: str, body_path: str) -> Result:
    """The raw insert rate of this workload's rows (see the module doc, 4.)."""
    import ingest  # bench/ingest.py: one definition of the raw baseline for both benchmarks

    phase = ingest.phase_raw_sqlite if backend == "sqlite" else ingest.phase_raw_postgresql
    return phase(url, body_path, RAW_BATCH)


def consumer_run(url: str, base_url: str, request: dict[str, Any]) -> Result:
    from recorder.model.timestamps import now_us
    from recorder.store import Store
    from recorder.stream.http import execute_and_record

    commits: list[tuple[int, list[int]]] = []
    with Store(url) as store:
        empty(store)
        last_bytes = [0.0]
        start = time.perf_counter()
        live = execute_and_record(
            store, request, api_key=API_KEY, base_url=base_url,
            on_bytes=lambda _chunk: last_bytes.__setitem__(0, time.perf_counter()),
            on_commit=lambda received_at_us: commits.append((now_us(), received_at_us)),
        )
        seconds = time.perf_counter() - start
    delays_ms = sorted((committed - received) / 1000 for committed, batch in commits for received in batch)
    return {
        "seconds": seconds, "read_seconds": last_bytes[0] - start, "outcome": live.outcome, "events": live.recording.events_stored,
        "commits": len(commits), "delay_p50_ms": percentile(delays_ms, 50), "delay_p99_ms": percentile(delays_ms, 99),
        "delay_max_ms": delays_ms[-1] if delays_ms else float("nan"),
    }


def app_runs(url: str, base_url: str, body_path: str, repeats: int) -> Result:
    """The official client's loop, plain then instrumented, `repeats` times; per-event gaps in ms."""
    import httpx
    from vellum import Vellum, VellumEnvironment
    from vellum.client.core.pydantic_utilities import parse_obj_as
    from vellum.client.types.workflow_stream_event import WorkflowStreamEvent

    from recorder.store import Store
    from recorder.stream.instrument import RecordingTransport

    with open(body_path, "rb") as body:  # the client's one-off TypeAdapter build, before any timing
        parse_obj_as(WorkflowStreamEvent, json.loads(body.readline()))
    environment = VellumEnvironment(default=base_url, predict=base_url, documents=base_url)

    def app_loop(client: Vellum) -> list[int]:
        gaps = []
        last = time.perf_counter_ns()
        for _event in client.execute_workflow_stream(**REQUEST):
            now = time.perf_counter_ns()
            gaps.append(now - last)
            last = now
        return gaps

    plain: list[int] = []
    instrumented: list[int] = []
    outcomes = []
    drain_seconds = []
    for _ in range(repeats):
        plain += app_loop(Vellum(api_key=API_KEY, environment=environment))
        with Store(url) as store:
            empty(store)
            recorded: list[Any] = []
            transport = RecordingTransport(store, on_recorded=recorded.append)
            http = httpx.Client(transport=transport, timeout=None)
            instrumented += app_loop(Vellum(api_key=API_KEY, environment=environment, httpx_client=http))
            app_done = time.perf_counter()
            transport.wait()  # the recorder may still be committing the backlog
            drain_seconds.append(time.perf_counter() - app_done)
            http.close()
            outcomes += [(result.outcome, result.events_stored) for result in recorded]
    plain_ms, instrumented_ms = sorted(g / 1e6 for g in plain), sorted(g / 1e6 for g in instrumented)
    return {
        "outcomes": outcomes,
        "app_seconds_plain": sum(plain_ms) / 1000 / repeats, "app_seconds_instrumented": sum(instrumented_ms) / 1000 / repeats,
        "drain_seconds": statistics.median(drain_seconds),
        "plain_p50_ms": percentile(plain_ms, 50), "plain_p99_ms": percentile(plain_ms, 99),
        "instrumented_p50_ms": percentile(instrumented_ms, 50), "instrumented_p99_ms": percentile(instrumented_ms, 99),
        "overhead_mean_ms": (sum(instrumented_ms) - sum(plain_ms)) / max(len(plain_ms), 1),
    }


def phase_ceiling(base_url: str, repeats: int) -> list[Result]:
    import httpx

    runs = []
    with httpx.Client(timeout=None) as client:
        for _ in range(repeats):
            start = time.perf_counter()
            lines = 0
            with client.stream("POST", f"{base_url}/v1/execute-workflow-stream", json=REQUEST, headers={"X-API-KEY": API_KEY}) as response:
                for chunk in response.iter_bytes():
                    lines += chunk.count(b"\n")
            runs.append({"seconds": time.perf_counter() - start, "lines": lines})
    return runs


def empty(store: Any) -> None:
    """Every run starts on empty tables (not timed)."""
    store.wipe()


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, round(q / 100 * (len(sorted_values) - 1)))]


def median_run(runs: list[Result]) -> Result:
    return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]


# -- the run ---------------------------------------------------------------------------------------


def report_backend(backend: str, result: Result, events: int, ceiling: float, raw: Result, repeats: int) -> list[tuple[str, Any]]:
    run = median_run(result["consumer"])
    rate = events / run["seconds"]
    raw_rate = raw["events"] / raw["seconds"]
    steady = median_run(result["steady"])
    info(
        f"{backend} raw insert: {raw['events']} rows in {raw['seconds']:.3f} s = {raw_rate:,.0f} events/s; "
        f"consumer {rate / raw_rate:.2f}x of it (target >= {TARGET_RAW_RATIO:g}x: {'met' if rate / raw_rate >= TARGET_RAW_RATIO else 'NOT met'})"
    )
    info(
        f"{backend} steady: {steady['seconds']:.3f} s ({events / steady['seconds']:,.0f} events/s), outcome {steady['outcome']}, "
        f"{steady['events']} events stored in {steady['commits']} commits; commit delay p50 {steady['delay_p50_ms']:.1f} ms, "
        f"p99 {steady['delay_p99_ms']:.1f} ms, max {steady['delay_max_ms']:.1f} ms "
        f"(target p99 < {TARGET_DELAY_P99_MS:g} ms: {'met' if steady['delay_p99_ms'] < TARGET_DELAY_P99_MS else 'NOT met'})"
    )
    if steady["outcome"] != "complete" or steady["events"] != events:
        info(f"WARNING: {backend} steady consumer recorded {steady['events']} events ({steady['outcome']}), expected {events} (complete)")
    info(
        f"{backend} consumer: {run['seconds']:.3f} s ({run['read_seconds']:.3f} s to read the stream), outcome {run['outcome']}, "
        f"{run['events']} events stored in {run['commits']} commits; commit delay max {run['delay_max_ms']:.1f} ms"
    )
    if run["outcome"] != "complete" or run["events"] != events:
        info(f"WARNING: {backend} consumer recorded {run['events']} events ({run['outcome']}), expected {events} (complete)")
    met = rate / ceiling >= TARGET_RATIO and run["delay_p99_ms"] < TARGET_DELAY_P99_MS
    info(f"{backend} consumer: target (>= {TARGET_RATIO:.0%} of the ceiling, commit delay p99 < {TARGET_DELAY_P99_MS:g} ms) {'met' if met else 'NOT met'}")
    app = result["app"]
    info(
        f"{backend} instrumented app, per event: plain p50 {app['plain_p50_ms']:.4f} ms / p99 {app['plain_p99_ms']:.4f} ms; "
        f"instrumented p50 {app['instrumented_p50_ms']:.4f} ms / p99 {app['instrumented_p99_ms']:.4f} ms"
    )
    info(
        f"{backend} instrumented app: loop {app['app_seconds_plain']:.2f} s plain, {app['app_seconds_instrumented']:.2f} s instrumented; "
        f"the recording finished {app['drain_seconds']:.2f} s after the app's loop; recordings {app['outcomes']}"
    )
    if app["outcomes"] != [("complete", events)] * repeats:
        info(f"WARNING: {backend} instrumented recordings were {app['outcomes']}, expected {repeats} x complete with {events} events")
    overhead_p99 = app["instrumented_p99_ms"] - app["plain_p99_ms"]
    info(f"{backend} instrumented app: target (per-event overhead p99 < {TARGET_OVERHEAD_P99_MS:g} ms) {'met' if overhead_p99 < TARGET_OVERHEAD_P99_MS else 'NOT met'}")
    return [
        (f"{backend} consumer_events_per_s", round(rate)),
        (f"{backend} ratio", f"{rate / ceiling:.3f}"),
        (f"{backend} commit_delay_p50_ms", f"{run['delay_p50_ms']:.1f}"),
        (f"{backend} commit_delay_p99_ms", f"{run['delay_p99_ms']:.1f}"),
        (f"{backend} raw_insert_events_per_s", round(raw_rate)),
        (f"{backend} raw_ratio", f"{rate / raw_rate:.3f}"),
        (f"{backend} steady_events_per_s", round(events / steady["seconds"])),
        (f"{backend} steady_commit_delay_p50_ms", f"{steady['delay_p50_ms']:.1f}"),
        (f"{backend} steady_commit_delay_p99_ms", f"{steady['delay_p99_ms']:.1f}"),
        (f"{backend} steady_commit_delay_max_ms", f"{steady['delay_max_ms']:.1f}"),
        (f"{backend} instrumented_overhead_p50_ms", f"{app['instrumented_p50_ms'] - app['plain_p50_ms']:.4f}"),
        (f"{backend} instrumented_overhead_p99_ms", f"{overhead_p99:.4f}"),
        (f"{backend} instrumented_overhead_mean_ms", f"{app['overhead_mean_ms']:.4f}"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-consumer-"))
    figures: list[tuple[str, Any]] = []
    try:
        info(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.events} events, {args.lines_per_chunk} lines per chunk, "
             f"steady at {args.rate:g} events/s, {args.repeat} run(s) per figure")
        body = workdir / "body.ndjson"
        lines = workload(args.events)
        body.write_bytes(b"".join(line + b"\n" for line in lines))
        info(f"workload: {len(lines)} events, {body.stat().st_size / len(lines):.0f} bytes per event on average")
        with loopback_server(body, args.lines_per_chunk, args.rate) as base_url:
            ceiling_run = median_run(run_isolated(phase_ceiling, base_url, args.repeat))
            if ceiling_run["lines"] != len(lines):
                info(f"WARNING: the ceiling read {ceiling_run['lines']} lines, expected {len(lines)}")
            ceiling = len(lines) / ceiling_run["seconds"]
            info(f"ceiling: {ceiling_run['seconds']:.3f} s for {len(lines)} events")
            figures.append(("ceiling_events_per_s", round(ceiling)))
            for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
                scratch = scratch_sqlite(workdir, "consumer") if backend == "sqlite" else scratch_postgres(args.pg_url, "consumer")
                info(f"{backend}: running")
                with scratch as url:
                    result = run_isolated(phase_backend, url, base_url, str(body), args.repeat)
                scratch = scratch_sqlite(workdir, "raw") if backend == "sqlite" else scratch_postgres(args.pg_url, "raw")
                with scratch as url:
                    raw = run_isolated(phase_raw, backend, url, str(body))
                figures += report_backend(backend, result, len(lines), ceiling, raw, args.repeat)
        for name, value in figures:
            print(f"{name} {value}", flush=True)
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events in the stream (default 100,000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL),
                        help=f"an existing PostgreSQL database; scratch databases are made beside it (default $BENCH_PG_URL or {DEFAULT_PG_URL})")
    parser.add_argument("--lines-per-chunk", type=int, default=128, help="event lines per HTTP chunk from the server (default 128)")
    parser.add_argument("--rate", type=float, default=5_000.0, help="events per second in the steady shape (default 5,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure; the consumer figures are from the median run, the "
                        "per-event figures pool all runs (default 1)")
    args = parser.parse_args(argv)
    if args.events < 3:
        parser.error("--events must be at least 3")
    if args.rate <= 0:
        parser.error("--rate must be positive")
    return args


if __name__ == "__main__":
    sys.exit(main())
