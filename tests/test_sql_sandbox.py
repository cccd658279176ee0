"""Ad-hoc SQL is sandboxed: no file, network or extension access unless asked for, while the fleet
snapshot (and its Parquet copy in RECORDER_ANALYTICS_DIR) keeps working. Both backends."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from recorder.analytics import Analytics
from recorder.analytics.snapshot_files import MANIFEST, SNAPSHOT_ENV
from recorder.api import Recorder
from recorder.cli.main import cli
from recorder.store import Store
from recorder.stream.ingest import ingest_path
from tests.test_samples import SAMPLE_NAMES, load_truth


@pytest.fixture
def recorded(store: Store, samples_dir: Path) -> Store:
    for name in SAMPLE_NAMES[:3]:
        ingest_path(store, str(samples_dir / f"{name}.ndjson"), request=load_truth(samples_dir, name)["request"])
    return store


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("do-not-read-me")
    return path


def hostile(secret: Path, target: Path) -> list[str]:
    return [
        f"SELECT content FROM read_text('{secret}')",
        f"SELECT * FROM read_csv('{secret}')",
        f"COPY (SELECT * FROM executions) TO '{target}'",
        f"ATTACH '{target}.db' AS elsewhere",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SELECT * FROM 'https://example.invalid/x.parquet'",
        "SET enable_external_access = true",
        "SET autoinstall_known_extensions = true",
    ]


def test_sql_cannot_read_write_attach_or_load_by_default(recorded: Store, secret: Path, tmp_path: Path) -> None:
    analytics = Analytics(recorded)
    target = tmp_path / "out.csv"
    for query in hostile(secret, target):
        with pytest.raises(duckdb.Error):
            analytics.sql(query)
    assert not target.exists() and not Path(f"{target}.db").exists()
    settings = analytics.sql(
        "SELECT current_setting('enable_external_access') AS files, current_setting('autoinstall_known_extensions') AS install,"
        " current_setting('autoload_known_extensions') AS load"
    )
    assert settings.row(0) == (False, False, False)
    assert analytics.sql("SELECT count(*) FROM executions").item() == 3  # the views themselves still answer
    analytics.close()


def test_allow_files_opts_in_for_the_query_and_leaves_the_default_sandboxed(recorded: Store, secret: Path, tmp_path: Path) -> None:
    recorder = Recorder(store=recorded)
    target = tmp_path / "spans.csv"
    recorder.sql(f"COPY (SELECT execution_id FROM node_spans) TO '{target}'", allow_files=True)
    assert target.exists()
    assert recorder.sql(f"SELECT content FROM read_text('{secret}')", allow_files=True).item() == "do-not-read-me"
    assert recorder.sql("SELECT count(*) FROM executions", allow_files=True).item() == 3
    with pytest.raises(duckdb.PermissionException):
        recorder.sql(f"SELECT content FROM read_text('{secret}')")


def test_the_parquet_snapshot_still_saves_and_loads_under_the_sandbox(recorded: Store, secret: Path, tmp_path: Path) -> None:
    first = Analytics(recorded, snapshot_dir=tmp_path / "snapshot")
    assert first.refresh().mode == "full"
    assert (tmp_path / "snapshot" / MANIFEST).is_file()
    assert sorted(p.name.rsplit("-", 1)[1] for p in (tmp_path / "snapshot").glob("*.parquet")) == ["executions.parquet", "spans.parquet"]
    second = Analytics(recorded, snapshot_dir=tmp_path / "snapshot")
    assert second.refresh().mode == "loaded"
    assert second.sql("SELECT count(*) FROM executions").item() == 3
    with pytest.raises(duckdb.PermissionException):
        second.sql(f"SELECT content FROM read_text('{secret}')")


def test_recorder_sql_refuses_files_with_a_hint_and_allow_files_lifts_it(recorded: Store, secret: Path, tmp_path: Path) -> None:
    url = recorded.url
    env = {SNAPSHOT_ENV: str(tmp_path / "snapshot")}
    query = f"SELECT content FROM read_text('{secret}')"
    refused = CliRunner().invoke(cli, ["--db", url, "sql", query], env=env)
    assert refused.exit_code == 1
    assert "--allow-files" in refused.output and "do-not-read-me" not in refused.output
    allowed = CliRunner().invoke(cli, ["--db", url, "sql", "--allow-files", "--json", query], env=env)
    assert allowed.exit_code == 0, allowed.output
    assert "do-not-read-me" in allowed.output
