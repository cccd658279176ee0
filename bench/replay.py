"""Replay benchmark: events/s `recorder serve` sustains to the official client, against a bare server.

    python bench/replay.py [--events N] [--rounds R]

The official `vellum-ai` client (sync, one `Vellum` instance, its default httpx client) reads the
same bytes from two servers, each in a process of its own (spawned, so neither shares the
client's interpreter or GIL):

- bare: a minimal HTTP server that answers each request with its body from a dict keyed by the
  request (headers and the whole chunked body in one write): the ceiling any server can reach;
- replay: `ReplayServer(FolderLibrary(DIR), timing=instant)`, i.e. `recorder serve DIR`: reading
  cassette files, strict request matching, the responder's plan, chunked writes.

Two workloads, both from `recorder.demo.workload.iter_workload` (realistic streams, ~50 events per
execution), written as cassette files before anything is timed:

1. per_execution: every execution requested in turn (one stream per request, each matched
   against every recorded request), as a test suite or a load test replays them;
2. single_stream: all the events in one stream (one request), which isolates streaming.

Each (server, workload) pair is measured `--rounds` times, alternating servers, after a warm-up
pass (the client's first parse builds its pydantic TypeAdapter); the best round counts. The rate
is events the client yielded divided by the wall time of the loop that consumed them.

The last lines are one figure per line, `<name> <value>`; everything else starts with `# `.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _common import info

TARGET_RATIO = 0.8
SEED = 7
SINGLE = {"workflow_deployment_name": "bench-single-stream", "inputs": []}


def request_key(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


# -- the workload (written before anything is timed) --------------------------------------------------


def write_cassettes(folder: Path, events: int, seed: int) -> dict[str, Any]:
    from recorder.demo.workload import body_bytes, iter_workload
    from recorder.model.cassette import Cassette, Request, Response, lines_of_body, write_cassette

    requests: list[dict[str, Any]] = []
    bodies: list[bytes] = []
    written = 0
    for execution in iter_workload(executions=events // 20 + 100, seed=seed):
        body = body_bytes(execution)
        lines, ends = lines_of_body(body)
        write_cassette(Cassette(Request(body=execution.request), Response(lines=lines, ends_with_newline=ends),
                                execution_id=execution.execution_id), folder / f"{len(requests):05d}.cassette.json")
        requests.append(execution.request)
        bodies.append(body)
        written += len(execution.lines)
        if written >= events:
            break
    single = b"".join(bodies)
    lines, ends = lines_of_body(single)
    write_cassette(Cassette(Request(body=SINGLE), Response(lines=lines, ends_with_newline=ends)), folder / "single.cassette.json")
    return {"events": written, "executions": len(requests), "bytes": len(single), "requests": requests}


# -- the servers (each in its own process) ------------------------------------------------------------


def run_bare(folder: str, ready: Any) -> None:
    from recorder.model.cassette import read_cassette

    bodies = {}
    for path in sorted(Path(folder).glob("*.cassette.json")):
        cassette = read_cassette(path)
        bodies[request_key(cassette.request.body)] = cassette.body()

    class Bare(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = bodies[request_key(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))]
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
            self.wfile.write(head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Bare)
    server.daemon_threads = True
    ready.put(server.server_address[1])
    server.serve_forever()


def run_replay(folder: str, ready: Any) -> None:
    from recorder.replay.library import FolderLibrary
    from recorder.replay.server import ReplayServer
    from recorder.replay.timing import Timing

    server = ReplayServer(FolderLibrary(folder), port=0, timing=Timing.instant())
    ready.put(int(server.base_url.rsplit(":", 1)[1]))
    server.serve_forever()


def start(target: Any, folder: Path) -> tuple[multiprocessing.Process, str]:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    process = context.Process(target=target, args=(str(folder), ready), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{ready.get(timeout=120)}"


# -- the client ---------------------------------------------------------------------------------------


def client_for(base_url: str) -> Any:
    from vellum import Vellum, VellumEnvironment

    return Vellum(api_key="bench", environment=VellumEnvironment(default=base_url, predict=base_url, documents=base_url))


def consume(client: Any, requests: list[dict[str, Any]]) -> tuple[int, float]:
    """Events the client yielded for these requests, and the seconds it took."""
    started = time.perf_counter()
    events = 0
    for request in requests:
        for _ in client.execute_workflow_stream(**request):
            events += 1
    return events, time.perf_counter() - started


def measure(clients: dict[str, Any], workloads: dict[str, list[dict[str, Any]]], expected: int, rounds: int) -> dict[tuple[str, str], float]:
    best: dict[tuple[str, str], float] = {}
    for workload, requests in workloads.items():
        for number in range(1, rounds + 1):
            for server, client in clients.items():
                events, seconds = consume(client, requests)
                if events != expected:
                    raise RuntimeError(f"{server} {workload}: the client yielded {events} events, expected {expected}")
                rate = events / seconds
                info(f"round {number}: {server} {workload}: {events} events in {seconds:.2f} s = {rate:,.0f} events/s")
                best[(server, workload)] = max(best.get((server, workload), 0.0), rate)
    return best


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events in the workload (default 20,000)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per server and workload; the best counts (default 3)")
    parser.add_argument("--seed", type=int, default=SEED)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    processes: list[multiprocessing.Process] = []
    try:
        import vellum

        info(f"python {sys.version.split()[0]}, vellum-ai {vellum.__version__ if hasattr(vellum, '__version__') else '?'}; cassettes in {folder}")
        meta = write_cassettes(folder, args.events, args.seed)
        info(f"{meta['events']} events in {meta['executions']} executions ({meta['bytes'] / 1e6:.1f} MB), written as cassettes (not timed)")
        bare_process, bare_url = start(run_bare, folder)
        replay_process, replay_url = start(run_replay, folder)
        processes += [bare_process, replay_process]
        clients = {"bare": client_for(bare_url), "replay": client_for(replay_url)}
        for client in clients.values():  # warm-up: the first parse builds the client's TypeAdapter
            consume(client, meta["requests"][:20])
        best = measure(clients, {"per_execution": meta["requests"], "single_stream": [SINGLE]}, meta["events"], args.rounds)
        figures = []
        for workload in ("per_execution", "single_stream"):
            bare, replay = best[("bare", workload)], best[("replay", workload)]
            figures += [
                (f"{workload}_bare_events_per_s", f"{bare:.0f}"),
                (f"{workload}_replay_events_per_s", f"{replay:.0f}"),
                (f"{workload}_replay_ratio", f"{replay / bare:.3f}"),
            ]
        info(f"target: replay >= {TARGET_RATIO:.0%} of the bare server's rate")
        for name, value in figures:
            print(f"{name} {value}", flush=True)
    finally:
        for process in processes:
            process.terminate()
            process.join(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
