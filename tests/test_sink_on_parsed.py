"""A failing `on_parsed` callback (the live view) never costs the recording a line.

The callback runs on the sink's writer thread; text from the wire can make a display raise (rich
reads `[/INST]` as a closing markup tag). Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from recorder.cli.main import cli
from recorder.demo.server import LoopbackVellum, Scenario
from recorder.model.events import ParsedEvent, RejectedLine
from recorder.store import Outcome, Store
from recorder.stream.sink import StreamSink

API_KEY = "k-on-parsed-test"
EXECUTION_ID = "41880407-fe2c-47cf-9400-e35c77fba7fe"


@pytest.fixture
def wire_lines(samples_dir: Path) -> list[bytes]:
    """exec_0001 (REJECTED by a failing node) with rich-markup-looking text in the node's error."""
    lines = (samples_dir / "exec_0001.ndjson").read_bytes().splitlines()
    marked = [line.replace(b"Model host returned HTTP 529", b"[/INST] Model host returned [bold]HTTP 529") for line in lines]
    assert marked != lines
    return marked


class FailingDisplay:
    """A callback that raises on every event after the first, and remembers what it was given."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, parsed: ParsedEvent | RejectedLine) -> None:
        self.seen.append(parsed.position)
        if len(self.seen) > 1:
            raise ValueError(f"cannot display line {parsed.position}")


def test_a_failing_callback_loses_no_line_and_is_logged_once(store: Store, wire_lines: list[bytes], caplog: pytest.LogCaptureFixture) -> None:
    display = FailingDisplay()
    sink = StreamSink(store, source="test", request=None, on_parsed=display)
    body = b"\n".join(wire_lines) + b"\n"
    for start in range(0, len(body), 97):
        sink.feed(body[start : start + 97])
    with caplog.at_level(logging.WARNING, logger="recorder"):
        result = sink.close()
    assert result.outcome == Outcome.COMPLETE and result.execution_ids == [EXECUTION_ID]
    assert [event.raw.encode() for event in store.events(EXECUTION_ID)] == wire_lines
    assert display.seen == list(range(len(wire_lines)))  # still called after it failed
    [warning] = [record for record in caplog.records if "on_parsed" in record.getMessage()]
    assert warning.exc_info is not None and "cannot display line 1" in str(warning.exc_info[1])


def test_record_keeps_every_line_when_the_wire_holds_markup(store_url: str, wire_lines: list[bytes]) -> None:
    with LoopbackVellum(api_key=API_KEY) as server:
        server.enqueue(Scenario(lines=wire_lines))
        result = CliRunner().invoke(cli, ["--db", store_url, "record", "--deployment", "support-agent", "--base-url", server.base_url],
                                    env={"VELLUM_API_KEY": API_KEY})
    assert result.exit_code == 1, result.output  # the workflow was REJECTED, and that is what is reported
    with Store(store_url) as store:
        assert store.execution(EXECUTION_ID).status == "REJECTED"
        assert [event.raw.encode() for event in store.events(EXECUTION_ID)] == wire_lines
