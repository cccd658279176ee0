"""Analytics benchmark: fleet percentiles from the CLI, timeline and lineage on a store of N events.

    python bench/analytics.py [--events N] [--backend sqlite|postgresql|both] [--workdir DIR] [--keep]
                              [--pg-url URL] [--chain-depth D] [--more-executions M] [--seed S]

The workload (default 10,000,000 events, about 180,000 executions, ~670 bytes per event) comes from
`recorder.demo.workload.iter_workload`, written once as NDJSON bodies, one per (deployment, release
tag), plus M more executions (default 1,000) kept apart for the "after more were ingested" step and
a lineage chain of D executions (default 1,000), each one PROMPT run costing $0.001 and naming the
one before as `previous_execution_id`. With `--workdir` the bodies are kept there and reused by
later runs with the same --events, --seed and --more-executions (generation is not timed).

Per backend, on a fresh store (a SQLite file in the work directory, or a scratch PostgreSQL
database), each step in its own process:

1. load: the bodies through recorder's bulk ingest path (`ingest_chunks`, `FlushPolicy.bulk()`),
   one body per (deployment, release tag) with that request, then the chain; timed, with events/s.
2. baseline: polars `scan_ndjson` over the same bodies: spans (INITIATED to FULFILLED/REJECTED)
   and count, mean, p50/p90/p95/p99, max by node over all runs; its time and peak RSS. It runs just
   before the CLI steps, so the ratios compare moments of the same machine load.
3. `recorder latency --by node --json` as a fresh CLI process (the venv's `recorder`,
   RECORDER_DATABASE_URL set, RECORDER_CACHE_DIR and XDG_CACHE_HOME pointing into the run folder,
   RECORDER_ANALYTICS_DIR unset): cold (empty cache folder), warm (cache current; median of 3),
   then the M more executions are ingested (timed) and the command runs once (after_more), and
   warm again (median of 3). Each: wall seconds from spawn to exit, ratio to the baseline, the
   process's peak RSS (from wait4), and the cache folder's size on disk afterwards.
4. api: `Recorder.timeline` median (and max) ms over 25 executions spread over the workload, and
   `Recorder.lineage` of the chain's tail, cost included (median of 5; the total cost is checked).

Every step line gives the 1-minute load average before and after. The header names the git commit
and a fingerprint of the recorder code measured; a warning precedes any step run after it changed.
The bulk-ingest rate with span upkeep against without it is in bench/ingest.py (`--spans-off`).

Progress lines start with `# `; the last lines are the figures, one per line,
`<backend> <name> <value>`, with the target (if any) and whether it was met after a `#`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import (
    DEFAULT_PG_URL,
    CommandRun,
    directory_bytes,
    exit_on_sigterm,
    info,
    libpq_url,
    load_average,
    peak_rss_mb,
    recorder_fingerprint,
    recorder_version,
    run_command,
    run_isolated,
    scratch_postgres,
    scratch_sqlite,
)

SEED = 7
TIMELINE_SAMPLES = 25
LINEAGE_REPEATS = 5
WARM_REPEATS = 3
BASELINE_REPEATS = 2  # separate processes; the faster is the baseline (the ratios are against it)
DISK_BYTES_PER_EVENT = 2500  # a store takes ~1.1 KB per event on either engine, the bodies ~0.7 KB
CHAIN_COST_USD = 0.001
# The recorder code these figures measure: parser, store, ingest path, analytics, API, CLI, workload.
MEASURED_CODE = ("model", "store", "stream", "analytics", "api.py", "cli", "demo")
WORKLOAD_VERSION = 2  # bump when the bodies written for the same arguments change

# Targets (issue 12), in the figures' units; `None` where the issue sets none.
TARGET_COLD_S = 5.0
TARGET_WARM_S = 1.0
TARGET_WARM_RATIO = 0.4
TARGET_AFTER_MORE_S = 1.5
TARGET_TIMELINE_MS = 20.0
TARGET_LINEAGE_MS = 50.0
TARGET_RSS_MB = 1536.0

Result = dict[str, Any]


# -- the workload (generated once, before anything is timed) --------------------------------------------


def generate_workload(directory: Path, events: int, more: int, seed: int) -> Result:
    """NDJSON bodies, one per (deployment, release tag), with at least `events` events in all, then
    `more` executions more (the same generator continued) in bodies of their own under more/."""
    from recorder.demo.workload import body_bytes, iter_workload

    (directory / "more").mkdir(parents=True, exist_ok=True)
    handles: dict[tuple[str, str, str | None], Any] = {}
    files: dict[str, list[dict[str, Any]]] = {"main": [], "more": []}
    counts = {"main": 0, "more": 0}
    executions = {"main": 0, "more": 0}
    with_nodes: list[str] = []
    part = "main"
    # iter_workload spreads its executions over simulated hours: ask for more than needed
    # (~55 events per execution on average) and stop once there are enough.
    try:
        for execution in iter_workload(executions=events // 40 + more + 100, seed=seed):
            if part == "main" and counts["main"] >= events:
                part = "more"
            if part == "more" and executions["more"] >= more:
                break
            request = execution.request
            deployment = request.get("workflow_deployment_name") or request.get("workflow_deployment_id")
            key = (part, deployment, request.get("release_tag"))
            if key not in handles:
                path = directory / ("more" if part == "more" else "") / f"group-{len(files[part])}.ndjson"
                handles[key] = path.open("wb")
                files[part].append({"path": str(path), "deployment": deployment, "release_tag": key[2]})
            handles[key].write(body_bytes(execution))
            counts[part] += len(execution.lines)
            executions[part] += 1
            if part == "main" and any('"type":"NODE"' in line for line in execution.lines):
                with_nodes.append(execution.execution_id)
    finally:
        for handle in handles.values():
            handle.close()
    if counts["main"] < events or executions["more"] < more:
        raise RuntimeError(f"the workload ran out: {counts['main']} events, {executions['more']} more executions")
    step = max(1, len(with_nodes) // TIMELINE_SAMPLES)
    return {
        "version": WORKLOAD_VERSION, "events": counts["main"], "executions": executions["main"], "files": files["main"],
        "more_events": counts["more"], "more_executions": executions["more"], "more_files": files["more"],
        "sample_ids": with_nodes[step // 2::step][:TIMELINE_SAMPLES],
        "bytes": sum(Path(entry["path"]).stat().st_size for entry in files["main"]),
    }


def prepare_workload(workdir: Path, events: int, more: int, seed: int) -> Result:
    """The workload's bodies and description; reused when `workdir` already holds them."""
    directory = workdir / f"analytics-workload-{events}-more{more}-seed{seed}"
    meta_path = directory / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("version") == WORKLOAD_VERSION and all(Path(entry["path"]).exists() for entry in meta["files"] + meta["more_files"]):
            info(f"reusing {directory}: {meta['events']} events in {meta['executions']} executions, {meta['bytes'] / 1e6:,.0f} MB "
                 f"(generated in {meta['generation_seconds']:.0f} s)")
            return meta
    shutil.rmtree(directory, ignore_errors=True)
    info(f"generating >= {events} events + {more} more executions with iter_workload(seed={seed}) into {directory} (not timed)")
    started = time.perf_counter()
    meta = generate_workload(directory, events, more, seed)
    meta["generation_seconds"] = time.perf_counter() - started
    meta_path.write_text(json.dumps(meta))  # written last: its presence means the bodies are whole
    info(f"generated {meta['events']} events in {meta['executions']} executions ({meta['bytes'] / 1e6:,.0f} MB, "
         f"{len(meta['files'])} bodies) + {meta['more_events']} events in {meta['more_executions']} more executions, "
         f"in {meta['generation_seconds']:.1f} s")
    return meta


