"""`recorder ingest -` records a stream as it arrives on stdin: lines are committed within the live
flush window while the pipe stays open and quiet, not at EOF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


from recorder.replay.export import export_cassette
from recorder.store import Store
from tests.test_record_live import _count_events as count_events

EXEC = "57d1e000-0000-4000-8000-00000000000a"


def event(state: str, index: int, event_type: str = "NODE") -> bytes:
    data = {"id": f"e{index}", "state": state, "ts": f"2025-06-02T09:00:0{index % 10}.000000Z"}
    if event_type == "NODE":
        data.update(node_id="n1", node_result_id=f"r{index}", data=None)
    return json.dumps({"execution_id": EXEC, "type": event_type, "data": data}).encode() + b"\n"


def wait_for_events(store_url: str, at_least: int, within_s: float) -> int:
    deadline = time.monotonic() + within_s
    count = count_events(store_url)
    while count < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
        count = count_events(store_url)
    return count


def test_ingest_from_stdin_commits_lines_while_the_pipe_is_open_and_quiet(store_url: str) -> None:
    Store(store_url).close()
    first = event("INITIATED", 0, "WORKFLOW") + event("INITIATED", 1) + b"\n" + event("FULFILLED", 2)
    rest = event("FULFILLED", 3, "WORKFLOW")
    process = subprocess.Popen(
        [sys.executable, "-m", "recorder.cli", "--db", store_url, "ingest", "-", "--json"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"},
    )
    try:
        process.stdin.write(first)
        process.stdin.flush()
        # Nothing more arrives for as long as it takes: only the flush window can commit these.
        assert wait_for_events(store_url, 3, within_s=15.0) == 3
        assert process.poll() is None
        stdout, stderr = process.communicate(rest, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr.decode()
    [result] = json.loads(stdout)
    assert (result["outcome"], result["events_stored"], result["lines"]) == ("complete", 4, 5)
    with Store(store_url) as store:
        assert store.execution(EXEC).status == "FULFILLED"
        assert export_cassette(store, EXEC).body() == first + rest


def test_a_cassette_on_stdin_is_still_recognised(store_url: str, tmp_path) -> None:
    body = event("INITIATED", 0, "WORKFLOW") + event("FULFILLED", 1, "WORKFLOW")
    source = tmp_path / "body.ndjson"
    source.write_bytes(body)
    cassette = tmp_path / "exchange.cassette.json"
    with Store(store_url) as store:
        from recorder.stream.ingest import ingest_path

        ingest_path(store, str(source))
        cassette.write_bytes(export_cassette(store, EXEC).dumps())
    other = store_url if "sqlite" not in store_url else f"sqlite:///{tmp_path / 'other.db'}"
    if other == store_url:
        with Store(store_url) as store:
            store.wipe()
    done = subprocess.run([sys.executable, "-m", "recorder.cli", "--db", other, "ingest", "-", "--json"],
                          input=cassette.read_bytes(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    with Store(other) as store:
        assert export_cassette(store, EXEC).dumps() == cassette.read_bytes()
