"""A body cut into blocks of whole lines, hashed a block at a time.

The body's SHA-256 identifies a recording (identical bodies are one recording), and a rejected
line is keyed by the hash of the body up to and including it, so that the same line of the same
body is stored once however often the body is recorded. Hashing line by line cost a call per line;
a block of lines (what one read of the body completed) is hashed in one call instead, and the
hash as it stood before each block is kept until the block's lines are stored, so a reject found
in it, by this process or by the parse stage's (recorder.stream.parse_stage), still gets its key.
The hash is the same either way: the body's bytes in order.

Blocks are cut where the body says, after a `\\n`; the bytes after the last one wait for the next
read. A scrubber (the live path's secret scrubbing) sees each block before it is hashed, so the
hash is of what is stored.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Block:
    """Whole lines of a body, each ended by `\\n` except, at the body's end, an unterminated last one."""

    block_id: int
    data: bytes
    received_at_us: int


class BodyBlocks:
    """Cuts one body into blocks and keeps its hash. `cut` may run on another thread than
    `line_key` and `release_through` (bulk ingest reads on one thread and stores on another)."""

    def __init__(self, scrub: Callable[[bytes], bytes] | None = None) -> None:
        self._scrub = scrub
        self._sha = hashlib.sha256()
        self._pending = bytearray()
        self._next_id = 0
        self._size = 0
        # Blocks whose lines are not stored yet: the hash before each, and its bytes.
        self._held: dict[int, tuple[hashlib._Hash, bytes]] = {}
        self._lock = threading.Lock()

    def cut(self, chunk: bytes, received_at_us: int) -> Block | None:
        """The lines `chunk` completes, as one block (None while no line is complete)."""
        end = chunk.rfind(b"\n")
        if end < 0:
            self._pending += chunk
            return None
        if self._pending:
            self._pending += chunk[: end + 1]
            data = bytes(self._pending)
            self._pending = bytearray(chunk[end + 1 :])
        else:
            data = chunk[: end + 1] if end + 1 < len(chunk) else chunk
            self._pending = bytearray(chunk[end + 1 :])
        return self.whole(data, received_at_us)

    def end(self, received_at_us: int) -> Block | None:
        """The bytes after the body's last `\\n`, as a block of one unterminated line (None if none)."""
        if not self._pending:
            return None
        data = bytes(self._pending)
        self._pending.clear()
        return self.whole(data, received_at_us)

    def whole(self, data: bytes, received_at_us: int) -> Block:
        """`data`, whole lines already (one line and its `\\n`, say), as the body's next block."""
        if self._scrub is not None:
            data = self._scrub(data)
        with self._lock:
            block = Block(self._next_id, data, received_at_us)
            self._next_id += 1
            self._held[block.block_id] = (self._sha.copy(), data)
            self._sha.update(data)
            self._size += len(data)
        return block

    @property
    def size(self) -> int:
        """Bytes hashed so far."""
        return self._size

    def line_key(self, block_id: int, end: int) -> str:
        """The hash of the body up to byte `end` of block `block_id` (a line's end, `\\n` included)."""
        with self._lock:
            before, data = self._held[block_id]
        key = before.copy()
        key.update(memoryview(data)[:end])
        return key.hexdigest()

    def release_through(self, block_id: int) -> None:
        """Forget the blocks up to `block_id`: their lines are stored, their rejects keyed."""
        with self._lock:
            for held in [held for held in self._held if held <= block_id]:
                del self._held[held]

    def hexdigest(self) -> str:
        with self._lock:
            return self._sha.hexdigest()