def chain_bodies(depth: int) -> list[tuple[str, bytes, dict[str, Any]]]:
    """A lineage chain: `depth` small executions, each continuing the one before and holding one
    PROMPT run that reports CHAIN_COST_USD, so the chain's total cost is known."""
    from recorder.model.timestamps import us_to_iso

    chain = []
    previous = None
    start_us = 1_795_000_000_000_000
    for index in range(depth):
        execution_id = str(uuid.UUID(int=index + 1, version=4))
        t0 = start_us + index * 10_000_000
        node = {"node_id": str(uuid.UUID(int=1, version=4)), "node_result_id": str(uuid.uuid4())}
        meta = {"usage": {"input_token_count": 100, "output_token_count": 10}, "cost": {"value": CHAIN_COST_USD, "unit": "USD"},
                "model_name": "gpt-4o-mini"}
        lines = [
            {"execution_id": execution_id, "type": "WORKFLOW", "data": {"id": str(uuid.uuid4()), "state": "INITIATED", "ts": us_to_iso(t0)}},
            {"execution_id": execution_id, "type": "NODE", "data": {"id": str(uuid.uuid4()), **node, "state": "INITIATED", "ts": us_to_iso(t0 + 1000),
                                                                    "data": {"type": "PROMPT", "data": {"execution_meta": None}}}},
            {"execution_id": execution_id, "type": "NODE", "data": {"id": str(uuid.uuid4()), **node, "state": "FULFILLED", "ts": us_to_iso(t0 + 2_000_000),
                                                                    "data": {"type": "PROMPT", "data": {"execution_meta": meta}}}},
            {"execution_id": execution_id, "type": "WORKFLOW", "data": {"id": str(uuid.uuid4()), "state": "FULFILLED", "ts": us_to_iso(t0 + 2_500_000)}},
        ]
        request: dict[str, Any] = {"workflow_deployment_name": "chat-session", "inputs": []}
        if previous:
            request["previous_execution_id"] = previous
        chain.append((execution_id, ("\n".join(json.dumps(line) for line in lines) + "\n").encode(), request))
        previous = execution_id
    return chain


