"""What the parse stage's two processes say to each other (recorder.stream.parse_stage, parse_worker).

Messages are pickled objects on the worker's stdin and stdout: blocks and markers one way, prepared
batches and markers the other. Plain strings mark the protocol's steps, so both sides read them
without importing anything more.
"""

from __future__ import annotations

from dataclasses import dataclass

# Worker to parent, once its imports are done: it can take a preparer's state.
READY = "ready"
# Parent to worker: send what is prepared now (the parent has nothing more waiting).
HINT = "hint"
# Parent to worker: the body ended; worker to parent: that was the last batch.
END = "end"
# The worker sends a batch once it holds this many lines, at the latest.
BATCH_LINES = 512


@dataclass(frozen=True, slots=True)
class StageError:
    """The worker failed: its traceback, for the parent's error."""

    traceback: str
