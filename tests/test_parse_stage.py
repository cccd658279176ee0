"""The parse stage (recorder.stream.parse_stage) on both engines: a body parsed in its own process
stores exactly what one parsed in the writer's thread stores, and a failure on either side stops
both and keeps what was committed.

Every test runs the real process (`python -m recorder.stream.parse_worker`) over real pipes. A
body is forced through it by starting the stage at once (`stage_after_bytes=0`) and holding the
body back until the process is up, so the handover happens mid-body every time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from recorder.demo.workload import body_bytes, iter_workload
from recorder.model.secrets import SecretScrubber
from recorder.store import FlushPolicy, Outcome, Recording, Store
from recorder.store.body_blocks import BodyBlocks
from recorder.store.schema import Event, Execution, Reject
from recorder.store.prepare import PreparerState
from recorder.stream import parse_stage as parse_stage_module
from recorder.stream.ingest import ingest_chunks
from recorder.stream.parse_stage import ParseStage, ParseStageFailed, record_in_stage
from recorder.stream.sink import StreamSink
from tests.test_span_upkeep import assert_spans_match_timelines, awkward_streams, builder_lines, stored_rows

CHUNK = 16 * 1024
SECRET = "sk-live-0123456789abcdef"
# Lines the parser rejects or skips, wherever they fall: each must come out the same either way.
HOSTILE = [
    b"not json at all",
    b'{"execution_id": "x", "type": "NODE", "data": {"state": "INITIATED"}, "trail": "\xff\xfe"}',
    b"   \t  ",
    b'{"execution_id": "nul", "type": "WORKFLOW", "data": {"state": "INITIATED\\u0000"}}',
    b"",
    b"[1, 2, 3]",
]


@pytest.fixture
def other_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A second empty store on the same engine, to record the same body the other way."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'other.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    with Store(url) as store:
        yield store


@pytest.fixture
def stages(monkeypatch: pytest.MonkeyPatch) -> list[ParseStage]:
    """The parse stages bulk ingest starts (the real class, remembered as they are made)."""
    started: list[ParseStage] = []

    class RememberedStage(ParseStage):
        def __init__(self) -> None:
            super().__init__()
            started.append(self)

    monkeypatch.setattr(parse_stage_module, "ParseStage", RememberedStage)
    return started


def mixed_body(samples_dir: Path) -> bytes:
    """Both stream shapes (the v2 samples tell the same executions: each appears once, in one
    shape), the awkward span cases and hostile lines, in one body without a final newline."""
    parts = []
    for index in range(30):
        folder = samples_dir if index % 2 else samples_dir.parent / "sdk_samples"
        parts.append((folder / f"exec_{index:04d}.ndjson").read_bytes())
        parts.append(b"\n".join(HOSTILE[index % len(HOSTILE):]) + b"\n")
    for stream in awkward_streams()[1:]:  # the first has ts-less runs: their times are arrival times
        parts.append(b"\n".join(builder_lines(stream)) + b"\n")
    parts.append(f'{{"execution_id": "secret", "type": "WORKFLOW", "data": {{"note": "{SECRET}"}}}}\n'.encode())
    return b"".join(parts) + b'{"execution_id": "cut", "type": "WOR'


def chunks_after_handover(body: bytes, stages: list[ParseStage], *, then: Iterator[None] | None = None) -> Iterator[bytes]:
    """`body` in chunks; after the first, wait until the stage is up, so the rest goes through it."""
    yield body[:CHUNK]
    deadline = time.monotonic() + 60
    while not (stages and stages[0].ready):
        assert time.monotonic() < deadline, "the parse process did not start within a minute"
        time.sleep(0.01)
    for start in range(CHUNK, len(body), CHUNK):
        yield body[start : start + CHUNK]
        if then is not None and start > len(body) // 2:
            next(then, None)


def stored(store: Store) -> dict[str, list[tuple]]:
    """What a recording stored, without what depends on when it ran (arrival times, row ids)."""
    with store.engine.connect() as connection:
        events = connection.execute(
            select(Event.execution_id, Event.seq, Event.position, Event.type, Event.state, Event.ts_us, Event.event_id,
                   Event.node_id, Event.node_result_id, Event.node_type, Event.source_execution_id, Event.flags, Event.raw)
            .order_by(Event.position)
        ).all()
        rejects = connection.execute(
            select(Reject.position, Reject.reason, Reject.raw, Reject.raw_bytes, Reject.line_key).order_by(Reject.position)
        ).all()
        executions = connection.execute(
            select(Execution.execution_id, Execution.status, Execution.started_at_us, Execution.ended_at_us,
                   Execution.event_count, Execution.error_code, Execution.outputs, Execution.span_count,
                   Execution.prompt_input_tokens, Execution.prompt_output_tokens, Execution.workflow_deployment_name,
                   Execution.previous_execution_id, Execution.root_execution_id)
            .order_by(Execution.execution_id)
        ).all()
        recordings = connection.execute(
            select(Recording.outcome, Recording.line_count, Recording.event_count, Recording.duplicate_count,
                   Recording.reject_count, Recording.body_sha256, Recording.blank_lines, Recording.ends_with_newline,
                   Recording.error)
            .order_by(Recording.id)
        ).all()
    return {"events": events, "rejects": rejects, "executions": executions, "recordings": recordings}


def execution_ids(store: Store) -> list[str]:
    return [execution.execution_id for execution in store.executions()]


def test_a_body_parsed_in_the_stage_stores_what_one_parsed_here_stores(
    store: Store, other_store: Store, samples_dir: Path, stages: list[ParseStage]
) -> None:
    body = mixed_body(samples_dir)
    here = ingest_chunks(other_store, [body[start : start + CHUNK] for start in range(0, len(body), CHUNK)],
                         source="body", stage_after_bytes=None)
    staged = ingest_chunks(store, chunks_after_handover(body, stages), source="body", stage_after_bytes=0)
    assert len(stages) == 1 and stages[0].begun
    assert (staged.lines, staged.events_stored, staged.rejects, staged.outcome) == (here.lines, here.events_stored, here.rejects, here.outcome)
    assert staged.execution_ids == here.execution_ids
    assert stored(store) == stored(other_store)
    assert stored(store)["rejects"]  # the hostile lines were there to be kept
    assert_spans_match_timelines(store, execution_ids(store))


def test_a_writer_far_behind_holds_the_process_back_and_stores_the_same(
    store: Store, other_store: Store, samples_dir: Path, stages: list[ParseStage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for one batch only, the receiver waits for the writer before queuing the next
    (and the process, then the reader, wait behind it): nothing is lost or reordered."""
    monkeypatch.setattr(parse_stage_module, "MAX_WAITING_BYTES", 1)
    body = mixed_body(samples_dir)
    here = ingest_chunks(other_store, [body[start : start + CHUNK] for start in range(0, len(body), CHUNK)],
                         source="body", stage_after_bytes=None)
    staged = ingest_chunks(store, chunks_after_handover(body, stages), source="body", stage_after_bytes=0)
    assert len(stages) == 1 and stages[0].begun
    assert (staged.lines, staged.events_stored, staged.rejects) == (here.lines, here.events_stored, here.rejects)
    assert stored(store) == stored(other_store)


