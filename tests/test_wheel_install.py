"""The built wheel works on its own: a fresh virtual environment, no repository on the path.

The wheel is built from this checkout and installed (not editable) into new venvs outside it: one
plain (no extras), one with the `postgres` extra. From there `recorder init` and `recorder demo`
must create and fill a store on SQLite and PostgreSQL with the migrations the wheel carries; a
plain install must record, ingest, show, export and replay through the pytest plugin without any
analytics dependency, and name the extra to install when a command needs one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, PostgresServer

REPOSITORY = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPOSITORY / "constraints.txt"
HEAVY = ("duckdb", "polars", "pyarrow", "altair", "vl_convert", "adbc_driver_sqlite", "adbc_driver_postgresql")

pytestmark = pytest.mark.timeout(900)


@dataclass(frozen=True)
class Installed:
    """A venv holding the wheel, and a folder outside the repository to run it in."""

    root: Path
    workdir: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `recorder ARGS` from the venv, with an environment that knows nothing of the repository."""
        env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "RECORDER_", "VIRTUAL_ENV"))}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        result = subprocess.run(
            [str(self.root / "bin" / "recorder"), *args], cwd=self.workdir, env=env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"recorder {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def imports(self, module: str) -> bool:
        code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
        return subprocess.run([str(self.python), "-c", code], cwd=self.workdir).returncode == 0


def _pip(venv_root: Path, *args: str) -> None:
    subprocess.run([str(venv_root / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS), *args], check=True, timeout=600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(REPOSITORY)], check=True, timeout=600)
    (built,) = dist.glob("workflow_recorder-*.whl")
    return built


def _install(tmp_path_factory: pytest.TempPathFactory, name: str, requirement: str, *extra: str) -> Installed:
    root = tmp_path_factory.mktemp(name) / "venv"
    venv.create(root, with_pip=True)
    _pip(root, requirement, *extra)
    workdir = tmp_path_factory.mktemp(f"{name}-work")
    return Installed(root, workdir)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Installed:
    # pytest too: the replay plugin is part of a plain install, for a project's own test suite.
    return _install(tmp_path_factory, "plain", str(wheel), "pytest")


@pytest.fixture(scope="module")
def with_postgres(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Installed:
    return _install(tmp_path_factory, "postgres", f"{wheel}[postgres]")


def test_the_wheel_carries_the_migrations(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    migrations = sorted(name for name in names if name.startswith("recorder/migrations/"))
    assert "recorder/migrations/env.py" in migrations
    assert "recorder/migrations/script.py.mako" in migrations
    shipped = {Path(name).name for name in migrations if name.startswith("recorder/migrations/versions/")}
    assert shipped == {path.name for path in (REPOSITORY / "migrations" / "versions").glob("*.py")}


def test_a_plain_install_has_none_of_the_optional_dependencies(plain: Installed) -> None:
    assert [module for module in HEAVY if plain.imports(module)] == []
    assert not plain.imports("psycopg")
    location = subprocess.run([str(plain.python), "-c", "import recorder; print(recorder.__file__)"], cwd=plain.workdir,
                              capture_output=True, text=True, check=True).stdout
    assert str(plain.root) in location and str(REPOSITORY) not in location


def test_demo_and_init_run_on_sqlite_from_a_plain_install(plain: Installed) -> None:
    url = f"sqlite:///{plain.workdir / 'demo.db'}"
    plain.run("--db", url, "init")
    summary = json.loads(plain.run("--db", url, "demo", "--executions", "4", "--speed", "1000", "--json").stdout)
    assert summary["executions"] == 4 and summary["events"] > 0
    people = plain.run("--db", url, "demo", "--executions", "2", "--speed", "1000")
    assert "workflow-recorder[report]" in people.stdout  # the report is skipped with the extra to install
    assert len(json.loads(plain.run("--db", url, "executions", "--json").stdout)) == 4
    plain.run("--db", url, "init")  # at head already: nothing to do, still exit 0


def test_a_plain_install_ingests_shows_exports_and_replays_in_pytest(plain: Installed) -> None:
    samples = REPOSITORY / "tests" / "data" / "samples"
    truth = json.loads((samples / "exec_0002.truth.json").read_text())
    (plain.workdir / "request.json").write_text(json.dumps(truth["request"]))
    url = f"sqlite:///{plain.workdir / 'audit.db'}"
    plain.run("--db", url, "ingest", str(samples / "exec_0002.ndjson"), "--request", "request.json")
    shown = json.loads(plain.run("--db", url, "show", truth["execution_id"][:8], "--json").stdout)
    assert len(shown["events"]) == truth["event_count"]
    body = subprocess.run([str(plain.root / "bin" / "recorder"), "--db", url, "export", truth["execution_id"], "--body"],
                          cwd=plain.workdir, capture_output=True, check=True).stdout
    assert body == (samples / "exec_0002.ndjson").read_bytes()

    project = plain.workdir / "project"
    cassette = project / "tests" / "cassettes" / "test_app" / "test_lines" / "001-recorded.cassette.json"
    cassette.parent.mkdir(parents=True)
    plain.run("--db", url, "export", truth["execution_id"], "-o", str(cassette))
    (project / "tests" / "test_app.py").write_text(
        "def test_lines(vellum_replay):\n"
        "    seen = []\n"
        f"    assert vellum_replay.replay_lines(seen.append) == {truth['event_count']}\n"
    )
    result = subprocess.run([str(plain.python), "-m", "pytest", "-q", "--vellum-record-mode=none", "tests"], cwd=project,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_a_command_needing_an_extra_names_it_in_one_line(plain: Installed) -> None:
    url = f"sqlite:///{plain.workdir / 'extras.db'}"
    plain.run("--db", url, "init")
    for command in (["latency"], ["usage"], ["sql", "SELECT 1"], ["report", "-o", "r.html"]):
        result = plain.run("--db", url, *command, check=False)
        assert result.returncode == 1, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert "pip install 'workflow-recorder[" in result.stderr


def test_a_postgresql_url_without_its_driver_names_the_extra(plain: Installed) -> None:
    result = plain.run("--db", "postgresql://postgres@127.0.0.1:5432/test", "executions", check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "pip install 'workflow-recorder[postgres]'" in result.stderr


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="RECORDER_TEST_BACKENDS leaves PostgreSQL out")
def test_demo_and_init_run_on_postgresql_from_the_wheel(with_postgres: Installed, postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database()
    with_postgres.run("--db", url, "init")
    summary = json.loads(with_postgres.run("--db", url, "demo", "--executions", "4", "--speed", "1000", "--json").stdout)
    assert summary["executions"] == 4 and summary["events"] > 0
    plain_url = url.replace("postgresql+psycopg://", "postgresql://")
    assert len(json.loads(with_postgres.run("--db", plain_url, "executions", "--json").stdout)) == 4
