"""Retention (`recorder prune`, `Recorder.prune`): whole executions older than a cut-off leave the
store in short batches, with everything that belongs to them and nothing else; lineage stays
consistent, fleet snapshots rebuild, and a live recording is never touched. Both backends.

The 30 samples run from 2025-06-02T09:00 to 09:20. The cut-off used most is sample 14's start:
samples 0-13 are older. It splits the chain 11 -> 13 -> 14 (14 survives, its parent 13 does not)
and the chain 4 -> 15 -> 20 (15 and 20 survive, their root 4 does not).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from recorder.api import PruneReport, Recorder
from recorder.cli.main import cli
from recorder.model.lines import RawLine
from recorder.model.vocabulary import Outcome
from recorder.store import FlushPolicy, Store
from tests.test_analytics_lineage import insert_chain
from tests.test_samples import SAMPLE_NAMES, ingest_all_samples, load_truth

TABLES = ("executions", "events", "node_spans", "recordings", "rejects", "status_checks", "actuals")
COUNTED = ("executions", "events", "spans", "recordings", "rejects", "status_checks", "actuals", "repointed")


# -- the store under test ------------------------------------------------------------------------


def manifest(samples_dir: Path) -> list[dict[str, Any]]:
    return json.loads((samples_dir / "manifest.json").read_text())["executions"]


def sample_id(samples_dir: Path, index: int) -> str:
    return manifest(samples_dir)[index]["execution_id"]


@pytest.fixture
def recorder(store: Store, samples_dir: Path) -> Recorder:
    """The 30 samples recorded on the backend under test."""
    ingest_all_samples(store, samples_dir)
    return Recorder(store=store)


@pytest.fixture
def cutoff_us(recorder: Recorder, samples_dir: Path) -> int:
    """Sample 14's start: samples 0-13 are older."""
    return recorder.store.execution(sample_id(samples_dir, 14)).started_at_us


def table_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


def execution_rows(store: Store) -> dict[str, dict[str, Any]]:
    """Every execution row but its change stamp (which says when, not what)."""
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM executions")).mappings().all()
    return {row["execution_id"]: {key: value for key, value in row.items() if key != "change_seq"} for row in rows}


def store_contents(store: Store) -> dict[str, Any]:
    """Everything a prune may change, in a form two stores (or two runs) can be compared by."""
    with store.engine.connect() as connection:
        events = connection.execute(text("SELECT execution_id, seq, recording_id, raw FROM events ORDER BY execution_id, seq")).all()
        spans = connection.execute(text("SELECT execution_id, node_result_id, start_us, end_us FROM node_spans ORDER BY 1, 2")).all()
        recordings = connection.execute(text("SELECT id, event_count, outcome FROM recordings ORDER BY id")).all()
        rejects = connection.execute(text("SELECT recording_id, position, raw FROM rejects ORDER BY 1, 2")).all()
        checks = connection.execute(text("SELECT execution_id, status FROM status_checks ORDER BY 1")).all()
        actuals = connection.execute(text("SELECT execution_id, output_key FROM actuals ORDER BY 1")).all()
    return {
        "executions": execution_rows(store), "events": [tuple(row) for row in events], "spans": [tuple(row) for row in spans],
        "recordings": [tuple(row) for row in recordings], "rejects": [tuple(row) for row in rejects],
        "status_checks": [tuple(row) for row in checks], "actuals": [tuple(row) for row in actuals],
    }


def counts_of(report: PruneReport) -> dict[str, int]:
    return {name: getattr(report, name) for name in COUNTED}


def add_facts(store: Store, execution_id: str) -> None:
    """A status check and an actual for the execution, as reconcile and `recorder actuals` store them."""
    store.add_status_check(execution_id=execution_id, source="https://vellum.test/status", http_status=200, status="FULFILLED")
    store.add_actual(execution_id=execution_id, output_key="answer", output_type="STRING", quality=1.0, value="ok", source="test")


def record_http_error(store: Store, started_at_us: int) -> int:
    """A recording of an exchange that failed before any event: it never holds an execution."""
    writer = store.writer(source="test http error", request={"workflow_deployment_name": "support-agent-v2", "inputs": []})
    writer.finish(Outcome.HTTP_ERROR, http_status=500, error="internal error", started_at_us=started_at_us, ended_at_us=started_at_us + 1)
    return writer.recording_id


