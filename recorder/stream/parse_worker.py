"""The parse stage's process, started and driven by recorder.stream.parse_stage.

It reads pickled messages on stdin (a PreparerState, then blocks, flush hints and the end) and
writes pickled PreparedBatch objects on stdout. It imports the parser and the row layouts only,
never SQLAlchemy or a driver, so it is ready in a fraction of the time a full import takes.
Anything else it would print goes to stderr, which it shares with its parent.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback

from recorder.store.body_blocks import Block
from recorder.store.prepare import LinePreparer
from recorder.stream.stage_messages import BATCH_LINES, END, HINT, READY, StageError, read_message, write_message


def main() -> int:
    # The protocol owns stdout: keep a handle on it, and send stray prints to stderr instead.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    source = sys.stdin.buffer
    # The preparer's objects hold no reference cycles: collecting would only re-scan them.
    gc.disable()
    try:
        write_message(out, READY)
        preparer = LinePreparer(read_message(source))
        sent_through = preparer.state.last_block_id
        while True:
            message = read_message(source)
            if isinstance(message, Block):
                preparer.add_block(message)
                if preparer.pending < BATCH_LINES:
                    continue
            elif message != HINT and message != END:
                raise TypeError(f"unexpected message {message!r}")
            if preparer.state.last_block_id != sent_through:
                sent_through = preparer.state.last_block_id
                write_message(out, preparer.take(), deferred=True)
            if message == END:
                write_message(out, END)
                return 0
    except EOFError:
        return 0  # the parent went away (it stopped the stage): nothing is owed to anyone
    except BaseException:  # noqa: BLE001 - the parent raises it with this text
        try:
            write_message(out, StageError(traceback.format_exc()))
        except OSError:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