# -- steps: each runs in a fresh interpreter (or is a fresh CLI process) -----------------------------------


def ingest_bodies(url: str, files: list[dict[str, Any]], progress: str | None = None) -> Result:
    """The bodies through recorder's bulk ingest path, each with its (deployment, release tag) request.
    With `progress` (a label), a line after each body: a 10M load runs for many minutes."""
    from recorder.store import FlushPolicy, Store
    from recorder.stream.ingest import ingest_chunks

    store = Store(url)
    started = time.perf_counter()
    stored = 0
    try:
        for index, group in enumerate(files):
            request = {"workflow_deployment_name": group["deployment"], "inputs": []}
            if group["release_tag"]:
                request["release_tag"] = group["release_tag"]
            with open(group["path"], "rb") as handle:
                chunks = iter(lambda: handle.read(1 << 20), b"")
                stored += ingest_chunks(store, chunks, source=f"bench:{Path(group['path']).name}", request=request,
                                        policy=FlushPolicy.bulk()).events_stored
            if progress:
                elapsed = time.perf_counter() - started
                info(f"{progress}: body {index + 1} of {len(files)}, {stored:,} events in {elapsed:.0f} s "
                     f"({stored / elapsed:,.0f} events/s), load {load_average()}")
        seconds = time.perf_counter() - started
    finally:
        store.close()
    return {"events": stored, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def step_load(url: str, files: list[dict[str, Any]], chain_depth: int, label: str) -> Result:
    from recorder.store import FlushPolicy, Store
    from recorder.stream.ingest import ingest_chunks

    Store(url).close()  # the schema (migrations) is made before the clock starts
    result = ingest_bodies(url, files, progress=label)
    store = Store(url)
    started = time.perf_counter()
    chain = chain_bodies(chain_depth)
    try:
        for _, body, request in chain:
            ingest_chunks(store, [body], source="bench:chain", request=request, policy=FlushPolicy.bulk())
    finally:
        store.close()
    return {**result, "chain_seconds": time.perf_counter() - started, "chain_tail": chain[-1][0], "peak_rss_mb": peak_rss_mb()}


def step_baseline(files: list[str]) -> Result:
    """Polars over the raw NDJSON bodies: what a notebook user does without a store."""
    import polars as pl

    started = time.perf_counter()
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
    frame = (
        events.filter(pl.col("type") == "NODE")
        .group_by("execution_id", "node_result_id")
        .agg(
            pl.col("node_id").first(),
            pl.col("ts").filter(pl.col("state") == "INITIATED").first().alias("start"),
            pl.col("ts").filter(pl.col("state").is_in(["FULFILLED", "REJECTED"])).first().alias("end"),
        )
        .with_columns(((pl.col("end") - pl.col("start")).dt.total_microseconds() / 1000).alias("duration_ms"))
        .drop_nulls("duration_ms")
        .group_by("node_id")
        .agg(
            pl.len().alias("count"),
            pl.col("duration_ms").mean().alias("mean_ms"),
            *[pl.col("duration_ms").quantile(q, "linear").alias(f"p{int(q * 100)}_ms") for q in (0.5, 0.9, 0.95, 0.99)],
            pl.col("duration_ms").max().alias("max_ms"),
        )
        .collect()
    )
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb(), "groups": frame.height,
            "node_runs": int(frame["count"].sum())}


def step_more(url: str, files: list[dict[str, Any]]) -> Result:
    return ingest_bodies(url, files)