def ingest_again_with_junk(recorder: Recorder, samples_dir: Path, index: int, tmp_path: Path) -> int:
    """The sample's body ingested again with a junk line at its end: every event is a duplicate
    (the new recording refers to them, stores none) and the junk line is its reject."""
    path = tmp_path / f"again_{index}.ndjson"
    path.write_bytes((samples_dir / f"{SAMPLE_NAMES[index]}.ndjson").read_bytes() + b"this is not an event\n")
    result = recorder.ingest(str(path))
    assert (result.events_stored, result.rejects) == (0, 1)
    return result.recording_id


# -- what goes and what stays ----------------------------------------------------------------------


def test_a_prune_removes_exactly_the_old_executions_and_what_belongs_to_them(
    recorder: Recorder, store: Store, samples_dir: Path, cutoff_us: int, tmp_path: Path
) -> None:
    items = manifest(samples_dir)
    old, young = items[:14], items[14:]
    spans = {item["execution_id"]: store.execution(item["execution_id"]).span_count for item in items}
    add_facts(store, old[0]["execution_id"])
    add_facts(store, young[0]["execution_id"])
    failed_exchange = record_http_error(store, started_at_us=cutoff_us - 1)
    old_again = ingest_again_with_junk(recorder, samples_dir, 3, tmp_path)
    young_again = ingest_again_with_junk(recorder, samples_dir, 20, tmp_path)

    report = recorder.prune(older_than=cutoff_us)

    assert counts_of(report) == {
        "executions": 14,
        "events": sum(item["events"] for item in old),
        "spans": sum(spans[item["execution_id"]] for item in old),
        "recordings": 14 + 2,  # the samples' own, the failed exchange, and the body that referred to sample 3 only
        "rejects": 1,
        "status_checks": 1,
        "actuals": 1,
        "repointed": 3,  # 14 (parent 13 pruned), 15 (parent 4 pruned) and 20 below it
    }
    assert table_counts(store) == {
        "executions": 16,
        "events": sum(item["events"] for item in young),
        "node_spans": sum(spans[item["execution_id"]] for item in young),
        "recordings": 16 + 1,
        "rejects": 1,
        "status_checks": 1,
        "actuals": 1,
    }
    assert set(execution_rows(store)) == {item["execution_id"] for item in young}
    assert store.recording(failed_exchange) is None and store.recording(old_again) is None
    assert [reject.raw for reject in store.rejects([young_again])] == ["this is not an event"]
    # Every stored event still has its recording, and every recording count says what it holds.
    with store.engine.connect() as connection:
        assert connection.execute(text(
            "SELECT count(*) FROM events WHERE recording_id NOT IN (SELECT id FROM recordings)")).scalar_one() == 0
        held = dict(connection.execute(text("SELECT recording_id, count(*) FROM events GROUP BY recording_id")).all())
        stored = dict(connection.execute(text("SELECT id, event_count FROM recordings")).all())
    assert {rid: count for rid, count in stored.items() if count} == held


def test_a_survivor_whose_parent_was_pruned_roots_its_subtree_and_lineage_reports_the_parent_missing(
    recorder: Recorder, store: Store, samples_dir: Path, cutoff_us: int
) -> None:
    ids = {index: sample_id(samples_dir, index) for index in (4, 13, 14, 15, 20, 25, 27)}
    before = store.execution(ids[25]).change_seq
    recorder.prune(older_than=cutoff_us)

    assert store.execution(ids[14]).root_execution_id == ids[14]
    assert store.execution(ids[14]).previous_execution_id == ids[13]  # as recorded
    assert (store.execution(ids[15]).root_execution_id, store.execution(ids[20]).root_execution_id) == (ids[15], ids[15])
    lineage = recorder.lineage(ids[20])
    assert (lineage.ancestors, lineage.missing, lineage.root_execution_id) == ((ids[15],), (ids[4],), ids[15])
    assert recorder.lineage(ids[14]).missing == (ids[13],)
    # A chain wholly younger than the cut-off is not touched, its change stamp included.
    assert store.execution(ids[27]).root_execution_id == ids[25]
    assert store.execution(ids[25]).change_seq == before
    # Re-pointed rows carry a new change stamp, so an incremental reader sees them.
    assert store.execution(ids[14]).change_seq > before


