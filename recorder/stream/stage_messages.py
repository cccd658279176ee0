"""What the parse stage's two processes say to each other (recorder.stream.parse_stage, parse_worker).

Messages are pickled objects on the worker's stdin and stdout: blocks and markers one way, prepared
batches and markers the other. Plain strings mark the protocol's steps, so both sides read them
without importing anything more. Each message goes as its length and then its bytes, so the
reading side takes it in one read: a thread that unpickled straight from the pipe gave up the GIL
at every buffer refill and waited to get it back each time, while the other side waited on it. A
prepared batch is unpickled only by the thread that commits it: a receiving thread that built
every batch's objects held the GIL the writer needed between its database calls.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from typing import BinaryIO

_LENGTH_BYTES = 8

# Worker to parent, once its imports are done: it can take a preparer's state.
READY = "ready"
# Parent to worker: send what is prepared now (the parent has nothing more waiting).
HINT = "hint"
# Parent to worker: the body ended; worker to parent: that was the last batch.
END = "end"
# The worker sends a batch once a block brings it to at least this many lines (a block is whole:
# from a 1 MiB read, ~1,500 lines; a live stream's blocks are a few lines each).
BATCH_LINES = 512


@dataclass(frozen=True, slots=True)
class StageError:
    """The worker failed: its traceback, for the parent's error."""

    traceback: str


def write_message(out: BinaryIO, message: object, *, deferred: bool = False) -> None:
    """Send one message; `deferred` lets the reader keep it as bytes and unpickle it later, on the
    thread that uses it (a prepared batch). Pickled without a memo: no message holds an object twice
    or a cycle, and memoizing the ~15 objects of every row was half the cost of pickling a batch."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(message)
    data = buffer.getbuffer()
    out.write(len(data).to_bytes(_LENGTH_BYTES, "little") + (b"\x01" if deferred else b"\x00"))
    out.write(data)
    out.flush()


def read_frame(source: BinaryIO) -> tuple[bool, bytes]:
    """The next message as sent: whether it may be unpickled later, and its bytes. EOFError when
    the other side has closed its end."""
    header = source.read(_LENGTH_BYTES + 1)
    if len(header) < _LENGTH_BYTES + 1:
        raise EOFError("the other side closed the pipe")
    length = int.from_bytes(header[:_LENGTH_BYTES], "little")
    data = source.read(length)
    if len(data) < length:
        raise EOFError("the other side closed the pipe mid-message")
    return header[_LENGTH_BYTES] == 1, data


def read_message(source: BinaryIO) -> object:
    """The next message, unpickled."""
    return pickle.loads(read_frame(source)[1])
