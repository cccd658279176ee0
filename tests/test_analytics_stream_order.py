"""Analytics read an execution's events in stream order however the bodies that stored them were framed.

A cut copy framed with extra blank lines, then the whole stream: the first events sit at line
positions of one body and the rest at those of another, so line positions interleave. Timelines
and the fleet's node spans must still match the truth of the sample."""

from __future__ import annotations

from pathlib import Path

from recorder.api import Recorder
from recorder.stream.ingest import ingest_chunks
from tests.test_samples import load_truth

SAMPLE = "exec_0003"
SPAN_KEYS = ("node_result_id", "state", "duration_ms", "first_output_ms", "streaming_events", "open", "start_pos", "end_pos")


def _ingest_cut_copy_then_whole(recorder: Recorder, samples_dir: Path) -> dict:
    truth = load_truth(samples_dir, SAMPLE)
    body = (samples_dir / f"{SAMPLE}.ndjson").read_bytes()
    lines = body.splitlines(keepends=True)
    half = len(lines) // 2
    ingest_chunks(recorder.store, [b"\n" * 5 + b"".join(lines[:half])], source="cut copy", request=truth["request"])
    ingest_chunks(recorder.store, [body], source="whole", request=truth["request"])
    return truth


def _spans(spans: list[dict]) -> list[tuple]:
    return sorted(tuple(span[key] for key in SPAN_KEYS) for span in spans)


def test_a_timeline_stored_from_two_framings_matches_the_truth(store_url: str, samples_dir: Path) -> None:
    with Recorder(store_url) as recorder:
        truth = _ingest_cut_copy_then_whole(recorder, samples_dir)
        timeline = recorder.timeline(truth["execution_id"]).to_dict()
    assert _spans(timeline["spans"]) == _spans(truth["timeline"]["spans"])
    assert timeline["critical_path"] == truth["timeline"]["critical_path"]


def test_fleet_spans_stored_from_two_framings_match_the_truth(store_url: str, samples_dir: Path) -> None:
    with Recorder(store_url) as recorder:
        truth = _ingest_cut_copy_then_whole(recorder, samples_dir)
        frame = recorder.sql("SELECT * FROM node_spans WHERE execution_id = ?", [truth["execution_id"]])
    assert _spans(frame.to_dicts()) == _spans(truth["timeline"]["spans"])
