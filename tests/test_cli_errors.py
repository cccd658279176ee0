"""Every error the user causes is one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from recorder.cli.main import cli
from recorder.store.engine import create_store_engine, current_revision, upgrade


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_line_error(result: Result, exit_code: int = 1) -> str:
    """The error line, after checking that it is the only thing on stderr and nothing escaped."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def run_blocking(blocked: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh interpreter where `import <blocked>` fails as if it were not installed."""
    program = f"import sys; sys.modules[{blocked!r}] = None; from recorder.cli.main import cli; cli(prog_name='recorder')"
    return subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, timeout=120)


def test_an_age_beyond_the_calendar_is_a_usage_error(tmp_path: Path) -> None:
    line = one_line_error(run("--db", f"sqlite:///{tmp_path / 'r.db'}", "executions", "--since", "99999999d"), exit_code=2)
    assert "99999999d" in line and "--since" in line


@pytest.mark.parametrize("url", ["not a url", "foo://host/db", "mysql://user@host/db"])
def test_a_url_that_is_not_sqlite_or_postgresql(url: str) -> None:
    line = one_line_error(run("--db", url, "executions"))
    assert "sqlite:///path.db or postgresql://" in line


@pytest.mark.parametrize("url", ["postgresql+psycopg2://user@127.0.0.1/db", "postgresql+nodriver://user@127.0.0.1/db", "sqlite+foo:///x.db"])
def test_a_driver_that_is_not_there(url: str) -> None:
    line = one_line_error(run("--db", url, "executions"))
    assert "cannot open" in line and "postgresql:// (psycopg 3)" in line


def test_the_postgres_scheme_means_postgresql(postgres_server) -> None:
    url = postgres_server.url.set(drivername="postgres", database="recorder_no_such_database").render_as_string(hide_password=False)
    assert 'database "recorder_no_such_database" does not exist' in one_line_error(run("--db", url, "executions"))


def test_a_folder(tmp_path: Path) -> None:
    assert "is a folder" in one_line_error(run("--db", f"sqlite:///{tmp_path}", "executions"))


def test_a_missing_folder(tmp_path: Path) -> None:
    line = one_line_error(run("--db", f"sqlite:///{tmp_path / 'nowhere' / 'r.db'}", "ingest", "-"))
    assert "does not exist" in line
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("command", ["executions", "init"])
def test_a_file_that_is_not_a_database(tmp_path: Path, command: str) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database\n" * 100)
    assert "file is not a database" in one_line_error(run("--db", f"sqlite:///{path}", command))
    assert path.read_text() == "not a database\n" * 100


def test_a_read_only_database(tmp_path: Path, samples_dir: Path) -> None:
    path = tmp_path / "r.db"
    assert run("--db", f"sqlite:///{path}", "ingest", str(samples_dir / "exec_0000.ndjson")).exit_code == 0
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    assert run("--db", read_only, "executions", "--json").exit_code == 0
    line = one_line_error(run("--db", read_only, "ingest", str(samples_dir / "exec_0001.ndjson")))
    assert "readonly database" in line


def test_a_missing_postgresql_database(postgres_server) -> None:
    url = postgres_server.url.set(database="recorder_no_such_database").render_as_string(hide_password=False)
    assert 'database "recorder_no_such_database" does not exist' in one_line_error(run("--db", url, "executions"))


def test_an_unreachable_postgresql_server(postgres_server) -> None:
    url = postgres_server.url.set(host="127.0.0.1", port=1).render_as_string(hide_password=False)
    assert "cannot open" in one_line_error(run("--db", url, "init"))


def test_a_password_is_not_printed(postgres_server) -> None:
    url = postgres_server.url.set(port=1, password="s3cret-pw").render_as_string(hide_password=False)
    line = one_line_error(run("--db", url, "executions"))
    assert "s3cret-pw" not in line and "***" in line


def test_a_newer_schema_is_refused_by_every_command_including_init(empty_database_url: str) -> None:
    engine = create_store_engine(empty_database_url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    for command in ("executions", "ingest", "init"):
        args = [command, "-"] if command == "ingest" else [command]
        line = one_line_error(run("--db", empty_database_url, *args))
        assert "0099_from_the_future" in line and "newer" in line and "recorder init" not in line
    assert current_revision(engine) == "0099_from_the_future"
    engine.dispose()


def test_an_older_schema_says_init_and_init_migrates_it(empty_database_url: str) -> None:
    engine = create_store_engine(empty_database_url)
    upgrade(engine, "0001")
    assert "run `recorder init`" in one_line_error(run("--db", empty_database_url, "executions"))
    assert run("--db", empty_database_url, "init").exit_code == 0
    assert run("--db", empty_database_url, "executions", "--json").exit_code == 0
    engine.dispose()


def test_a_database_of_another_application(empty_database_url: str, samples_dir: Path) -> None:
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
    assert "customers" in one_line_error(run("--db", empty_database_url, "executions"))
    assert "--allow-other-tables" in one_line_error(run("--db", empty_database_url, "ingest", str(samples_dir / "exec_0000.ndjson")))
    assert "--allow-other-tables" in one_line_error(run("--db", empty_database_url, "init"))
    assert inspect(engine).get_table_names() == ["customers"]

    assert run("--db", empty_database_url, "init", "--allow-other-tables").exit_code == 0
    assert run("--db", empty_database_url, "ingest", str(samples_dir / "exec_0000.ndjson")).exit_code == 0
    assert "customers" in inspect(engine).get_table_names()
    engine.dispose()


def test_tables_named_like_the_recorders_without_a_version(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY)"))
    for command in ("executions", "init"):
        assert "not a recorder store" in one_line_error(run("--db", empty_database_url, command))
    engine.dispose()


def test_an_unknown_execution(store_url: str) -> None:
    assert one_line_error(run("--db", store_url, "show", "nope")) == "Error: no recorded execution matches 'nope'"


def test_a_postgresql_url_without_the_driver_names_the_extra(postgres_server) -> None:
    url = make_url(postgres_server.url).set(drivername="postgresql").render_as_string(hide_password=False)
    for command in ("executions", "init"):
        done = run_blocking("psycopg", "--db", url, command)
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip().splitlines() == ["Error: a PostgreSQL store needs psycopg: pip install 'workflow-recorder[postgres]'"]


@pytest.mark.parametrize(("blocked", "extra", "command"), [
    ("duckdb", "analytics", ["latency"]),
    ("polars", "analytics", ["usage"]),
    ("altair", "report", ["report", "-o", "{tmp}/report.html"]),
])
def test_a_missing_extra_of_a_command_is_one_line(tmp_path: Path, samples_dir: Path, blocked: str, extra: str, command: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert run("--db", url, "ingest", str(samples_dir / "exec_0000.ndjson")).exit_code == 0
    done = run_blocking(blocked, "--db", url, *[part.format(tmp=tmp_path) for part in command])
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and f"pip install 'workflow-recorder[{extra}]'" in lines[0], done.stderr