def test_timeline_and_audit_of_survivors_are_unchanged(recorder: Recorder, samples_dir: Path, cutoff_us: int) -> None:
    survivors = [item["execution_id"] for item in manifest(samples_dir)[14:]]
    before = {execution_id: (recorder.timeline(execution_id).to_dict(), recorder.audit(execution_id)) for execution_id in survivors}
    recorder.prune(older_than=cutoff_us)
    after = {execution_id: (recorder.timeline(execution_id).to_dict(), recorder.audit(execution_id)) for execution_id in survivors}
    for execution_id in survivors:
        timeline_before, audit_before = before[execution_id]
        timeline_after, audit_after = after[execution_id]
        assert timeline_after == timeline_before
        # The audit shows the execution row too; only its root (and change stamp) may move.
        for audit in (audit_before, audit_after):
            audit.pop("root_execution_id")
        assert audit_after == audit_before


def test_a_warm_fleet_snapshot_from_before_the_prune_rebuilds_without_the_pruned(
    recorder: Recorder, store: Store, samples_dir: Path, cutoff_us: int
) -> None:
    survivors = {item["execution_id"] for item in manifest(samples_dir)[14:]}
    assert recorder.sql("SELECT count(*) AS n FROM executions")["n"].item() == 30  # warm: held in memory and on disk
    identity = store.change_state()

    recorder.prune(older_than=cutoff_us)

    assert store.change_state().store_id != identity.store_id
    assert store.change_state().change_seq > identity.change_seq  # the cursor moves on, never back
    assert recorder.analytics.refresh().mode == "full"
    assert set(recorder.sql("SELECT execution_id FROM executions")["execution_id"].to_list()) == survivors
    assert set(recorder.sql("SELECT DISTINCT execution_id FROM node_spans")["execution_id"].to_list()) <= survivors
    workflow = recorder.latency(by="deployment", metric="duration")
    assert workflow["count"].sum() == len(survivors)
    # Another process starting from the snapshot on disk sees the same.
    with Recorder(store.url) as fresh:
        assert set(fresh.sql("SELECT execution_id FROM executions")["execution_id"].to_list()) == survivors


def test_a_chain_a_thousand_deep_is_re_rooted_set_wise(store: Store) -> None:
    """The oldest half of a 1,000-long chain goes, in batches of 100: the survivors' root is the
    oldest survivor, whatever batch cut their chain."""
    chain = insert_chain(store, 1000)  # started_at_us: 1 s apart, oldest first
    report = Recorder(store=store).prune(older_than=500 * 1_000_000, batch_size=100)
    assert (report.executions, report.batches, report.repointed) == (500, 5, 500)
    rows = execution_rows(store)
    assert set(rows) == set(chain[500:])
    assert {row["root_execution_id"] for row in rows.values()} == {chain[500]}
    assert Recorder(store=store).lineage(chain[999]).missing == (chain[499],)


def test_progress_is_reported_after_each_batch(recorder: Recorder, cutoff_us: int) -> None:
    seen: list[tuple[int, int]] = []
    recorder.prune(older_than=cutoff_us, batch_size=5, on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 14), (5, 14), (10, 14), (14, 14)]


# -- the options ------------------------------------------------------------------------------------


def test_deployment_narrows_the_prune_by_name_or_id(recorder: Recorder, store: Store, cutoff_us: int) -> None:
    rows = execution_rows(store)
    by_name = {eid for eid, row in rows.items() if row["workflow_deployment_name"] == "support-agent-v2" and row["started_at_us"] < cutoff_us}
    report = recorder.prune(older_than=cutoff_us, deployment="support-agent-v2")
    assert report.executions == len(by_name) > 0
    assert set(execution_rows(store)) == set(rows) - by_name

    unnamed = next(row for row in execution_rows(store).values() if row["workflow_deployment_name"] is None and row["started_at_us"] < cutoff_us)
    deployment_id = unnamed["workflow_deployment_id"]
    by_id = {eid for eid, row in execution_rows(store).items() if row["workflow_deployment_id"] == deployment_id and row["started_at_us"] < cutoff_us}
    assert recorder.prune(older_than=cutoff_us, deployment=deployment_id).executions == len(by_id) >= 1
    assert not by_id & set(execution_rows(store))


