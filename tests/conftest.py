"""Backends for the suite: every store test runs on SQLite and on PostgreSQL.

PostgreSQL comes from RECORDER_TEST_POSTGRES_URL (default: the project machine's server at
127.0.0.1:5432, database `test`). The suite makes a database of its own there and drops it at the
end. Without a server the PostgreSQL half is skipped locally and FAILS in CI (CI=true), so a CI run
can never pass while silently testing one engine.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from recorder.store import Store

# The CLI sizes its output to COLUMNS when not on a terminal (pytest-xdist workers set 80): one
# width for every test, so an assertion never depends on where a long message wraps.
os.environ["COLUMNS"] = "200"
# The fleet snapshot persists in the user cache by default: the suite keeps it (and the report's
# Vega bundle) in a folder of its own per process, never in the real one.
os.environ["RECORDER_CACHE_DIR"] = tempfile.mkdtemp(prefix="recorder-test-cache-")
os.environ.pop("RECORDER_ANALYTICS_DIR", None)

POSTGRES_URL = os.environ.get("RECORDER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [b.strip() for b in os.environ.get("RECORDER_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Copied from the team's shared wire-format samples (30 real streams with their truth files), so a
# clone with nothing beside it runs the whole suite.
SAMPLES = Path(__file__).resolve().parent / "data" / "samples"


class PostgresServer:
    """Creates throw-away databases on the test server."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self._admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        self._created: list[str] = []

    def create_database(self) -> str:
        name = f"recorder_test_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self._admin.connect() as connection:
            for name in self._created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(POSTGRES_URL)
    try:
        with server._admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means the same
        message = f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc.__class__.__name__}: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def postgres_store_url(postgres_server: PostgresServer) -> str:
    """One migrated database for the session; tests get it emptied (see `store_url`)."""
    url = postgres_server.create_database()
    Store(url).close()
    return url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated store on the backend under test."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'recorder.db'}"
        Store(url).close()
        return url
    url = request.getfixturevalue("postgres_store_url")
    with Store(url) as store:
        store.wipe()
    return url


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema at all, for migration tests."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url) as opened:
        yield opened


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.fail(f"the vendored samples are missing: {SAMPLES}")
    return SAMPLES
