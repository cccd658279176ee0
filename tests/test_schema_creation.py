"""Who creates the schema, and when: readers never; writers only in an empty database, one at a
time; the migrations are found inside an installed package without alembic.ini."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

import recorder
from recorder.cli.main import cli
from recorder.store import NoStore, Store
from recorder.store.engine import MIGRATION_DIRECTORIES, head_revision, migrations_directory

READ_COMMANDS = [
    ["executions"],
    ["show", "abc"],
    ["timeline", "abc"],
    ["lineage", "abc"],
    ["latency"],
    ["usage"],
    ["export", "abc"],
]


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: c[0])
def test_a_read_command_creates_nothing_in_an_empty_database(empty_database_url: str, command: list[str]) -> None:
    if empty_database_url.startswith("sqlite"):
        Path(empty_database_url.removeprefix("sqlite:///")).touch()  # the file exists, empty
    result = CliRunner().invoke(cli, ["--db", empty_database_url, *command])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no recorder store at ") and "`recorder init`" in result.stderr
    assert _tables(empty_database_url) == []


def test_a_read_command_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{path}", "executions"])
    assert result.exit_code == 1 and "no such file" in result.stderr
    assert not path.exists()


def test_the_api_can_open_without_creating(empty_database_url: str) -> None:
    with pytest.raises(NoStore):
        Store(empty_database_url, create_schema=False)
    assert _tables(empty_database_url) == []


def test_a_recording_command_creates_the_schema_in_an_empty_database(empty_database_url: str, samples_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", empty_database_url, "ingest", str(samples_dir / "exec_0000.ndjson")])
    assert result.exit_code == 0, result.output
    with Store(empty_database_url, create_schema=False) as store:
        assert store.revision() == head_revision()
        assert len(store.executions()) == 1


def test_init_creates_the_schema_and_is_idempotent(empty_database_url: str) -> None:
    first = CliRunner().invoke(cli, ["--db", empty_database_url, "init"])
    assert first.exit_code == 0 and "migrated from empty" in first.output
    again = CliRunner().invoke(cli, ["--db", empty_database_url, "init"])
    assert again.exit_code == 0 and "already at revision" in again.output


# Each process announces it is ready, waits for the go file, then runs `recorder ingest`: all four
# reach the empty database together, without any sleep deciding the outcome.
_AT_ONCE = """
import sys, time
from pathlib import Path
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.001)
from recorder.cli.main import cli
cli(sys.argv[3:], prog_name="recorder")
"""


def test_four_first_ingests_at_once_into_an_empty_store(empty_database_url: str, samples_dir: Path, tmp_path: Path) -> None:
    bodies = sorted(samples_dir.glob("exec_000[0-3].ndjson"))
    go = tmp_path / "go"
    processes = []
    for index, body in enumerate(bodies):
        ready = tmp_path / f"ready-{index}"
        args = [str(ready), str(go), "--db", empty_database_url, "ingest", "--json", str(body)]
        processes.append((ready, subprocess.Popen([sys.executable, "-c", _AT_ONCE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    try:
        while not all(ready.exists() for ready, _ in processes):
            if any(process.poll() is not None for _, process in processes):
                break
            os.sched_yield()
        go.touch()
        results = [process.communicate(timeout=300) for _, process in processes]
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.kill()
    for (_, process), (stdout, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr
        assert json.loads(stdout)[0]["events_stored"] > 0
    with Store(empty_database_url, create_schema=False) as store:
        assert store.revision() == head_revision()
        assert len(store.executions()) == len(bodies)


def test_migrations_come_from_the_checkout_when_the_package_has_none() -> None:
    assert migrations_directory() in MIGRATION_DIRECTORIES
    assert (migrations_directory() / "env.py").is_file()


def test_an_installed_package_finds_its_own_migrations_without_alembic_ini(tmp_path: Path, samples_dir: Path) -> None:
    """As a wheel installs it: the package with `recorder/migrations` inside, no checkout around it."""
    site = tmp_path / "site"
    package = Path(recorder.__file__).resolve().parent
    checkout = package.parent
    shutil.copytree(package, site / "recorder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(checkout / "migrations", site / "recorder" / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    url = f"sqlite:///{tmp_path / 'installed.db'}"
    program = (
        "import sys, recorder; from recorder.store.engine import migrations_directory;"
        "print(recorder.__file__); print(migrations_directory());"
        "from recorder.cli.main import cli; cli(sys.argv[1:], prog_name='recorder')"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    for args in (["init"], ["ingest", str(samples_dir / "exec_0000.ndjson")]):
        done = subprocess.run([sys.executable, "-c", program, "--db", url, *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        package_file, migrations, *_ = done.stdout.splitlines()
        assert Path(package_file).is_relative_to(site)
        assert Path(migrations) == site / "recorder" / "migrations"
    assert not list(tmp_path.rglob("alembic.ini"))
    with Store(url, create_schema=False) as store:
        assert store.revision() == head_revision()
        assert len(store.executions()) == 1
