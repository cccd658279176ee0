"""Analytics benchmark: timeline, fleet percentiles and lineage on a store of N events.

    python bench/analytics.py [--events N] [--backend sqlite|postgresql|both] [--chain-depth D]

Builds a store of at least N events (default 10,000,000, about 180,000 executions) from
`recorder.demo.workload.iter_workload`, loaded through recorder's real ingest path
(`ingest_chunks` with `FlushPolicy.bulk()`): one body per (deployment, release tag), with that
request, so executions carry deployment and release tag; plus a chain of D executions (default
1,000), each its own stream whose request names the previous one. Then, each in a freshly spawned
interpreter (its peak RSS is its own):

- timeline_ms: `Recorder.timeline(id)` of one execution (median over 25 executions; target < 20 ms);
- fleet_snapshot_s: the first fleet query's pull of the store into the DuckDB snapshot;
- latency_by_node_ms: `Recorder.latency(by="node")` percentiles over every node run, once the
  snapshot is held (median of 5; target < 2 s), and latency_by_node_cold_ms with the pull included;
- lineage_ms: `Recorder.lineage(tail)` of the D-deep chain, cost aggregates included (median of 5;
  target < 50 ms at D = 1,000), and lineage_walk_ms: the walk alone, without the cost lookup;
- peak_rss_mb of the analytics process.

Beside them, a baseline in the same run: polars scanning the same events from the raw NDJSON
bodies (`pl.scan_ndjson`): one execution's spans, and percentiles by node over all of them.

The last lines are one figure per line, `<name> <value>` (prefixed by the backend when several);
everything else starts with `# `.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import DEFAULT_PG_URL, info, peak_rss_mb, run_isolated, scratch_postgres, scratch_sqlite

SEED = 7
TIMELINE_SAMPLES = 25
REPEATS = 5


# -- the store (loading is not what is measured here; its rate is reported for context) -------------


def write_workload(workdir: Path, events: int, seed: int) -> dict[str, Any]:
    """NDJSON bodies, one per (deployment, release tag), with at least `events` events in all."""
    from recorder.demo.workload import body_bytes, iter_workload

    groups: dict[tuple[str, str | None], Any] = {}
    written = executions = 0
    sample_ids: list[str] = []
    try:
        for execution in iter_workload(executions=events // 45 + 100, seed=seed):
            request = execution.request
            key = (request.get("workflow_deployment_name") or request.get("workflow_deployment_id"), request.get("release_tag"))
            if key not in groups:
                groups[key] = (workdir / f"group-{len(groups)}.ndjson").open("wb")
            groups[key].write(body_bytes(execution))
            written += len(execution.lines)
            executions += 1
            if executions % 997 == 0 and len(sample_ids) < TIMELINE_SAMPLES:
                sample_ids.append(execution.execution_id)
            if written >= events:
                break
    finally:
        for handle in groups.values():
            handle.close()
    files = [{"path": handle.name, "deployment": key[0], "release_tag": key[1]} for key, handle in groups.items()]
    return {"events": written, "executions": executions, "files": files, "sample_ids": sample_ids}


def chain_bodies(depth: int) -> list[tuple[str, bytes, dict[str, Any]]]:
    """A lineage chain: `depth` small executions, each continuing the one before."""
    chain = []
    previous = None
    start_us = 1_795_000_000_000_000
    for index in range(depth):
        execution_id = str(uuid.UUID(int=index + 1, version=4))
        t0, t1 = start_us + index * 10_000_000, start_us + index * 10_000_000 + 2_500_000
        lines = [
            {"execution_id": execution_id, "type": "WORKFLOW", "data": {"id": str(uuid.uuid4()), "state": "INITIATED", "ts": _iso(t0)}},
            {"execution_id": execution_id, "type": "WORKFLOW", "data": {"id": str(uuid.uuid4()), "state": "FULFILLED", "ts": _iso(t1)}},
        ]
        request = {"workflow_deployment_name": "chat-session", "inputs": []}
        if previous:
            request["previous_execution_id"] = previous
        chain.append((execution_id, ("\n".join(json.dumps(line) for line in lines) + "\n").encode(), request))
        previous = execution_id
    return chain


def _iso(us: int) -> str:
    from recorder.model.timestamps import us_to_iso

    return us_to_iso(us)


def phase_load(url: str, workload: dict[str, Any], chain_depth: int) -> dict[str, Any]:
    from recorder.store import FlushPolicy, Store
    from recorder.stream.ingest import ingest_chunks

    store = Store(url)
    started = time.perf_counter()
    stored = 0
    for group in workload["files"]:
        request = {"workflow_deployment_name": group["deployment"], "inputs": []}
        if group["release_tag"]:
            request["release_tag"] = group["release_tag"]
        with open(group["path"], "rb") as handle:
            chunks = iter(lambda: handle.read(1 << 20), b"")
            stored += ingest_chunks(store, chunks, source=f"bench:{Path(group['path']).name}", request=request,
                                    policy=FlushPolicy.bulk()).events_stored
    bulk_seconds = time.perf_counter() - started
    started = time.perf_counter()
    chain = chain_bodies(chain_depth)
    for _, body, request in chain:
        ingest_chunks(store, [body], source="bench:chain", request=request, policy=FlushPolicy.bulk())
    chain_seconds = time.perf_counter() - started
    store.close()
    return {"events": stored, "bulk_seconds": bulk_seconds, "chain_seconds": chain_seconds, "chain_tail": chain[-1][0]}


# -- measured: recorder's analytics ------------------------------------------------------------------


def phase_analytics(url: str, sample_ids: list[str], chain_tail: str, chain_depth: int) -> dict[str, Any]:
    import importlib.util

    from recorder.api import Recorder

    recorder = Recorder(url)
    figures: dict[str, Any] = {}
    adbc = "adbc_driver_postgresql" if url.startswith("postgresql") else "adbc_driver_sqlite"
    info(f"whole-table pulls: {'ADBC' if importlib.util.find_spec(adbc) else 'plain driver (ADBC not installed)'}")

    timings = []
    for execution_id in sample_ids:
        started = time.perf_counter()
        timeline = recorder.timeline(execution_id)
        timings.append(time.perf_counter() - started)
        assert timeline.spans, execution_id
    figures["timeline_ms"] = statistics.median(timings) * 1000
    figures["timeline_max_ms"] = max(timings) * 1000

    started = time.perf_counter()
    report = recorder.analytics.refresh()
    figures["fleet_snapshot_s"] = time.perf_counter() - started
    figures["fleet_snapshot_mode"] = report.mode
    started = time.perf_counter()
    by_node = recorder.latency("node")
    figures["latency_by_node_cold_ms"] = (time.perf_counter() - started + figures["fleet_snapshot_s"]) * 1000
    figures["latency_by_node_ms"] = _median_ms(lambda: recorder.latency("node"))
    figures["latency_by_node_type_ms"] = _median_ms(lambda: recorder.latency("node_type"))
    figures["latency_by_deployment_ms"] = _median_ms(lambda: recorder.latency("deployment,release_tag"))
    figures["node_runs"] = int(by_node["count"].sum())

    lineage = recorder.lineage(chain_tail)
    assert len(lineage.ancestors) == chain_depth - 1 and not lineage.cycle, (len(lineage.ancestors), lineage.cycle)
    figures["lineage_ms"] = _median_ms(lambda: recorder.lineage(chain_tail))
    figures["lineage_walk_ms"] = _median_ms(lambda: recorder.analytics.lineage(chain_tail, with_costs=False))
    figures["peak_rss_mb"] = peak_rss_mb()
    recorder.close()
    return figures


def _median_ms(function: Callable[[], Any]) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


# -- baseline: polars over the raw NDJSON bodies ------------------------------------------------------


def phase_baseline(files: list[str], sample_ids: list[str]) -> dict[str, Any]:
    import polars as pl

    schema = {
        "execution_id": pl.String,
        "type": pl.String,
        "data": pl.Struct({"state": pl.String, "ts": pl.String, "node_id": pl.String, "node_result_id": pl.String}),
    }
    events = pl.scan_ndjson(files, schema=schema).select(
        "execution_id", "type",
        pl.col("data").struct.field("state").alias("state"),
        pl.col("data").struct.field("ts").str.to_datetime(time_zone="UTC").alias("ts"),
        pl.col("data").struct.field("node_id").alias("node_id"),
        pl.col("data").struct.field("node_result_id").alias("node_result_id"),
    )

    def spans(frame: pl.LazyFrame) -> pl.LazyFrame:
        return (
            frame.filter(pl.col("type") == "NODE")
            .group_by("execution_id", "node_result_id")
            .agg(
                pl.col("node_id").first(),
                pl.col("ts").filter(pl.col("state") == "INITIATED").first().alias("start"),
                pl.col("ts").filter(pl.col("state").is_in(["FULFILLED", "REJECTED"])).first().alias("end"),
            )
            .with_columns(((pl.col("end") - pl.col("start")).dt.total_microseconds() / 1000).alias("duration_ms"))
        )

    figures: dict[str, Any] = {}
    timings = []
    for execution_id in sample_ids[:5]:
        started = time.perf_counter()
        spans(events.filter(pl.col("execution_id") == execution_id)).collect()
        timings.append(time.perf_counter() - started)
    figures["baseline_timeline_ms"] = statistics.median(timings) * 1000
    started = time.perf_counter()
    (
        spans(events)
        .group_by("node_id")
        .agg(
            pl.len().alias("count"),
            pl.col("duration_ms").mean().alias("mean_ms"),
            *[pl.col("duration_ms").quantile(q, "linear").alias(f"p{int(q * 100)}_ms") for q in (0.5, 0.9, 0.95, 0.99)],
            pl.col("duration_ms").max().alias("max_ms"),
        )
        .collect()
    )
    figures["baseline_latency_by_node_ms"] = (time.perf_counter() - started) * 1000
    figures["baseline_peak_rss_mb"] = peak_rss_mb()
    return figures


# -- driver ---------------------------------------------------------------------------------------------


def run_backend(backend: str, args: argparse.Namespace, workload: dict[str, Any], workdir: Path) -> dict[str, Any]:
    scratch = scratch_sqlite(workdir, "analytics") if backend == "sqlite" else scratch_postgres(args.pg_url, "analytics")
    with scratch as url:
        info(f"{backend}: loading {workload['events']} events + a {args.chain_depth}-deep chain through ingest_chunks (FlushPolicy.bulk())")
        load = run_isolated(phase_load, url, workload, args.chain_depth)
        info(
            f"{backend}: loaded {load['events']} events in {load['bulk_seconds']:.1f} s "
            f"({load['events'] / load['bulk_seconds']:,.0f} events/s); chain of {args.chain_depth} streams in {load['chain_seconds']:.1f} s"
        )
        figures = run_isolated(phase_analytics, url, workload["sample_ids"], load["chain_tail"], args.chain_depth)
    figures["load_events_per_s"] = load["events"] / load["bulk_seconds"]
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000, help="at least this many events (default 10,000,000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL), help="PostgreSQL server for a scratch database")
    parser.add_argument("--chain-depth", type=int, default=1000, help="depth of the lineage chain (default 1,000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--workdir", type=Path, help="where the NDJSON bodies and the SQLite store go (default: a temporary directory)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    with tempfile.TemporaryDirectory(prefix="recorder-bench-", dir=args.workdir) as temporary:
        workdir = Path(temporary)
        started = time.perf_counter()
        workload = write_workload(workdir, args.events, args.seed)
        info(f"generated {workload['events']} events in {workload['executions']} executions, "
             f"{len(workload['files'])} bodies, in {time.perf_counter() - started:.1f} s (not measured)")
        results = {backend: run_backend(backend, args, workload, workdir) for backend in backends}
        baseline = run_isolated(phase_baseline, [group["path"] for group in workload["files"]], workload["sample_ids"])
    info(f"targets: timeline < 20 ms, fleet percentiles by node < 2000 ms, {args.chain_depth}-deep lineage < 50 ms")
    names = ("timeline_ms", "timeline_max_ms", "fleet_snapshot_s", "latency_by_node_cold_ms", "latency_by_node_ms",
             "latency_by_node_type_ms", "latency_by_deployment_ms", "lineage_ms", "lineage_walk_ms", "peak_rss_mb", "node_runs", "load_events_per_s")
    for backend, figures in results.items():
        prefix = f"{backend} " if len(results) > 1 else ""
        for name in names:
            print(f"{prefix}{name} {_figure(figures[name])}")
    for name, value in baseline.items():
        print(f"{name} {_figure(value)}")
    return 0


def _figure(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
