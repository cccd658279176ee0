"""Helpers shared by the bench scripts: isolated phases, peak memory, scratch PostgreSQL databases.

Every measured phase runs in a fresh interpreter (multiprocessing "spawn"), so its peak RSS is its
own and no phase inherits another's caches, imports or garbage. Scratch PostgreSQL databases are
created per phase and always
dropped (SQLite files removed), also when a phase fails or the run is interrupted.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from recorder.store.dialects import PostgresDialect

# A SQLAlchemy PostgreSQL URL as libpq takes it (psycopg.connect), spelled by the store's dialect.
libpq_url = PostgresDialect().libpq_url

T = TypeVar("T")

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def info(message: str) -> None:
    """A progress/info line. Figures are printed without the `# ` prefix, so they grep apart."""
    print(f"# {message}", flush=True)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / (1024 * 1024)


def children_peak_rss_mb() -> float:
    """Peak RSS of the largest child this process has waited for (the parse stage's process), in MiB."""
    kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / (1024 * 1024)


def children_cpu_s() -> float:
    """CPU seconds of the children this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def recorder_fingerprint(*parts: str) -> str:
    """A short hash of recorder's Python sources: the files or folders `parts` (relative to the
    package, e.g. "store", "api.py"), or the whole package. Figures are only comparable between
    runs, and phases, of the same code, and the tree may change while a long run goes on."""
    import recorder

    root = Path(recorder.__file__).resolve().parent
    files: set[Path] = set()
    for part in parts or (".",):
        target = root / part
        files.update(target.rglob("*.py") if target.is_dir() else [target] if target.exists() else [])
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def recorder_version(*parts: str) -> str:
    """The git commit of the checkout, whether recorder/ has uncommitted changes, and the
    fingerprint of `parts` (see recorder_fingerprint), for the output."""
    import recorder

    root = Path(recorder.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"source {recorder_fingerprint(*parts)} (not a git checkout)"
    return f"commit {commit}{' + uncommitted changes in recorder/' if dirty.strip() else ''}, source {recorder_fingerprint(*parts)}"


def load_average() -> str:
    """The 1-minute load average, to tell a quiet machine from a busy one in the output."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # pragma: no cover - not on every platform
        return "?"


class Stopwatch:
    """Accumulates wall and CPU time (this process, all threads) over the timed sections only.

    CPU time is less disturbed by other load on the machine than wall time; for PostgreSQL it
    leaves out the server's work, which runs in other processes.
    """

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu


def run_isolated(function: Callable[..., T], *args: Any) -> T:
    """Run `function(*args)` in a freshly spawned interpreter and return its (picklable) result.

    An exception in the child is raised here (with the child's traceback as a note). If this
    process is interrupted or told to stop while waiting, the child is terminated first, so the
    caller's clean-up (dropping scratch databases) never waits for a phase to run to its end.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_run_child, args=(sender, function, args))
    child.start()
    sender.close()
    try:
        try:
            ok, value = receiver.recv()
        except EOFError:
            child.join()
            raise RuntimeError(f"{function.__name__} died without a result (exit code {child.exitcode})") from None
        child.join()
    finally:
        if child.is_alive():
            child.terminate()
            child.join()
        receiver.close()
    if not ok:
        raise value
    return value


def _run_child(sender: Any, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result: tuple[bool, Any] = (True, function(*args))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        exc.add_note("in the spawned phase process:\n" + traceback.format_exc())
        result = (False, exc)
    try:
        sender.send(result)
    except Exception:  # the exception (or result) does not pickle: send its text instead
        sender.send((False, RuntimeError(traceback.format_exc() if result[0] else "".join(traceback.format_exception(result[1])))))
    finally:
        sender.close()


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so `finally` blocks (scratch clean-up) run on `kill PID`."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))


@contextmanager
def work_directory(kept: Path | None, prefix: str) -> Iterator[Path]:
    """`kept` (a `--workdir`: made if missing, left in place), or a temporary directory removed
    afterwards, however the block exits."""
    if kept is not None:
        kept.mkdir(parents=True, exist_ok=True)
        yield kept
        return
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def scratch_postgres(admin_url: str, tag: str, *, keep: bool = False) -> Iterator[str]:
    """An empty database `bench_<tag>_<hex>` beside the one in `admin_url`, created with an
    AUTOCOMMIT connection; yields its URL and drops it when the block exits, however it exits,
    unless `keep` (then it is left for inspection and the caller says where)."""
    import psycopg

    name = f"bench_{tag}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            # A fresh connection: a long phase may outlive the server's idle timeouts.
            with psycopg.connect(libpq_url(admin_url), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_sqlite(directory: Path, tag: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh SQLite file URL in `directory`; the file and its -wal/-shm are removed afterwards
    unless `keep`."""
    path = directory / f"bench-{tag}-{uuid.uuid4().hex[:10]}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            if not keep:
                Path(f"{path}{suffix}").unlink(missing_ok=True)


@dataclass(frozen=True)
class CommandRun:
    """One finished command: wall seconds from start to exit, its peak RSS, its exit status."""

    seconds: float
    peak_rss_mb: float
    returncode: int


def run_command(argv: Sequence[str], *, env: Mapping[str, str], stdout_path: Path, stderr_path: Path) -> CommandRun:
    """Run `argv` as a fresh process (output to files, so a large output never blocks it) and
    measure it as a user would feel it: start-up included. The peak RSS is the one `wait4`
    reports for this child (its own, or that of a descendant it waited for, whichever is larger),
    so it is the command's alone, not the maximum over every child this process ever ran
    (which is what getrusage(RUSAGE_CHILDREN) would give)."""
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), env=dict(env), stdout=stdout, stderr=stderr)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    kib = usage.ru_maxrss
    return CommandRun(seconds, kib / 1024 if sys.platform != "darwin" else kib / (1024 * 1024), process.returncode)


def directory_bytes(path: Path) -> int:
    """Bytes of the regular files under `path` (0 when it does not exist)."""
    if not path.exists():
        return 0
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink())
