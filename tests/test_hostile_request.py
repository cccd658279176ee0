"""A request body no column can hold as it is never costs the stream: every event is stored, and
SQLite and PostgreSQL keep the same request and the same execution row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recorder.api import Recorder
from recorder.model.request import UNSTORABLE_DEPTH
from tests.conftest import BACKENDS, PostgresServer
from tests.test_samples import load_truth

SAMPLE = "exec_0002"


def _nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels):
        value = {"child": value}
    return value


HOSTILE = {
    "metadata": {"tenant": "acme\u0000", "deep": _nested(200), "score": float("nan")},
    "inputs": [{"name": "query", "type": "STRING", "value": "half an emoji \ud83d"}],
    "previous_execution_id": "p" * 200,
    "external_id": "ext\u0000",
    "release_tag": "x" * 600,
}


def _hostile_request(samples_dir: Path) -> dict:
    return {**load_truth(samples_dir, SAMPLE)["request"], **HOSTILE}


def _ingest(url: str, samples_dir: Path) -> tuple[dict, dict]:
    truth = load_truth(samples_dir, SAMPLE)
    with Recorder(url) as recorder:
        result = recorder.ingest(str(samples_dir / f"{SAMPLE}.ndjson"), request=_hostile_request(samples_dir))
        assert result.events_stored == truth["event_count"] and result.rejects == 0
        audit = recorder.audit(truth["execution_id"])
    return truth, audit


def test_a_hostile_request_keeps_every_event_and_leaves_unindexable_fields_out(store_url: str, samples_dir: Path) -> None:
    truth, audit = _ingest(store_url, samples_dir)
    assert len(audit["events"]) == truth["event_count"]
    assert audit["recordings"][0]["outcome"] == "complete"
    # Indexed columns hold nothing they cannot hold on every engine ...
    assert audit["previous_execution_id"] is None and audit["release_tag"] is None
    assert audit["external_id"] != "ext\u0000"  # the stream's own external_id, or none: never the NUL one
    assert audit["metadata"] is not None  # ... and the request's JSON is kept in a form both engines take
    request = audit["request"]
    assert request["metadata"]["tenant"] == "acme\\u0000"
    assert request["metadata"]["score"] == "NaN"
    assert request["inputs"][0]["value"] == "half an emoji \\ud83d"
    assert request["previous_execution_id"] == "p" * 200
    depth, node = 0, request["metadata"]["deep"]
    while isinstance(node, dict):
        node, depth = node["child"], depth + 1
    assert node == UNSTORABLE_DEPTH and depth < 200


@pytest.mark.skipif(set(BACKENDS) != {"sqlite", "postgresql"}, reason="needs both engines")
def test_both_engines_store_the_same_hostile_request(tmp_path: Path, samples_dir: Path, postgres_server: PostgresServer) -> None:
    _, on_sqlite = _ingest(f"sqlite:///{tmp_path / 'a.db'}", samples_dir)
    _, on_postgres = _ingest(postgres_server.create_database(), samples_dir)
    keys = ("request", "metadata", "inputs", "previous_execution_id", "external_id", "release_tag", "status")
    assert json.dumps({k: on_sqlite[k] for k in keys}, sort_keys=True) == json.dumps({k: on_postgres[k] for k in keys}, sort_keys=True)
