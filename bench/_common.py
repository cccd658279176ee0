"""Helpers shared by the bench scripts: isolated phases, peak memory, scratch PostgreSQL databases.

Every measured phase runs in a fresh interpreter (multiprocessing "spawn"), so its peak RSS is its
own and no phase inherits another's caches, imports or garbage. Scratch PostgreSQL databases are
created per phase and always dropped (SQLite files removed), also when a phase fails or the run is interrupted.
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

T = TypeVar("T")

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def info(message: str) -> None:
    """A progress/info line. Figures are printed without the `# ` prefix, so they grep apart."""
    print(f"# {message}", flush=True)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / (1024 * 1024)


def run_isolated(function: Callable[..., T], *args: Any) -> T:
    """Run `function(*args)` in a freshly spawned interpreter and return its (picklable) result."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as a libpq connection string (what psycopg.connect takes)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def scratch_postgres(admin_url: str, tag: str) -> Iterator[str]:
    """An empty database `bench_<tag>_<hex>` beside the one in `admin_url`, created with an
    AUTOCOMMIT connection; yields its URL and drops it when the block exits, however it exits."""
    import psycopg

    name = f"bench_{tag}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_sqlite(directory: Path, tag: str) -> Iterator[str]:
    """A fresh SQLite file URL in `directory`; the file and its -wal/-shm are removed afterwards."""
    path = directory / f"bench-{tag}-{uuid.uuid4().hex[:10]}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