def test_keep_failed_keeps_rejected_executions_and_a_pruned_middle_of_a_chain_splits_it(
    recorder: Recorder, store: Store, samples_dir: Path, cutoff_us: int
) -> None:
    rows = execution_rows(store)
    old = {eid for eid, row in rows.items() if row["started_at_us"] < cutoff_us}
    failed = {eid for eid in old if rows[eid]["status"] == "REJECTED"}
    report = recorder.prune(older_than=cutoff_us, keep_failed=True)
    assert report.executions == len(old - failed) == 9
    assert set(execution_rows(store)) == set(rows) - (old - failed)
    # 11 (REJECTED, kept) -> 13 (pruned) -> 14: 14 now roots itself, though its old root 11 is still stored.
    first, middle, last = (sample_id(samples_dir, index) for index in (11, 13, 14))
    assert store.execution(first) is not None and store.execution(middle) is None
    assert store.execution(last).root_execution_id == last
    assert recorder.lineage(last).missing == (middle,)


def test_a_dry_run_counts_what_a_prune_removes_and_changes_nothing(recorder: Recorder, store: Store, samples_dir: Path, cutoff_us: int, tmp_path: Path) -> None:
    add_facts(store, sample_id(samples_dir, 2))
    record_http_error(store, started_at_us=cutoff_us - 1)
    ingest_again_with_junk(recorder, samples_dir, 5, tmp_path)
    before, state = store_contents(store), store.change_state()

    dry = recorder.prune(older_than=cutoff_us, dry_run=True)

    assert store_contents(store) == before and store.change_state() == state
    assert dry.dry_run and dry.batches == 0
    real = recorder.prune(older_than=cutoff_us, batch_size=4)
    assert counts_of(dry) == counts_of(real)
    assert real.executions == 14 and real.batches == 4 + 1  # 14 executions by 4, then one sweep of recordings


def test_batch_size_one_leaves_the_same_store_as_one_batch(recorder: Recorder, store: Store, samples_dir: Path, cutoff_us: int) -> None:
    one_by_one = recorder.prune(older_than=cutoff_us, batch_size=1)
    after_one_by_one = store_contents(store)
    store.wipe()
    ingest_all_samples(store, samples_dir)
    all_at_once = recorder.prune(older_than=cutoff_us, batch_size=10_000)
    assert store_contents(store) == after_one_by_one
    assert counts_of(one_by_one) == counts_of(all_at_once)
    assert (one_by_one.batches, all_at_once.batches) == (14, 1)


def test_pruning_again_is_a_no_op(recorder: Recorder, store: Store, cutoff_us: int) -> None:
    recorder.prune(older_than=cutoff_us)
    contents, state = store_contents(store), store.change_state()
    again = recorder.prune(older_than=cutoff_us)
    assert counts_of(again) == dict.fromkeys(COUNTED, 0) and again.batches == 0
    assert store_contents(store) == contents
    assert store.change_state() == state  # nothing deleted: snapshots stay valid


def test_vacuum_gives_the_space_back(recorder: Recorder, store: Store, backend: str) -> None:
    if backend == "sqlite":
        with store.engine.connect() as connection:
            pages_before = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    report = recorder.prune(older_than="2025-06-02T09:19:00Z", vacuum=True)
    assert report.vacuumed and report.executions == 29
    if backend == "sqlite":
        with store.engine.connect() as connection:
            pages_after = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            assert connection.exec_driver_sql("PRAGMA freelist_count").scalar_one() == 0
        assert pages_after < pages_before / 2
    else:
        with store.engine.connect() as connection:
            vacuumed = connection.execute(text(
                "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('events', 'executions') AND last_vacuum IS NOT NULL"
            )).scalar_one()
        assert vacuumed == 2


def test_an_execution_without_a_start_time_is_dated_by_its_recording(store: Store) -> None:
    """A stream whose events carry no time: its recording's start decides."""
    recorder = Recorder(store=store)
    line = json.dumps({"execution_id": "untimed", "type": "WORKFLOW", "data": {"id": "e1", "state": "INITIATED", "ts": None}})
    writer = store.writer(source="test", request={"workflow_deployment_name": "chat", "inputs": []})
    writer.add(RawLine(0, line.encode()))
    writer.finish(Outcome.CUT, started_at_us=1_000_000, ended_at_us=2_000_000)
    assert store.execution("untimed").started_at_us is None
    assert recorder.prune(older_than=500_000).executions == 0
    assert recorder.prune(older_than=1_500_000).executions == 1
    assert store.execution("untimed") is None and table_counts(store)["recordings"] == 0


