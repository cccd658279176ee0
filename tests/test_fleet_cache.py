"""The fleet snapshot kept on disk per store: refreshed by the store's change cursor, never reused
when the store behind the URL is another one (wiped, replaced, restored from an older copy), written
as a base plus small deltas, whole sets only, and `recorder cache info|clear`. Both backends where
the case exists on both."""

from __future__ import annotations

import json
import shutil
import threading
import warnings
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

from recorder.analytics import Analytics
from recorder.analytics import snapshot_files
from recorder.api import Recorder
from recorder.cli.main import cli
from recorder.store import Store
from recorder.store.dialects import dialect_named
from recorder.stream.ingest import ingest_path
from tests.test_analytics_timeline import StreamBuilder
from tests.test_samples import SAMPLE_NAMES, load_truth


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of each test's own (the session's is shared by a worker's tests)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("RECORDER_CACHE_DIR", str(folder))
    monkeypatch.delenv(snapshot_files.SNAPSHOT_ENV, raising=False)
    return folder


def record(store: Store, samples_dir: Path, names: list[str]) -> None:
    for name in names:
        ingest_path(store, str(samples_dir / f"{name}.ndjson"), request=load_truth(samples_dir, name)["request"])


def spans_of(names: list[str], samples_dir: Path) -> int:
    return sum(len(load_truth(samples_dir, name)["timeline"]["spans"]) for name in names)


def fresh_answer(store: Store):
    """What a snapshot pulled from scratch (and never saved) says: the reference."""
    analytics = Analytics(store, persist=False)
    try:
        return analytics.latency("node"), analytics.sql("SELECT count(*) AS n FROM node_spans").item()
    finally:
        analytics.close()


# -- where it is kept ------------------------------------------------------------------------------------------


def test_the_snapshot_persists_in_the_cache_folder_by_default(store: Store, samples_dir: Path, cache_dir: Path) -> None:
    record(store, samples_dir, SAMPLE_NAMES[:3])
    first = Analytics(store)
    assert first.refresh().mode == "full"
    folder = first.cache_info().path
    assert Path(folder).parent == cache_dir / "snapshots" and (Path(folder) / snapshot_files.MANIFEST).is_file()
    second = Analytics(store)
    assert second.refresh().mode == "loaded"
    assert second.refresh().mode == "unchanged"


def test_the_folder_is_keyed_by_the_url_without_its_password(tmp_path: Path) -> None:
    sqlite, postgresql = dialect_named("sqlite"), dialect_named("postgresql")
    key = snapshot_files.store_key(f"sqlite:///{tmp_path / 'a.db'}", sqlite)
    assert snapshot_files.store_key(f"sqlite:///{tmp_path / '.' / 'a.db'}", sqlite) == key
    assert snapshot_files.store_key("sqlite://", sqlite) is None  # in memory: nothing to keep
    one = snapshot_files.store_key("postgresql+psycopg://alice:secret@db.example/prod", postgresql)
    other = snapshot_files.store_key("postgresql+psycopg://alice:another@db.example/prod", postgresql)
    elsewhere = snapshot_files.store_key("postgresql+psycopg://alice:secret@db.example/staging", postgresql)
    assert one == other != elsewhere and len(one) == 16


