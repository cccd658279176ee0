"""The parse stage: a process that prepares a recording's lines while the writer commits them.

Parsing a line, numbering it and folding its spans (recorder.store.prepare) costs about as much as
writing it, and Python runs one thread at a time, so on one process ingest costs their sum. Moved
to a process of its own (recorder.stream.parse_worker), parsing overlaps the writes: on two cores
ingest costs the larger of the two.

The writer hands over where its preparation stands (`RecordingWriter.hand_over`), between two
blocks; from then on it cuts and hashes the body's blocks (cheap: a few calls per read), the
process prepares them, and the writer commits the batches that come back, in order. Nothing is
lost or reordered at the handover: the process continues the very state the writer stopped at.
Memory stays bounded: blocks wait in a pipe, batches in a queue of about one bulk commit's lines,
and each side blocks when the other falls that far behind.

A failure on either side stops both: a dead process fails the writer's next read
(`ParseStageFailed`, with the process's traceback when it had one), and `close` ends the process
when the writer fails. What was committed stays committed; the recording is left `in_progress`,
as after any failure mid-stream.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recorder.model.timestamps import now_us
from recorder.store.body_blocks import Block
from recorder.store.prepare import PreparedBatch, PreparerState
from recorder.stream.stage_messages import END, HINT, READY, StageError, read_frame, write_message

if TYPE_CHECKING:
    from recorder.store.writer import RecordingWriter

# Prepared batches (as sent, ~0.9 KB a line) that may wait for the writer: ~70,000 lines. A bulk
# commit (50,000 lines) takes the writer away for a while, and the process must be able to go on
# preparing meanwhile, or the two sides take turns instead of working at once. Counted in bytes,
# not batches: a batch is a whole block, whose lines depend on how the body was read (a 1 MiB read
# of a file is ~1,500 lines), and memory is what the bound is for.
MAX_WAITING_BYTES = 64 << 20
PIPE_BYTES = 1 << 20
# The fewest lines bulk ingest commits while it waits for the process (fewer: it waits for more).
MIN_IDLE_COMMIT = 2_048


_BOOT = (
    "import sys; root = sys.argv[1]; root in sys.path or sys.path.insert(0, root); "
    "from recorder.stream.parse_worker import main; sys.exit(main())"
)


logger = logging.getLogger("recorder")


class ParseStageFailed(RuntimeError):
    """The parse process died or failed; the message says how."""


def start_stage() -> ParseStage | None:
    """A parse process starting up, or None (logged once) where none can be started (a sandbox
    that forbids it, no executable) or PARSE_PROCESS_ENV turns it off: the caller then goes on
    preparing lines itself."""
    global _cannot_start
    if _cannot_start:
        return None
    if os.environ.get(PARSE_PROCESS_ENV, "").strip().lower() in _OFF:
        # An application that must not spawn processes (or a one-core container) says so once.
        return None
    try:
        return ParseStage()
    except OSError as exc:
        _cannot_start = True
        logger.warning("recorder: cannot start a parse process (%s); lines are parsed in this process", exc)
        return None


_cannot_start = False
# Set to 0/off/false/no, lines are always prepared in the recording process: no process is spawned.
PARSE_PROCESS_ENV = "RECORDER_PARSE_PROCESS"
_OFF = frozenset({"0", "off", "false", "no"})


class ParseStage:
    """One parse process for one recording. Start it early: it is usable once `ready`."""

    def __init__(self) -> None:
        # Isolated (-I: no current directory, no PYTHONPATH on the path), then given the folder
        # this recorder was imported from: the process runs this very code, whatever else is around.
        package_root = str(Path(__file__).resolve().parents[2])
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, package_root], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for pipe in (self._process.stdin, self._process.stdout):
            _widen(pipe)
        self._ready = threading.Event()
        self._batches: queue.Queue[Any] = queue.Queue()
        # Bytes of batches queued and not yet taken; the receiver waits while there are too many.
        self._waiting_bytes = 0
        self._room = threading.Condition()
        self._stopping = False
        self.begun = False
        self._receiver = threading.Thread(target=self._receive, name="recorder-parse-stage", daemon=True)
        self._receiver.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def exit_code(self) -> int | None:
        """The process's exit status once it has ended (negative: the signal that ended it)."""
        return self._process.poll()

    @property
    def ready(self) -> bool:
        """Whether the process is up (or already gone: `begin` then says why)."""
        return self._ready.is_set()

    @property
    def usable(self) -> bool:
        """Whether it is up and still running: a writer may hand over to it."""
        return self._ready.is_set() and self._process.poll() is None

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        return self._ready.wait(timeout_s)

    def begin(self, state: PreparerState) -> None:
        """Continue a stream's preparation from `state` (RecordingWriter.hand_over)."""
        self._send(state)
        self.begun = True

    def submit(self, block: Block) -> None:
        """Prepare the next block; blocks while the process is that far behind."""
        self._send(block)

    def hint(self) -> None:
        """Ask for what is prepared so far (a live stream has nothing more waiting)."""
        self._send(HINT)

    def end(self) -> None:
        """The body ended: the process sends its last batch and exits."""
        self._send(END)

    def next_batch(self, timeout_s: float | None = None) -> PreparedBatch | None:
        """The next prepared batch, None after the last one; raises queue.Empty after `timeout_s`."""
        message = self._batches.get(timeout=timeout_s)
        if isinstance(message, bytes):
            with self._room:
                self._waiting_bytes -= len(message)
                self._room.notify()
            return pickle.loads(message)  # a batch, built here, on the thread that commits it
        if isinstance(message, ParseStageFailed):
            raise message
        if isinstance(message, StageError):
            raise ParseStageFailed(f"the parse process failed:\n{message.traceback}")
        return None if message == END else message

    def close(self) -> None:
        """Stop the process (at once, unless it already finished) and its reader thread."""
        self._stopping = True
        with self._room:  # a receiver waiting for room stops waiting
            self._room.notify_all()
        if self._receiver.is_alive():
            self._process.kill()  # it has not finished: nothing it would still send is wanted
        try:
            self._process.stdin.close()
        except OSError:
            pass
        self._process.wait()
        while self._receiver.is_alive():  # it may wait to queue a batch nobody will take
            try:
                self._batches.get(timeout=0.05)
            except queue.Empty:
                pass
        self._process.stdout.close()
        self._batches.put_nowait(ParseStageFailed("the parse stage was stopped"))  # wakes a thread waiting for a batch

    def _send(self, message: object) -> None:
        try:
            write_message(self._process.stdin, message)
        except (OSError, ValueError) as exc:  # a closed pipe: the process is gone
            raise ParseStageFailed(self._how_it_died()) from exc

    def _how_it_died(self) -> str:
        code = self._process.wait()
        if code < 0:
            return f"the parse process was killed ({signal.Signals(-code).name}) before the body ended"
        return f"the parse process exited (code {code}) before the body ended"

    def _receive(self) -> None:
        try:
            while True:
                deferred, data = read_frame(self._process.stdout)
                if deferred:
                    with self._room:
                        while self._waiting_bytes >= MAX_WAITING_BYTES and not self._stopping:
                            self._room.wait()
                        self._waiting_bytes += len(data)
                    self._batches.put(data)
                    continue
                message = pickle.loads(data)
                if message == READY:
                    self._ready.set()
                    continue
                self._batches.put(message)
                if message == END or isinstance(message, StageError):
                    return
        except Exception as exc:  # noqa: BLE001 - the writer's thread raises it
            if not self._stopping:
                self._batches.put(ParseStageFailed(f"{self._how_it_died()} ({exc!r})"))
        finally:
            self._ready.set()


