"""`recorder export` and `recorder serve` as users type them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner

from recorder.cli.main import cli
from recorder.model.cassette import Cassette, Fault, Request, Response, lines_of_body, read_cassette, write_cassette
from recorder.store import Store
from tests.test_replay_support import ingest_samples, load_sample


def run(url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", url, *args], catch_exceptions=False)


def test_export_writes_the_cassette_of_an_execution_to_a_file(store: Store, samples_dir: Path, tmp_path: Path) -> None:
    ingest_samples(store, samples_dir, ["exec_0005"])
    truth, body = load_sample(samples_dir, "exec_0005")
    result = run(store.url, "export", truth["execution_id"][:8], "-o", str(tmp_path / "c.json"))
    assert result.exit_code == 0, result.output
    cassette = read_cassette(tmp_path / "c.json")
    assert (cassette.body(), cassette.request.body, cassette.execution_id) == (body, truth["request"], truth["execution_id"])


def test_export_body_writes_exactly_the_received_bytes_to_stdout(store: Store, samples_dir: Path) -> None:
    ingest_samples(store, samples_dir, ["exec_0005"])
    truth, body = load_sample(samples_dir, "exec_0005")
    assert run(store.url, "export", truth["execution_id"], "--body").stdout_bytes == body


def test_export_redact_takes_the_value_out_of_the_file(store: Store, samples_dir: Path, tmp_path: Path) -> None:
    ingest_samples(store, samples_dir, ["exec_0000"])
    truth, _ = load_sample(samples_dir, "exec_0000")
    query = truth["request"]["inputs"][0]["value"]
    run(store.url, "export", truth["execution_id"], "-o", str(tmp_path / "c.json"), "--redact", "inputs.query", "--redact", "metadata.user_id")
    data = (tmp_path / "c.json").read_bytes()
    assert query.encode() not in data and json.dumps(query)[1:-1].encode() not in data
    assert truth["request"]["metadata"]["user_id"].encode() not in data


def test_export_warns_about_a_redact_key_that_matches_nothing(store: Store, samples_dir: Path) -> None:
    ingest_samples(store, samples_dir, ["exec_0002"])
    truth, _ = load_sample(samples_dir, "exec_0002")
    result = run(store.url, "export", truth["execution_id"], "--redact", "inputs.nope")
    assert "--redact inputs.nope: the request has no such input or metadata key" in result.stderr


def test_export_fault_options_write_the_fault_into_the_cassette(store: Store, samples_dir: Path, tmp_path: Path) -> None:
    ingest_samples(store, samples_dir, ["exec_0002"])
    truth, _ = load_sample(samples_dir, "exec_0002")
    run(store.url, "export", truth["execution_id"], "-o", str(tmp_path / "c.json"), "--cut-after", "2", "--first-byte-delay", "1.5")
    assert read_cassette(tmp_path / "c.json").fault == Fault(first_byte_delay_s=1.5, cut_after_lines=2)


def test_export_of_an_unknown_execution_is_a_one_line_error(store: Store) -> None:
    result = CliRunner().invoke(cli, ["--db", store.url, "export", "ffffffff"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no recorded execution matches 'ffffffff'"


def test_ingest_reads_an_exported_cassette_back(store: Store, samples_dir: Path, tmp_path: Path) -> None:
    ingest_samples(store, samples_dir, ["exec_0002"])
    truth, _ = load_sample(samples_dir, "exec_0002")
    run(store.url, "export", truth["execution_id"], "-o", str(tmp_path / "c.json"))
    result = run(store.url, "ingest", str(tmp_path / "c.json"), "--json")
    [row] = json.loads(result.stdout)
    assert (row["events_stored"], row["duplicates"], row["execution_ids"]) == (0, 4, [truth["execution_id"]])


def test_serve_refuses_a_speed_with_instant_timing(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'r.db'}", "serve", "--timing", "instant", "--speed", "2", str(tmp_path)])
    assert result.exit_code == 2
    assert "--speed replays the recorded gaps faster; it cannot go with --timing instant" in result.output


def test_serve_replays_a_folder_on_loopback(samples_dir: Path, tmp_path: Path) -> None:
    truth, body = load_sample(samples_dir, "exec_0002")
    lines, ends = lines_of_body(body)
    write_cassette(Cassette(Request(body=truth["request"]), Response(lines=lines, ends_with_newline=ends)), tmp_path / "cassettes" / "one.cassette.json")
    folder = tmp_path / "cassettes"
    command = [sys.executable, "-m", "recorder.cli", "serve", "--port", "0", str(folder)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "400"}, text=True)
    try:
        line = process.stderr.readline()
        assert "replaying 1 cassettes in" in line
        url = re.search(r"at (http://127\.0\.0\.1:\d+)", line).group(1)
        assert httpx.post(f"{url}/v1/execute-workflow-stream", json=truth["request"]).content == body
    finally:
        process.terminate()
        process.wait(timeout=10)