def test_analytics_dir_names_the_folder_exactly(store: Store, samples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record(store, samples_dir, SAMPLE_NAMES[:2])
    monkeypatch.setenv(snapshot_files.SNAPSHOT_ENV, str(tmp_path / "exact"))
    Analytics(store).refresh()
    assert (tmp_path / "exact" / snapshot_files.MANIFEST).is_file()


def test_an_unwritable_cache_folder_costs_one_warning_and_no_answer(store: Store, samples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record(store, samples_dir, SAMPLE_NAMES[:3])
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RECORDER_CACHE_DIR", str(blocker / "cache"))  # works even for root
    monkeypatch.setattr("recorder.analytics.fleet._warned_unwritable", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answers = [Analytics(store).latency("node") for _ in range(3)]
    assert len([w for w in caught if "kept in memory only" in str(w.message)]) == 1
    assert_frame_equal(answers[0], fresh_answer(store)[0])


# -- refresh by cursor -----------------------------------------------------------------------------------------


def test_a_new_process_pulls_only_the_rows_written_since_its_copy(store: Store, samples_dir: Path) -> None:
    record(store, samples_dir, SAMPLE_NAMES[:10])
    Analytics(store).refresh()
    folder = Path(Analytics(store).cache_info().path)
    base = snapshot_files.read_manifest(folder).base
    record(store, samples_dir, SAMPLE_NAMES[10:13])
    later = Analytics(store)
    report = later.refresh()
    assert (report.mode, report.executions_pulled, report.spans_pulled) == ("incremental", 3, spans_of(SAMPLE_NAMES[10:13], samples_dir))
    manifest = snapshot_files.read_manifest(folder)
    assert manifest.base == base and len(manifest.deltas) == 1  # the base is not written again
    assert manifest.change_seq == store.change_state().change_seq
    third = Analytics(store)
    assert third.refresh().mode == "loaded"
    assert_frame_equal(third.latency("node"), fresh_answer(store)[0])


def test_a_copy_that_cannot_be_read_is_replaced_by_the_full_pull(store: Store, samples_dir: Path) -> None:
    """A set whose file went missing is pulled again, and written again: the next process loads."""
    record(store, samples_dir, SAMPLE_NAMES[:4])
    Analytics(store).refresh()
    folder = Path(Analytics(store).cache_info().path)
    (folder / snapshot_files.read_manifest(folder).base.files["spans"]).unlink()
    assert Analytics(store).refresh().mode == "full"
    assert Analytics(store).refresh().mode == "loaded"


def test_a_run_that_goes_on_replaces_its_held_span(store: Store) -> None:
    analytics = Analytics(store)
    builder = StreamBuilder().workflow("INITIATED", 0).node("p", "INITIATED", 5, node_type="PROMPT")
    builder.record(store)
    assert analytics.sql("SELECT count(*) FROM node_spans WHERE open").item() == 1
    builder.node("p", "FULFILLED", 9, node_type="PROMPT").workflow("FULFILLED", 10).record(store)
    report = analytics.refresh()
    assert (report.mode, report.spans_pulled) == ("incremental", 1)
    assert analytics.sql("SELECT count(*), count(*) FILTER (WHERE open) FROM node_spans").row(0) == (1, 0)
    assert Analytics(store).sql("SELECT count(*), count(*) FILTER (WHERE open) FROM node_spans").row(0) == (1, 0)


def test_deltas_are_compacted_into_a_new_base_when_they_grow(store: Store, samples_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_files, "_MAX_DELTAS", 2)
    record(store, samples_dir, SAMPLE_NAMES[:20])
    analytics = Analytics(store)
    analytics.refresh()
    folder = Path(analytics.cache_info().path)
    deltas = []
    for name in SAMPLE_NAMES[20:23]:
        record(store, samples_dir, [name])
        analytics.refresh()
        deltas.append(len(snapshot_files.read_manifest(folder).deltas))
    assert deltas == [1, 2, 0]
    assert len(list(folder.glob("*.parquet"))) == 2  # the old base and deltas are gone
    assert_frame_equal(Analytics(store).latency("node"), fresh_answer(store)[0])


def test_a_wiped_store_is_pulled_again_never_answered_from_the_copy(store: Store, samples_dir: Path) -> None:
    record(store, samples_dir, SAMPLE_NAMES[:6])
    Analytics(store).refresh()
    store.wipe()
    record(store, samples_dir, SAMPLE_NAMES[6:8])
    analytics = Analytics(store)
    assert analytics.refresh().mode == "full"
    assert analytics.sql("SELECT count(*) FROM executions").item() == 2
    assert_frame_equal(analytics.latency("node"), fresh_answer(store)[0])


def test_another_store_at_the_same_path_is_pulled_again(tmp_path: Path, samples_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'same.db'}"
    with Store(url) as first:
        record(first, samples_dir, SAMPLE_NAMES[:5])
        Analytics(first).refresh()
    (tmp_path / "same.db").unlink()
    with Store(url) as second:
        record(second, samples_dir, SAMPLE_NAMES[5:12])  # more recordings: a larger cursor than the copy's
        analytics = Analytics(second)
        assert analytics.refresh().mode == "full"
        assert analytics.sql("SELECT count(*) FROM executions").item() == 7


def test_a_store_restored_from_an_older_copy_is_pulled_again(tmp_path: Path, samples_dir: Path) -> None:
    path = tmp_path / "restored.db"
    with Store(f"sqlite:///{path}") as store:
        record(store, samples_dir, SAMPLE_NAMES[:5])
    shutil.copy(path, tmp_path / "backup.db")
    with Store(f"sqlite:///{path}") as store:
        record(store, samples_dir, SAMPLE_NAMES[5:8])
        Analytics(store).refresh()
    shutil.copy(tmp_path / "backup.db", path)  # the cursor went backwards; the store id did not change
    with Store(f"sqlite:///{path}") as store:
        analytics = Analytics(store)
        assert analytics.refresh().mode == "full"
        assert analytics.sql("SELECT count(*) FROM executions").item() == 5
        assert_frame_equal(analytics.latency("node"), fresh_answer(store)[0])


# -- whole sets only -------------------------------------------------------------------------------------------


def test_a_set_with_a_missing_or_foreign_file_is_not_used(store: Store, samples_dir: Path) -> None:
    record(store, samples_dir, SAMPLE_NAMES[:4])
    Analytics(store).refresh()
    folder = Path(Analytics(store).cache_info().path)
    manifest = json.loads((folder / snapshot_files.MANIFEST).read_text())
    manifest["store_id"] = "someone-else"  # the files' stamps no longer match the manifest
    (folder / snapshot_files.MANIFEST).write_text(json.dumps(manifest))
    assert snapshot_files.load(folder) is None
    assert Analytics(store).refresh().mode == "full"
    for path in folder.glob("base-*-spans.parquet"):
        path.unlink()
    assert snapshot_files.load(folder) is None
    assert Analytics(store).refresh().mode == "full"


def test_concurrent_writers_never_leave_a_mixed_set(tmp_path: Path) -> None:
    """Eight writers save different states of one store at once while a reader keeps loading:
    every set read is whole (its rows are those of the state its manifest names)."""
    folder = tmp_path / "snapshot"

    def tables_at(seq: int) -> dict[str, pa.Table]:
        executions = pa.table({"execution_id": [f"e{i}" for i in range(seq)], "change_seq": list(range(1, seq + 1))})
        spans = pa.table({"execution_id": [f"e{i}" for i in range(seq)], "node_result_id": ["r"] * seq, "change_seq": list(range(1, seq + 1))})
        return {"executions": executions, "spans": spans}

    def delta(after: int, seq: int) -> tuple[int, dict[str, pa.Table]]:
        full = tables_at(seq)
        return after, {name: table.slice(after) for name, table in full.items()}

    snapshot_files.save(folder, "store", 100, tables_at(100), None)
    errors: list[str] = []
    stop = threading.Event()

    def writer(seq: int) -> None:
        for step in range(5):
            at = seq + step * 8
            snapshot_files.save(folder, "store", at, tables_at(at), delta(at - 8, at) if step else None)

    def reader() -> None:
        while not stop.is_set():
            loaded = snapshot_files.load(folder)
            if loaded is None:
                continue  # a file replaced under the reader: it would pull from the store
            seq = loaded.manifest.change_seq
            for name, table in loaded.tables.items():
                if sorted(table.column("change_seq").to_pylist()) != list(range(1, seq + 1)):
                    errors.append(f"{name} at {seq}: {table.num_rows} rows")

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(101 + index,)) for index in range(8)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    final = snapshot_files.load(folder)
    assert final.manifest.change_seq == 101 + 7 + 4 * 8
    assert sorted(final.tables["executions"].column("change_seq").to_pylist()) == list(range(1, final.manifest.change_seq + 1))


# -- recorder cache info | clear -------------------------------------------------------------------------------


def test_cache_info_and_clear_through_the_cli(store: Store, store_url: str, samples_dir: Path) -> None:
    record(store, samples_dir, SAMPLE_NAMES[:3])
    runner = CliRunner()
    empty = json.loads(runner.invoke(cli, ["--db", store_url, "cache", "info", "--json"]).output)
    assert (empty["exists"], empty["store_id"]) == (False, None)
    assert runner.invoke(cli, ["--db", store_url, "latency", "--json"]).exit_code == 0
    result = runner.invoke(cli, ["--db", store_url, "cache", "info", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    state = store.change_state()
    assert (info["exists"], info["store_id"], info["change_seq"], info["executions"], info["spans"]) == (
        True, state.store_id, state.change_seq, 3, spans_of(SAMPLE_NAMES[:3], samples_dir))
    assert info["size_bytes"] > 0 and Path(info["path"]).is_dir()
    people = runner.invoke(cli, ["--db", store_url, "cache", "info"])
    assert info["path"] in people.output and "3 executions" in people.output
    cleared = json.loads(runner.invoke(cli, ["--db", store_url, "cache", "clear", "--json"]).output)
    assert cleared["freed_bytes"] == info["size_bytes"]
    assert not Path(info["path"]).exists()
    assert json.loads(runner.invoke(cli, ["--db", store_url, "cache", "info", "--json"]).output)["exists"] is False


def test_cache_clear_all_drops_every_store_snapshot(tmp_path: Path, samples_dir: Path, cache_dir: Path) -> None:
    for name in ("one", "two"):
        with Recorder(f"sqlite:///{tmp_path / f'{name}.db'}") as recorder:
            record(recorder.store, samples_dir, SAMPLE_NAMES[:2])
            recorder.latency("node")
    assert len(list((cache_dir / "snapshots").iterdir())) == 2
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'gone.db'}", "cache", "clear", "--all", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["freed_bytes"] > 0
    assert not (cache_dir / "snapshots").exists()


def test_the_api_reports_and_clears_the_cache(store: Store, samples_dir: Path) -> None:
    record(store, samples_dir, SAMPLE_NAMES[:2])
    recorder = Recorder(store=store)
    recorder.latency("node")
    info = recorder.cache_info()
    assert info.exists and info.executions == 2
    assert recorder.clear_cache() == info.size_bytes
    assert recorder.cache_info().exists is False
    assert recorder.latency("node").height > 0  # what is held in memory still answers