def _widen(pipe: Any) -> None:
    """Let a pipe hold a whole block or batch (Linux: 64 KiB by default, up to 1 MiB unprivileged),
    so neither side waits for the other to be scheduled to move the next one along."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):  # not Linux, or a lower system limit: the default still works
        pass


def record_in_stage(writer: RecordingWriter, chunks: Iterator[bytes], stage: ParseStage) -> None:
    """Record the rest of a body through `stage` (ready): a reader thread cuts and hashes the
    chunks into blocks and submits them, this thread commits what comes back."""
    stage.begin(writer.hand_over())
    failure: list[BaseException] = []

    def read() -> None:
        try:
            for chunk in chunks:
                block = writer.cut(chunk, now_us())
                if block is not None:
                    stage.submit(block)
            last = writer.cut_end()
            if last is not None:
                stage.submit(last)
            stage.end()
        except BaseException as exc:  # noqa: BLE001 - raised on the writer's thread
            failure.append(exc)
            stage.close()

    reader = threading.Thread(target=read, name="recorder-stage-reader", daemon=True)
    reader.start()
    try:
        while True:
            try:
                batch = stage.next_batch(0)
            except queue.Empty:
                # Nothing prepared yet: commit what is here rather than wait with it, so the
                # writer keeps up, and little is left to commit once the process is done.
                if writer.pending >= MIN_IDLE_COMMIT:
                    writer.flush()
                    continue
                batch = stage.next_batch()
            if batch is None:
                break
            writer.add_prepared(batch)
    except ParseStageFailed:
        reader.join()
        if failure:
            raise failure[0] from None
        raise
    except BaseException:
        stage.close()
        reader.join()
        raise
    reader.join()
