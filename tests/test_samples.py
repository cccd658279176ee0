"""The shared real samples ingest with every count, status, time and link matching their truth."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from recorder.store import Store
from recorder.store.serialize import execution_to_dict
from recorder.stream.ingest import ingest_path

SAMPLE_NAMES = [f"exec_{index:04d}" for index in range(30)]


def load_truth(samples_dir: Path, name: str) -> dict:
    return json.loads((samples_dir / f"{name}.truth.json").read_text())


def ingest_all_samples(store: Store, samples_dir: Path) -> None:
    for name in SAMPLE_NAMES:
        truth = load_truth(samples_dir, name)
        ingest_path(store, str(samples_dir / f"{name}.ndjson"), request=truth["request"])


def as_moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@pytest.fixture
def sample_store(store: Store, samples_dir: Path) -> Store:
    ingest_all_samples(store, samples_dir)
    return store


def test_every_sample_execution_matches_its_truth(sample_store: Store, samples_dir: Path) -> None:
    for name in SAMPLE_NAMES:
        expected = load_truth(samples_dir, name)["expected_execution"]
        stored = sample_store.execution(expected["execution_id"])
        assert stored is not None, name
        actual = execution_to_dict(stored)
        for key, value in expected.items():
            if key in ("started_at", "ended_at"):
                assert as_moment(actual[key]) == as_moment(value), (name, key)
            else:
                assert actual[key] == value, (name, key)


def test_every_sample_line_is_stored_verbatim_in_stream_order(sample_store: Store, samples_dir: Path) -> None:
    for name in SAMPLE_NAMES:
        truth = load_truth(samples_dir, name)
        body = (samples_dir / f"{name}.ndjson").read_bytes()
        events = sample_store.events(truth["execution_id"])
        assert [event.raw for event in events] == body.decode("utf-8").splitlines(), name
        assert [event.position for event in events] == truth["event_line_index"], name
        assert [event.event_id for event in events] == truth["event_ids"], name


def test_sample_event_counts_by_type_and_state_match_truth(sample_store: Store, samples_dir: Path) -> None:
    for name in SAMPLE_NAMES:
        truth = load_truth(samples_dir, name)
        counts: dict[str, int] = {}
        for event in sample_store.events(truth["execution_id"]):
            key = f"{event.type}.{event.state}"
            counts[key] = counts.get(key, 0) + 1
        assert counts == truth["event_counts"], name


def test_samples_record_no_rejects_and_no_flags(sample_store: Store, samples_dir: Path) -> None:
    assert list(sample_store.rejects()) == []
    for name in SAMPLE_NAMES:
        truth = load_truth(samples_dir, name)
        assert all(event.flags is None for event in sample_store.events(truth["execution_id"])), name


def test_sample_node_events_carry_their_node_run_and_subworkflow_source(sample_store: Store, samples_dir: Path) -> None:
    for name in SAMPLE_NAMES:
        truth = load_truth(samples_dir, name)
        spans = {span["node_result_id"]: span for span in truth["timeline"]["spans"]}
        for event in sample_store.events(truth["execution_id"]):
            if event.type == "NODE":
                span = spans[event.node_result_id]
                assert event.node_id == span["node_id"], name
                assert event.source_execution_id == span["source_execution_id"], name


def test_ingesting_the_samples_twice_adds_nothing(sample_store: Store, samples_dir: Path) -> None:
    before = {e["execution_id"]: e for e in map(execution_to_dict, sample_store.executions())}
    name = SAMPLE_NAMES[3]
    truth = load_truth(samples_dir, name)
    result = ingest_path(sample_store, str(samples_dir / f"{name}.ndjson"), request=truth["request"])
    assert result.events_stored == 0
    assert result.duplicates == truth["event_count"]
    assert result.already_recorded_as is not None
    after = {e["execution_id"]: e for e in map(execution_to_dict, sample_store.executions())}
    assert after == before


def test_samples_ingested_in_reverse_order_get_the_same_roots(store: Store, samples_dir: Path) -> None:
    for name in reversed(SAMPLE_NAMES):
        truth = load_truth(samples_dir, name)
        ingest_path(store, str(samples_dir / f"{name}.ndjson"), request=truth["request"])
    for name in SAMPLE_NAMES:
        truth = load_truth(samples_dir, name)
        stored = store.execution(truth["execution_id"])
        assert stored.root_execution_id == truth["expected_execution"]["root_execution_id"], name
