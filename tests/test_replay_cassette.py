"""Cassettes: the file format, and the round trip store -> cassette -> store, byte for byte."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recorder.api import Recorder
from recorder.demo.server import LoopbackVellum, Scenario
from recorder.demo.workload import body_bytes, build_workload
from recorder.model.cassette import FORMAT, Cassette, CassetteError, Fault, Line, Request, Response, is_cassette
from recorder.replay.export import ExportError, export_cassette
from recorder.stream.ingest import ingest_cassette
from recorder.store import Outcome, Store
from recorder.stream.http import execute_and_record
from recorder.stream.ingest import ingest_path
from tests.test_replay_support import (
    ADVERSARIAL_BODY,
    ADVERSARIAL_REQUEST,
    EXECUTION,
    SAMPLE_NAMES,
    empty,
    ingest_body,
    ingest_samples,
    load_sample,
)

# -- the file ---------------------------------------------------------------------------------------------


def a_cassette(**overrides) -> Cassette:
    response = Response(
        lines=(Line(0, b'{"a":1}'), Line(1500, b""), Line(1500, b"\xff\xfe not utf-8"), Line(9000, "caf\u00e9 \u2028".encode())),
        ends_with_newline=False,
        outcome="cut",
        error="stream cut after 4 lines: reset",
    )
    fields = dict(
        request=Request(body={"workflow_deployment_name": "d", "inputs": []}),
        response=response,
        execution_id="e1",
        recorded_at_us=1_748_854_800_123_456,
        source="https://predict.vellum.ai/v1/execute-workflow-stream",
        fault=Fault(first_byte_delay_s=0.5, cut_after_lines=3),
    )
    fields.update(overrides)
    return Cassette(**fields)


def test_a_cassette_file_reads_back_equal_to_what_was_written() -> None:
    cassette = a_cassette()
    assert Cassette.loads(cassette.dumps()) == cassette


def test_a_cassette_file_has_one_body_line_per_file_line() -> None:
    text = a_cassette().dumps().decode("utf-8")
    assert '      [1500, ""],' in text.splitlines()
    assert '      [1500, {"base64": "//4gbm90IHV0Zi04"}],' in text.splitlines()


def test_raw_line_separators_are_escaped_in_the_file_and_kept_in_the_line() -> None:
    cassette = a_cassette()
    data = cassette.dumps()
    assert "\u2028".encode() not in data and b"\\u2028" in data
    assert Cassette.loads(data).response.lines[3].data == "caf\u00e9 \u2028".encode()


def test_the_body_is_the_lines_joined_with_their_newlines() -> None:
    assert a_cassette().body() == b'{"a":1}\n\n\xff\xfe not utf-8\ncaf\xc3\xa9 \xe2\x80\xa8'


def test_a_cassette_is_recognised_by_its_first_bytes_and_a_bare_body_is_not() -> None:
    assert is_cassette(a_cassette().dumps()[:64])
    assert not is_cassette(b'{"execution_id": "x", "type": "WORKFLOW"}\n')
    assert not is_cassette(b"")


def test_a_cassette_of_a_newer_version_is_refused_with_a_clear_message() -> None:
    document = json.loads(a_cassette().dumps())
    document["version"] = 2
    with pytest.raises(CassetteError, match="version 2 is not readable by this recorder"):
        Cassette.loads(json.dumps(document))


def test_a_line_entry_holding_a_newline_is_refused() -> None:
    document = json.loads(a_cassette().dumps())
    document["response"]["lines"][0] = [0, "two\nlines"]
    with pytest.raises(CassetteError, match=r"lines\[0\] contains a newline"):
        Cassette.loads(json.dumps(document))


def test_a_fault_status_must_be_an_http_error() -> None:
    document = json.loads(a_cassette().dumps())
    document["fault"] = {"status": 200}
    with pytest.raises(CassetteError, match="fault.status"):
        Cassette.loads(json.dumps(document))


def test_the_format_marker_is_the_first_key() -> None:
    assert next(iter(json.loads(a_cassette().dumps()))) == "format"
    assert json.loads(a_cassette().dumps())["format"] == FORMAT


# -- store -> cassette -> store ---------------------------------------------------------------------------


def test_every_sample_round_trips_store_to_cassette_to_store_byte_for_byte(store: Store, samples_dir: Path) -> None:
    truths = ingest_samples(store, samples_dir)
    files = {}
    for name, truth in truths.items():
        cassette = export_cassette(store, truth["execution_id"])
        assert cassette.body() == (samples_dir / f"{name}.ndjson").read_bytes(), name  # what `export --body` writes
        assert hashlib.sha256(cassette.body()).hexdigest() == truth["sha256"], name
        assert cassette.request.body == truth["request"], name
        files[name] = cassette.dumps()
    empty(store)
    for name, truth in truths.items():
        ingest_cassette(store, Cassette.loads(files[name]))
        assert export_cassette(store, truth["execution_id"]).dumps() == files[name], name


def test_the_demo_workload_round_trips_byte_for_byte(store: Store) -> None:
    workload = build_workload(executions=12, seed=11)
    files = {}
    for execution in workload:
        ingest_body(store, body_bytes(execution), execution.request)
        cassette = export_cassette(store, execution.execution_id)
        assert cassette.body() == body_bytes(execution)
        files[execution.execution_id] = cassette.dumps()
    empty(store)
    for execution_id, data in files.items():
        ingest_cassette(store, Cassette.loads(data))
        assert export_cassette(store, execution_id).dumps() == data


def test_a_body_with_junk_blank_crlf_and_broken_lines_round_trips_byte_for_byte(store: Store) -> None:
    ingest_body(store, ADVERSARIAL_BODY, ADVERSARIAL_REQUEST)
    cassette = export_cassette(store, EXECUTION)
    assert cassette.body() == ADVERSARIAL_BODY
    assert not cassette.response.ends_with_newline
    ingest_cassette(empty(store), cassette)
    assert export_cassette(store, EXECUTION).dumps() == cassette.dumps()
    assert len(store.rejects()) == 3


def test_ingest_reads_a_cassette_file_with_its_request_and_arrival_times(store: Store, samples_dir: Path, tmp_path: Path) -> None:
    truth, _ = load_sample(samples_dir, "exec_0003")
    ingest_path(store, str(samples_dir / "exec_0003.ndjson"), request=truth["request"])
    cassette = export_cassette(store, truth["execution_id"])
    path = tmp_path / "exec_0003.cassette.json"
    path.write_bytes(cassette.dumps())
    result = Recorder(store=empty(store)).ingest(str(path))
    assert result.events_stored == truth["event_count"]
    recorded = [e.received_at_us for e in store.events(truth["execution_id"])]
    assert recorded == [cassette.recorded_at_us + line.at_us for line in cassette.response.lines]
    stored = store.execution(truth["execution_id"])
    assert (stored.workflow_deployment_name, stored.release_tag) == (truth["request"].get("workflow_deployment_name"), truth["request"].get("release_tag"))


def test_a_cut_stream_exports_a_cut_fault_and_keeps_it_through_the_round_trip(store: Store, samples_dir: Path) -> None:
    truth, body = load_sample(samples_dir, "exec_0004")
    lines = body.split(b"\n")[:-1]
    with LoopbackVellum() as server:
        server.expect(truth["request"], Scenario(lines=lines, cut_after=7))
        execute_and_record(store, truth["request"], api_key="k", base_url=server.base_url)
    cassette = export_cassette(store, truth["execution_id"])
    assert cassette.response.outcome == Outcome.CUT
    assert cassette.fault == Fault(cut_after_lines=7)
    assert cassette.body() == b"".join(line + b"\n" for line in lines[:7])
    assert [line.at_us for line in cassette.response.lines] == sorted(line.at_us for line in cassette.response.lines)
    ingest_cassette(empty(store), cassette)
    assert export_cassette(store, truth["execution_id"]).dumps() == cassette.dumps()


def test_a_stream_that_ended_cleanly_before_its_terminal_event_exports_no_fault(store: Store, samples_dir: Path) -> None:
    truth, body = load_sample(samples_dir, "exec_0004")
    partial = b"".join(line + b"\n" for line in body.split(b"\n")[:5])
    ingest_body(store, partial, truth["request"])
    cassette = export_cassette(store, truth["execution_id"])
    assert (cassette.response.outcome, cassette.fault) == (Outcome.CUT, None)


def test_a_stream_recorded_again_after_a_cut_copy_exports_the_full_body(store: Store, samples_dir: Path) -> None:
    truth, body = load_sample(samples_dir, "exec_0004")
    ingest_body(store, b"".join(line + b"\n" for line in body.split(b"\n")[:5]), truth["request"])
    ingest_body(store, body, truth["request"])
    assert export_cassette(store, truth["execution_id"]).body() == body


def test_an_empty_line_where_an_earlier_copy_had_an_event_stays_empty(store: Store) -> None:
    initiated = '{"execution_id":"e-gap","type":"WORKFLOW","data":{"id":"1","state":"INITIATED","ts":"2025-06-02T09:00:00Z"}}'
    fulfilled = '{"execution_id":"e-gap","type":"WORKFLOW","data":{"id":"2","state":"FULFILLED","ts":"2025-06-02T09:00:01Z"}}'
    ingest_body(store, f"{initiated}\n{fulfilled}\n".encode(), None)
    framed = f"{initiated}\n\n{fulfilled}\n".encode()
    ingest_body(store, framed, None)
    assert export_cassette(store, "e-gap").body() == framed


def test_an_http_error_cassette_ingests_as_an_http_error_recording(store: Store) -> None:
    cassette = Cassette(
        request=Request(body={"workflow_deployment_name": "d", "inputs": []}),
        response=Response(status=400, headers={"content-type": "application/json"}, lines=(Line(0, b'{"detail":"bad inputs"}'),),
                          ends_with_newline=False, outcome="http_error"),
    )
    result = ingest_cassette(store, cassette)
    assert (result.outcome, result.events_stored, result.rejects) == (Outcome.HTTP_ERROR, 0, 0)
    [recording] = [r for r in _recordings(store) if r.id == result.recording_id]
    assert recording.http_status == 400 and "bad inputs" in recording.error


def test_exporting_an_unknown_execution_fails_clearly(store: Store) -> None:
    with pytest.raises(ExportError, match="no recorded execution has the id 'nope'"):
        export_cassette(store, "nope")


_LINE = st.one_of(
    st.binary(max_size=40).filter(lambda b: b"\n" not in b),
    st.sampled_from([b"", b" ", b"\t\r", b"\r", b"{}", b"[1]", b'{"execution_id": 5}', "\u2028\x85".encode()]),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.lists(_LINE, max_size=6), after=st.lists(_LINE, max_size=6), newline_at_end=st.booleans())
def test_any_body_around_an_event_exports_byte_for_byte(store_url: str, before, after, newline_at_end: bool) -> None:
    execution_id = str(uuid.uuid4())  # a fresh execution per example: one store serves them all
    event = json.dumps({"execution_id": execution_id, "type": "WORKFLOW", "data": {"state": "INITIATED", "ts": "2025-06-02T09:00:00Z"}})
    body = b"\n".join([*before, event.encode(), *after]) + (b"\n" if newline_at_end else b"")
    with Store(store_url) as store:
        ingest_body(store, body, None)
        assert export_cassette(store, execution_id).body() == body


def _recordings(store: Store):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from recorder.store import Recording

    with Session(store.engine) as session:
        return session.scalars(select(Recording)).all()


def test_sample_names_cover_the_shared_samples(samples_dir: Path) -> None:
    assert sorted(path.name.removesuffix(".ndjson") for path in samples_dir.glob("exec_*.ndjson")) == SAMPLE_NAMES
