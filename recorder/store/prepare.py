"""Turning a stream's lines into what the store writes: the parsing stage of a recording.

Everything a recording does per line that needs no database happens here: splitting blocks into
lines, parsing them, numbering each execution's events, gathering each execution's facts and
drafting its spans. What comes out is a `PreparedBatch` of ready rows that the writer
(recorder.store.writer) commits. The preparer keeps no connection and no handle, and its state
pickles, so it runs in the writer's thread for small bodies and in a process of its own
(recorder.stream.parse_stage) for large ones and for a live stream that falls behind: on two cores
ingest then costs the larger of parsing and writing rather than their sum.

A rejected line leaves its block and end offset with the batch: its key is the hash of the body up
to it, which the side that hashed the body gives (recorder.store.body_blocks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recorder.model.clean_lines import read_clean_line
from recorder.model.events import ParsedEvent, RejectedLine, parse_line, parse_line_exactly
from recorder.model.facts import ExecutionFacts
from recorder.model.lines import RawLine
from recorder.store.body_blocks import Block
from recorder.store.event_rows import event_row
from recorder.store.span_drafts import SpanDraft, SpanDrafts

ParsedCallback = Callable[[ParsedEvent | RejectedLine], None]


@dataclass(frozen=True, slots=True)
class PreparedReject:
    """A rejected line and where its body's hash finds it (its block, the offset after its end)."""

    line: RejectedLine
    received_at_us: int
    block_id: int
    end: int


@dataclass(slots=True)
class PreparedBatch:
    """Lines ready for one commit: event rows (all but their change cursor), rejects, the facts of
    the executions they touch, their drafted spans, and how much of the body this covers."""

    event_rows: list[tuple[Any, ...]] = field(default_factory=list)
    rejects: list[PreparedReject] = field(default_factory=list)
    facts: dict[str, ExecutionFacts] = field(default_factory=dict)
    # Drafts of the touched executions that have one (recorder.store.span_drafts); None: spans off.
    drafts: dict[str, SpanDraft] | None = None
    blank_lines: list[list[Any]] = field(default_factory=list)
    lines: int = 0  # lines of the body so far
    ends_with_newline: bool = True
    last_block_id: int = -1  # every block up to this one is in this batch or an earlier one

    @property
    def size(self) -> int:
        """Lines that will be stored (events and rejects)."""
        return len(self.event_rows) + len(self.rejects)

    def then(self, later: PreparedBatch) -> None:
        """Add what a commit stores of the next batch of the same stream: its event rows, facts and
        span drafts (the writer commits several batches as one, and keeps their rejects, blank
        lines and framing itself)."""
        self.event_rows += later.event_rows
        if self.drafts is not None and later.drafts is not None:
            for execution_id in later.facts:
                draft, next_draft = self.drafts.get(execution_id), later.drafts.get(execution_id)
                if next_draft is None or (draft is None and execution_id in self.facts):
                    # Part of its events came without a draft: the store folds the whole batch of them.
                    self.drafts.pop(execution_id, None)
                elif draft is None:
                    self.drafts[execution_id] = next_draft
                else:
                    draft.then(next_draft)
        self.facts.update(later.facts)


@dataclass(slots=True)
class PreparerState:
    """Where a stream's preparation stands between batches: what a preparer continues from."""

    recording_id: int
    spans: bool = True
    next_position: int = 0
    next_seq: dict[str, int] = field(default_factory=dict)
    facts: dict[str, ExecutionFacts] = field(default_factory=dict)
    drafts: SpanDrafts | None = None
    ends_with_newline: bool = True
    last_block_id: int = -1


class LinePreparer:
    """Prepares one stream's lines, block by block (or line by line), into batches."""

    def __init__(self, state: PreparerState) -> None:
        if state.spans and state.drafts is None:
            state.drafts = SpanDrafts()
        self._state = state
        self._batch = PreparedBatch(drafts={} if state.spans else None)

    @property
    def state(self) -> PreparerState:
        """The state to continue from elsewhere; take the pending batch first."""
        return self._state

    @property
    def pending(self) -> int:
        """Lines prepared since the last `take`."""
        return self._batch.size

    def add_block(self, block: Block, on_parsed: ParsedCallback | None = None) -> None:
        """Prepare a block's lines; `on_parsed` is told what each line was. (The loop of the parse
        stage's process: `add_line`'s steps, inlined.)"""
        data = block.data
        lines = data.split(b"\n")
        terminated_last = data.endswith(b"\n")
        if terminated_last:
            lines.pop()  # the empty piece after the last `\n`
        state, batch = self._state, self._batch
        received_at_us, block_id = block.received_at_us, block.block_id
        position, last, end = state.next_position, len(lines) - 1, 0
        for index, text in enumerate(lines):
            end += len(text) + 1
            terminated = terminated_last or index != last
            # parse_line's two steps, the fast one without the RawLine only the exact one reads.
            parsed = read_clean_line(position, text) or parse_line_exactly(RawLine(position, text, terminated))
            if parsed.__class__ is ParsedEvent:
                self._take_event(parsed, received_at_us)  # type: ignore[arg-type]
            elif parsed is None:
                if text:
                    batch.blank_lines.append([position, text.decode("utf-8", errors="replace")])
            else:
                batch.rejects.append(PreparedReject(parsed, received_at_us, block_id, end if terminated else end - 1))  # type: ignore[arg-type]
            if parsed is not None and on_parsed is not None:
                on_parsed(parsed)
            position += 1
        if lines:
            state.next_position, state.ends_with_newline = position, terminated_last
        state.last_block_id = block_id

    def add_line(self, line: RawLine, received_at_us: int, block_id: int, end: int) -> ParsedEvent | RejectedLine | None:
        """Prepare one line, which ends at byte `end` of block `block_id`."""
        state = self._state
        state.next_position = max(state.next_position, line.position + 1)
        state.ends_with_newline = line.terminated
        state.last_block_id = block_id
        parsed = parse_line(line)
        if parsed is None:
            if line.data:
                self._batch.blank_lines.append([line.position, line.data.decode("utf-8", errors="replace")])
        elif isinstance(parsed, RejectedLine):
            self._batch.rejects.append(PreparedReject(parsed, received_at_us, block_id, end))
        else:
            self._take_event(parsed, received_at_us)
        return parsed

    def add_parsed(self, event: ParsedEvent, received_at_us: int) -> None:
        """Prepare an event parsed elsewhere."""
        self._state.next_position = max(self._state.next_position, event.position + 1)
        self._take_event(event, received_at_us)

    def _take_event(self, event: ParsedEvent, received_at_us: int) -> None:
        state = self._state
        execution_id = event.execution_id
        seq = state.next_seq.get(execution_id, 0)
        state.next_seq[execution_id] = seq + 1
        row = event_row(event, state.recording_id, received_at_us, seq)
        self._batch.event_rows.append(row)
        facts = state.facts.get(execution_id)
        if facts is None:
            facts = state.facts[execution_id] = ExecutionFacts(execution_id)
        facts.observe(event)
        self._batch.facts[execution_id] = facts
        if state.drafts is not None:
            state.drafts.add(event, row)

    def take(self) -> PreparedBatch:
        """The lines prepared since the last call, as one batch."""
        state = self._state
        batch = self._batch
        if state.drafts is not None:
            ended = {execution_id for execution_id, facts in batch.facts.items() if facts.terminal_state is not None}
            batch.drafts = state.drafts.take(ended)
        batch.lines = state.next_position
        batch.ends_with_newline = state.ends_with_newline
        batch.last_block_id = state.last_block_id
        self._batch = PreparedBatch(drafts={} if state.spans else None)
        return batch