def step_api(url: str, env: dict[str, str], sample_ids: list[str], chain_tail: str, chain_depth: int) -> Result:
    """Timelines and the chain's lineage through the Python API, as a notebook calls them."""
    os.environ.update(env)
    os.environ.pop("RECORDER_ANALYTICS_DIR", None)
    from recorder.api import Recorder

    recorder = Recorder(url)
    try:
        timings = []
        for execution_id in sample_ids:
            started = time.perf_counter()
            timeline = recorder.timeline(execution_id)
            timings.append(time.perf_counter() - started)
            assert timeline.spans, f"no spans in the timeline of {execution_id}"
        lineage = recorder.lineage(chain_tail)
        assert len(lineage.ancestors) == chain_depth - 1 and not lineage.cycle, (len(lineage.ancestors), lineage.cycle)
        expected_cost = round(chain_depth * CHAIN_COST_USD, 6)
        assert lineage.total_cost_usd is not None and abs(lineage.total_cost_usd - expected_cost) < 1e-6, (lineage.total_cost_usd, expected_cost)
        lineage_timings = []
        for _ in range(LINEAGE_REPEATS):
            started = time.perf_counter()
            recorder.lineage(chain_tail)
            lineage_timings.append(time.perf_counter() - started)
    finally:
        recorder.close()
    return {
        "timeline_ms": statistics.median(timings) * 1000, "timeline_max_ms": max(timings) * 1000,
        "lineage_ms": statistics.median(lineage_timings) * 1000, "lineage_cost_usd": lineage.total_cost_usd,
        "peak_rss_mb": peak_rss_mb(),
    }


# -- the CLI as a user runs it ------------------------------------------------------------------------------


class LatencyCli:
    """`recorder latency --by node --json` as fresh processes against one store and cache folder."""

    def __init__(self, url: str, run_dir: Path) -> None:
        self.cache_dir = run_dir / "cache"
        self.out_dir = run_dir / "cli"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.env = {key: value for key, value in os.environ.items() if key != "RECORDER_ANALYTICS_DIR"}
        self.env.update(RECORDER_DATABASE_URL=url, RECORDER_CACHE_DIR=str(self.cache_dir), XDG_CACHE_HOME=str(self.cache_dir / "xdg"))
        self.argv = [str(Path(sys.executable).parent / "recorder"), "latency", "--by", "node", "--json"]
        self.runs = 0

    def clear_cache(self) -> None:
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        self.cache_dir.mkdir(parents=True)

    def run(self) -> tuple[CommandRun, int]:
        """One run; returns it and the node runs its percentiles cover (the sum of the counts)."""
        self.runs += 1
        stdout, stderr = self.out_dir / f"run-{self.runs}.json", self.out_dir / f"run-{self.runs}.err"
        result = run_command(self.argv, env=self.env, stdout_path=stdout, stderr_path=stderr)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(self.argv)} exited with {result.returncode}:\n{stderr.read_text()[-4000:]}")
        rows = json.loads(stdout.read_text())
        return result, sum(int(row["count"]) for row in rows)


# -- driver -------------------------------------------------------------------------------------------------


class Steps:
    """Runs the steps of one run with the load average around each and a warning when the measured
    code changed since the run began (the tree is shared and edited while long runs go on)."""

    def __init__(self, source: str) -> None:
        self.source = source

    @contextmanager
    def step(self, label: str) -> Iterator[dict[str, str]]:
        source = recorder_fingerprint(*MEASURED_CODE)
        if source != self.source:
            info(f"WARNING: the measured recorder code changed since the run began ({self.source} -> {source}): "
                 f"{label} measures other code than the first step")
        note = {"load": load_average()}
        yield note
        note["load"] += f" -> {load_average()}"