# -- a live recording while the prune runs ----------------------------------------------------------


def test_a_prune_while_a_live_recording_writes_leaves_the_live_execution_whole(store_url: str, samples_dir: Path) -> None:
    live_name = SAMPLE_NAMES[3]
    live_id = load_truth(samples_dir, live_name)["execution_id"]
    live_lines = (samples_dir / f"{live_name}.ndjson").read_bytes().splitlines()
    with Store(store_url) as store:
        for name in SAMPLE_NAMES:
            if name != live_name:
                truth = load_truth(samples_dir, name)
                Recorder(store=store).ingest(str(samples_dir / f"{name}.ndjson"), request=truth["request"])

    started, prune_started, prune_done = threading.Event(), threading.Event(), threading.Event()
    commits: list[float] = []
    failures: list[BaseException] = []

    def record_live() -> None:
        """An old execution (its events say 2025-06-02) arriving slowly, a commit per line."""
        try:
            with Store(store_url) as writing:
                writer = writing.writer(source="live test", request=load_truth(samples_dir, live_name)["request"],
                                        policy=FlushPolicy(max_events=1, max_delay_s=None),
                                        on_commit=lambda _: commits.append(time.monotonic()))
                for position, line in enumerate(live_lines):
                    writer.add(RawLine(position, line))
                    if position == 10:
                        started.set()
                        prune_started.wait(timeout=60)
                    if not prune_done.is_set():
                        time.sleep(0.01)
                prune_done.wait(timeout=60)
                writer.finish()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)
            started.set()

    thread = threading.Thread(target=record_live)
    thread.start()
    assert started.wait(timeout=30)
    with Recorder(store_url) as recorder:
        prune_started.set()
        began = time.monotonic()
        report = recorder.prune(older_than="2025-06-02T09:30:00Z", batch_size=1)
        ended = time.monotonic()
    prune_done.set()
    thread.join(timeout=60)

    assert not thread.is_alive() and not failures, failures
    assert report.executions == 29 and report.batches >= 29
    assert any(began < moment < ended for moment in commits)  # the two really overlapped
    assert max(later - earlier for earlier, later in zip(commits, commits[1:])) < 5.0  # the writer never waited long
    with Store(store_url) as store:
        assert [execution.execution_id for execution in store.executions()] == [live_id]
        assert [event.raw.encode() for event in store.events(live_id)] == live_lines
        assert store.execution(live_id).event_count == len(live_lines)
        assert table_counts(store)["recordings"] == 1


# -- the command --------------------------------------------------------------------------------------


def run(store_url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", store_url, "prune", *args])


def test_the_json_report(recorder: Recorder, store_url: str) -> None:
    result = run(store_url, "--older-than", "2025-06-02T09:09:31Z", "--batch-size", "5", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {
        "cutoff", "cutoff_us", "deployment", "keep_failed", "dry_run", "executions", "events", "spans", "recordings",
        "rejects", "status_checks", "actuals", "repointed", "batches", "vacuumed", "seconds",
    }
    assert document["cutoff"].startswith("2025-06-02T09:09:31")
    assert (document["executions"], document["recordings"], document["batches"], document["dry_run"]) == (14, 14, 3, False)


def test_the_human_report(recorder: Recorder, store_url: str) -> None:
    result = run(store_url, "--older-than", "2025-06-02T09:09:31Z", "--dry-run", "--deployment", "support-agent-v2")
    assert result.exit_code == 0, result.output
    assert "would remove" in result.stdout and "support-agent-v2" in result.stdout
    assert "Dry run: nothing was changed." in result.stdout
    assert [line.split() for line in result.stdout.splitlines() if line.strip().startswith("│ executions")] == [["│", "executions", "│", "6", "│"]]
    assert len(recorder.store.executions()) == 30


@pytest.mark.parametrize("value", ["ninety days", "90x", "2025-13-45"])
def test_a_bad_older_than_is_a_one_line_usage_error(store_url: str, value: str) -> None:
    result = run(store_url, "--older-than", value)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--older-than" in lines[0], result.stderr


def test_older_than_is_required(store_url: str) -> None:
    result = run(store_url)
    assert result.exit_code == 2 and "--older-than" in result.stderr and len(result.stderr.splitlines()) == 1