def test_the_same_body_through_the_stage_again_adds_nothing(store: Store, samples_dir: Path, stages: list[ParseStage]) -> None:
    body = mixed_body(samples_dir)
    first = ingest_chunks(store, chunks_after_handover(body, stages), source="first", stage_after_bytes=0)
    before = stored(store)
    spans_before = stored_rows(store, execution_ids(store))
    stages.clear()
    again = ingest_chunks(store, chunks_after_handover(body, stages), source="again", stage_after_bytes=0)
    assert stages[0].begun
    assert again.already_recorded_as == first.recording_id
    assert (again.events_stored, again.duplicates) == (0, first.events_stored)
    assert stored(store) == before
    assert stored_rows(store, execution_ids(store)) == spans_before


def test_a_cut_copy_then_the_full_body_through_the_stage_keep_the_timelines_spans(
    store: Store, samples_dir: Path, stages: list[ParseStage]
) -> None:
    """The second body's drafts do not fit what the first stored: the store folds those executions itself."""
    body = mixed_body(samples_dir)
    ingest_chunks(store, [body[: len(body) // 2]], source="cut", stage_after_bytes=None)
    full = ingest_chunks(store, chunks_after_handover(body, stages), source="full", stage_after_bytes=0)
    assert stages[0].begun and full.duplicates > 0 and full.events_stored > 0
    assert_spans_match_timelines(store, execution_ids(store))


def test_a_parse_process_killed_mid_body_fails_the_ingest_and_keeps_what_was_committed(
    store: Store, samples_dir: Path, stages: list[ParseStage]
) -> None:
    def kill() -> Iterator[None]:
        wait_for(lambda: stored_events(store), "a first commit")
        os.kill(stages[0].pid, signal.SIGKILL)
        yield

    body = mixed_body(samples_dir)
    with pytest.raises(ParseStageFailed, match="the parse process was killed \\(SIGKILL\\) before the body ended"):
        ingest_chunks(store, chunks_after_handover(body, stages, then=kill()), source="killed",
                      policy=FlushPolicy(max_events=200, max_delay_s=None), stage_after_bytes=0)
    assert stages[0].exit_code is not None  # reaped, not left behind
    with store.engine.connect() as connection:
        outcome, events = connection.execute(select(Recording.outcome, Recording.event_count)).one()
    assert outcome == Outcome.IN_PROGRESS and events > 0
    assert_spans_match_timelines(store, execution_ids(store))


def test_a_body_that_fails_to_read_mid_way_stops_the_stage_and_says_why(
    store: Store, samples_dir: Path, stages: list[ParseStage]
) -> None:
    def fail() -> Iterator[None]:
        raise OSError("the disk went away")
        yield

    body = mixed_body(samples_dir)
    with pytest.raises(OSError, match="the disk went away"):
        ingest_chunks(store, chunks_after_handover(body, stages, then=fail()), source="unreadable",
                      policy=FlushPolicy(max_events=200, max_delay_s=None), stage_after_bytes=0)
    assert stages[0].exit_code is not None


def test_a_writer_failure_stops_the_parse_process(store: Store, samples_dir: Path) -> None:
    commits = []

    def on_commit(received: list[int]) -> None:
        commits.append(len(received))
        if len(commits) == 3:
            raise RuntimeError("the database is full")

    writer = store.writer(source="failing", policy=FlushPolicy(max_events=100, max_delay_s=None), on_commit=on_commit)
    stage = ParseStage()
    assert stage.wait_ready(60)
    body = mixed_body(samples_dir)
    with pytest.raises(RuntimeError, match="the database is full"):
        record_in_stage(writer, iter([body[start : start + CHUNK] for start in range(0, len(body), CHUNK)]), stage)
    assert stage.exit_code is not None
    assert len(commits) == 3
    assert_spans_match_timelines(store, execution_ids(store))


def test_where_no_parse_process_can_start_the_body_is_parsed_here(
    store: Store, other_store: Store, samples_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse() -> None:
        raise PermissionError("process creation is not allowed here")

    monkeypatch.setattr(parse_stage_module, "ParseStage", refuse)
    monkeypatch.setattr(parse_stage_module, "_cannot_start", False)
    body = mixed_body(samples_dir)
    chunks = [body[start : start + CHUNK] for start in range(0, len(body), CHUNK)]
    here = ingest_chunks(other_store, chunks, source="body", stage_after_bytes=None)
    with caplog.at_level("WARNING", logger="recorder"):
        fallback = ingest_chunks(store, chunks, source="body", stage_after_bytes=0)
    assert "cannot start a parse process (process creation is not allowed here)" in caplog.text
    assert (fallback.events_stored, fallback.rejects) == (here.events_stored, here.rejects)
    assert stored(store) == stored(other_store)


@pytest.mark.parametrize("setting", ["0", "off", "False", " no "])
def test_the_environment_can_keep_parsing_in_the_recording_process(
    store: Store, other_store: Store, samples_dir: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    """RECORDER_PARSE_PROCESS=off: an application that must not spawn processes never gets one."""
    def spawned() -> None:
        raise AssertionError("a parse process was started")

    monkeypatch.setattr(parse_stage_module, "ParseStage", spawned)
    monkeypatch.setattr(parse_stage_module, "_cannot_start", False)
    monkeypatch.setenv(parse_stage_module.PARSE_PROCESS_ENV, setting)
    body = mixed_body(samples_dir)
    chunks = [body[start : start + CHUNK] for start in range(0, len(body), CHUNK)]
    here = ingest_chunks(other_store, chunks, source="body", stage_after_bytes=None)
    kept_here = ingest_chunks(store, chunks, source="body", stage_after_bytes=0)
    assert (kept_here.events_stored, kept_here.rejects) == (here.events_stored, here.rejects)
    assert stored(store) == stored(other_store)


def test_a_failure_inside_the_parse_process_comes_back_with_its_traceback() -> None:
    stage = ParseStage()
    try:
        stage.begin("not a preparer state")  # type: ignore[arg-type]
        with pytest.raises(ParseStageFailed, match="the parse process failed:(.|\n)*AttributeError"):
            stage.next_batch(60)
    finally:
        stage.close()


def test_a_stage_begun_from_a_state_continues_its_numbering() -> None:
    """What the writer hands over is where the process starts: positions and seqs go on."""
    stage = ParseStage()
    try:
        state = PreparerState(recording_id=7, next_position=10, next_seq={"e": 3})
        stage.begin(state)
        blocks = BodyBlocks()
        stage.submit(blocks.cut(b'{"execution_id": "e", "type": "WORKFLOW", "data": {"state": "FULFILLED", "ts": "2025-01-01T00:00:00Z"}}\n', 5))
        stage.end()
        batch = stage.next_batch(60)
        assert stage.next_batch(60) is None
    finally:
        stage.close()
    (row,) = batch.event_rows
    assert (row[0], row[1], row[2], row[3]) == ("e", 10, 3, 7)
    assert batch.lines == 11


def test_a_live_stream_that_falls_behind_is_parsed_in_the_stage(store: Store, other_store: Store, samples_dir: Path) -> None:
    """The sink hands a backlog to the stage; the store ends up as it would without (secrets scrubbed too)."""
    body = mixed_body(samples_dir)
    chunks = [body[start : start + 512] for start in range(0, len(body), 512)]
    results = []
    for target, backlog in ((other_store, None), (store, 1)):
        sink = StreamSink(target, source="live", request=None, secrets=SecretScrubber([SECRET]), stage_backlog_lines=backlog)
        for index, chunk in enumerate(chunks):
            sink.feed(chunk)
            if backlog is not None and index == len(chunks) // 3:
                deadline = time.monotonic() + 60
                while not sink.staged:  # keep the stream going until the writer has handed over
                    assert time.monotonic() < deadline, "the live stream was never handed to the stage"
                    time.sleep(0.02)
        results.append(sink.close(Outcome.COMPLETE))
        assert sink.staged == (backlog is not None)
    here, staged = results
    assert (staged.lines, staged.events_stored, staged.rejects) == (here.lines, here.events_stored, here.rejects)
    assert stored(store) == stored(other_store)
    assert SECRET.encode() not in b"".join(event.raw.encode() for event in store.events("secret"))
    assert_spans_match_timelines(store, execution_ids(store))


def test_a_recording_killed_while_staged_leaves_a_consistent_store_and_no_parse_process(store_url: str) -> None:
    """`recorder ingest -` on a stream that falls behind, killed (SIGKILL) once the parse process
    runs: the process it started goes too, and what was committed is whole."""
    body = b"".join(body_bytes(execution) for execution in iter_workload(executions=300, seed=3))
    process = subprocess.Popen([sys.executable, "-m", "recorder.cli", "--db", store_url, "ingest", "-"],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.stdin.write(body[: len(body) // 2])
        process.stdin.flush()
        parse_process = wait_for(lambda: children_of(process.pid), "the parse process to start")[0]
        wait_for(lambda: count_events(store_url), "a first commit")
    finally:
        process.kill()
        process.wait(30)
    wait_for(lambda: not running(parse_process), "the parse process to end with its parent")
    with Store(store_url) as store:
        (recording,) = [row for row in stored(store)["recordings"]]
        assert recording.outcome == Outcome.IN_PROGRESS
        ids = execution_ids(store)
        for execution_id in ids:  # each execution's stored events are a prefix of its stream
            assert [event.seq for event in store.events(execution_id)] == list(range(len(store.events(execution_id))))
        assert_spans_match_timelines(store, ids)


def wait_for(check, what: str, within_s: float = 60.0):  # noqa: ANN001, ANN201 - a test helper
    deadline = time.monotonic() + within_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"waited {within_s:.0f} s for {what}"
        time.sleep(0.05)
    return result


def children_of(pid: int) -> list[int]:
    """The process's children, whichever of its threads started them."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return children


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def count_events(store_url: str) -> int:
    with Store(store_url) as store:
        return stored_events(store)


def stored_events(store: Store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Event)).scalar_one()


def test_blank_lines_at_the_end_of_a_body_are_counted_either_way(store: Store, other_store: Store) -> None:
    body = b'{"execution_id": "a", "type": "WORKFLOW", "data": {"state": "INITIATED", "ts": "2025-01-01T00:00:00Z"}}\n\n  \n'
    results = [ingest_chunks(target, [body], source="blank", stage_after_bytes=after) for target, after in ((store, None), (other_store, 0))]
    assert [result.lines for result in results] == [3, 3]
    assert stored(store)["recordings"] == stored(other_store)["recordings"]
    assert stored(store)["recordings"][0].blank_lines == [[2, "  "]]