def run_backend(backend: str, args: argparse.Namespace, workload: Result, workdir: Path, steps: Steps) -> list[tuple[str, Any, str]]:
    """All steps on one fresh store; returns (name, value, target note) figures."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"run-{backend}-", dir=workdir))
    scratch = (scratch_sqlite(run_dir, "analytics", keep=args.keep) if backend == "sqlite"
               else scratch_postgres(args.pg_url, "analytics", keep=args.keep))
    figures: list[tuple[str, Any, str]] = []
    try:
        with scratch as url:
            with steps.step("load") as note:
                load = run_isolated(step_load, url, workload["files"], args.chain_depth, f"{backend} load")
            rate = load["events"] / load["seconds"]
            info(f"{backend} load: {load['events']} events through ingest_chunks (FlushPolicy.bulk()) in {load['seconds']:.1f} s "
                 f"= {rate:,.0f} events/s, peak RSS {load['peak_rss_mb']:.0f} MB; the {args.chain_depth}-deep chain in "
                 f"{load['chain_seconds']:.1f} s; store {_store_bytes(url) / 1e6:,.0f} MB; load {note['load']}")
            if load["events"] != workload["events"]:
                info(f"WARNING: {backend} stored {load['events']} events, expected {workload['events']}")
            figures += [("load_seconds", load["seconds"], ""), ("load_events_per_s", round(rate), "")]

            with steps.step("baseline") as note:
                baselines = [run_isolated(step_baseline, [entry["path"] for entry in workload["files"]]) for _ in range(BASELINE_REPEATS)]
            baseline = min(baselines, key=lambda result: result["seconds"])
            tries = ", ".join(f"{result['seconds']:.2f}" for result in baselines)
            info(f"{backend} baseline (polars scan_ndjson, by node; runs {tries} s): best {baseline['seconds']:.2f} s, "
                 f"peak RSS {baseline['peak_rss_mb']:.0f} MB, {baseline['node_runs']} node runs in {baseline['groups']} nodes; load {note['load']}")
            figures += [("baseline_latency_by_node_s", baseline["seconds"], ""), ("baseline_peak_rss_mb", round(baseline["peak_rss_mb"]), "")]

            cli = LatencyCli(url, run_dir)
            cli.clear_cache()

            def measure(name: str, repeats: int, target_s: float, ratio_target: float | None) -> None:
                runs = []
                with steps.step(name) as note:
                    for _ in range(repeats):
                        runs.append(cli.run())
                cache = directory_bytes(cli.cache_dir)
                if name == "cold" and runs[0][1] != baseline["node_runs"] + args.chain_depth:
                    info(f"WARNING: {backend}: the CLI counts {runs[0][1]} node runs, the baseline {baseline['node_runs']} "
                         f"+ {args.chain_depth} in the chain")
                for result, node_runs in runs:
                    info(f"{backend} cli {name}: {result.seconds:.2f} s, peak RSS {result.peak_rss_mb:.0f} MB, {node_runs} node runs")
                seconds = statistics.median(result.seconds for result, _ in runs)
                rss = max(result.peak_rss_mb for result, _ in runs)
                ratio = seconds / baseline["seconds"]
                info(f"{backend} cli {name}: median {seconds:.2f} s of {repeats} = {ratio:.2f}x baseline, cache {cache / 1e6:,.1f} MB; load {note['load']}")
                figures.extend([
                    (f"cli_{name}_s", seconds, _target(seconds < target_s, f"< {target_s:g} s")),
                    (f"cli_{name}_ratio", f"{ratio:.2f}", _target(ratio < ratio_target, f"< {ratio_target:g}x baseline") if ratio_target else ""),
                    (f"cli_{name}_peak_rss_mb", round(rss), _target(rss < TARGET_RSS_MB, f"< {TARGET_RSS_MB:g} MB")),
                    (f"cache_bytes_{name}", cache, ""),
                ])

            measure("cold", 1, TARGET_COLD_S, 1.0)
            measure("warm", WARM_REPEATS, TARGET_WARM_S, TARGET_WARM_RATIO)
            with steps.step("more") as note:
                more = run_isolated(step_more, url, workload["more_files"])
            info(f"{backend} ingested {workload['more_executions']} more executions ({more['events']} events) in {more['seconds']:.1f} s; "
                 f"load {note['load']}")
            measure("after_more", 1, TARGET_AFTER_MORE_S, None)
            measure("warm_again", WARM_REPEATS, TARGET_WARM_S, TARGET_WARM_RATIO)

            if backend == "postgresql":
                info(f"{backend}: planner statistics before the api step: {_pg_statistics(url)}")
            with steps.step("api") as note:
                api = run_isolated(step_api, url, cli.env, workload["sample_ids"], load["chain_tail"], args.chain_depth)
            info(f"{backend} api: timeline over {len(workload['sample_ids'])} executions median {api['timeline_ms']:.1f} ms "
                 f"(max {api['timeline_max_ms']:.1f}), lineage of {args.chain_depth} median {api['lineage_ms']:.1f} ms "
                 f"(cost ${api['lineage_cost_usd']:.3f}), peak RSS {api['peak_rss_mb']:.0f} MB; load {note['load']}")
            figures += [
                ("timeline_ms", api["timeline_ms"], _target(api["timeline_ms"] < TARGET_TIMELINE_MS, f"< {TARGET_TIMELINE_MS:g} ms")),
                ("timeline_max_ms", api["timeline_max_ms"], ""),
                ("lineage_ms", api["lineage_ms"], _target(api["lineage_ms"] < TARGET_LINEAGE_MS, f"< {TARGET_LINEAGE_MS:g} ms")),
                ("api_peak_rss_mb", round(api["peak_rss_mb"]), _target(api["peak_rss_mb"] < TARGET_RSS_MB, f"< {TARGET_RSS_MB:g} MB")),
            ]
            if args.keep:
                info(f"{backend}: kept the store {url} and the cache {cli.cache_dir}")
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    return figures


def _store_bytes(url: str) -> int:
    """The store's size on disk: the SQLite file (with its WAL), or the PostgreSQL database."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(Path(f"{path}{suffix}").stat().st_size for suffix in ("", "-wal") if Path(f"{path}{suffix}").exists())
    import psycopg

    with psycopg.connect(libpq_url(url)) as connection:
        return int(connection.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def _pg_statistics(url: str) -> str:
    """Whether (auto)ANALYZE has run on the tables the point queries read. Right after a bulk load
    it often has not, and a plan made without statistics can be many times slower (the lineage's
    recursive walk over `executions` was 267 ms before ANALYZE and 18 ms after, at 3M events)."""
    import psycopg

    with psycopg.connect(libpq_url(url)) as connection:
        rows = connection.execute(
            "SELECT relname, n_live_tup, greatest(last_analyze, last_autoanalyze) IS NOT NULL FROM pg_stat_user_tables "
            "WHERE relname IN ('executions', 'node_spans', 'events') ORDER BY relname"
        ).fetchall()
    return ", ".join(f"{name} {rows_:,} rows {'analyzed' if analyzed else 'NOT analyzed'}" for name, rows_, analyzed in rows)


def _target(met: bool, text: str) -> str:
    return f"target {text}: {'met' if met else 'NOT met'}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000, help="at least this many events (default 10,000,000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL),
                        help=f"an existing database; the scratch database is made beside it (default $BENCH_PG_URL or {DEFAULT_PG_URL})")
    parser.add_argument("--chain-depth", type=int, default=1000, help="depth of the lineage chain (default 1,000)")
    parser.add_argument("--more-executions", type=int, default=1000, help="executions ingested before the after_more run (default 1,000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--workdir", type=Path, help="keep the workload here and reuse it; stores and caches go here too (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the stores (SQLite file, PostgreSQL database) and cache folders afterwards")
    args = parser.parse_args(argv)
    if args.events < 1 or args.chain_depth < 2 or args.more_executions < 1:
        parser.error("--events and --more-executions must be positive, --chain-depth at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        free = shutil.disk_usage(workdir).free
        info(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load_average()}, "
             f"work directory {workdir} ({free / 1e9:,.0f} GB free)")
        if free < args.events * DISK_BYTES_PER_EVENT:
            info(f"WARNING: {free / 1e9:,.0f} GB free may not hold the bodies and a store of {args.events:,} events "
                 f"(~{args.events * DISK_BYTES_PER_EVENT / 1e9:,.0f} GB)")
        source = recorder_fingerprint(*MEASURED_CODE)
        info(f"recorder {recorder_version(*MEASURED_CODE)} (source = {', '.join(MEASURED_CODE)} under recorder/)")
        workload = prepare_workload(workdir, args.events, args.more_executions, args.seed)
        steps = Steps(source)
        backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
        figures = [(backend, *figure) for backend in backends for figure in run_backend(backend, args, workload, workdir, steps)]
        info(f"{workload['events']} events in {workload['executions']} executions; targets (issue 12): cold < {TARGET_COLD_S:g} s and below "
             f"the baseline, warm < {TARGET_WARM_S:g} s and < {TARGET_WARM_RATIO:g}x the baseline, after {args.more_executions} more executions "
             f"< {TARGET_AFTER_MORE_S:g} s, timeline < {TARGET_TIMELINE_MS:g} ms, lineage < {TARGET_LINEAGE_MS:g} ms, RSS < {TARGET_RSS_MB:g} MB")
        for backend, name, value, target in figures:
            print(f"{backend} {name} {_figure(value)}" + (f"  # {target}" if target else ""), flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
