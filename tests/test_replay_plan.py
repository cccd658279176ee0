"""The replay plan: what goes out for a cassette, and how the exchange ends, for every replayer."""

from __future__ import annotations

from recorder.model.cassette import Cassette, Fault, Line, Request, Response
from recorder.model.vocabulary import Outcome
from recorder.replay.plan import plan_replay
from recorder.replay.timing import Timing

LINES = (Line(0, b'{"a":1}'), Line(0, b""), Line(5_000, b'{"b":2}'), Line(9_000, b'{"c":3}'))


def cassette(*, fault: Fault | None = None, status: int = 200, ends_with_newline: bool = True) -> Cassette:
    return Cassette(Request(), Response(status=status, lines=LINES, ends_with_newline=ends_with_newline), fault=fault)


def test_a_recording_without_a_fault_sends_its_body_as_received_and_completes() -> None:
    plan = plan_replay(cassette(ends_with_newline=False))
    assert plan.ending == Outcome.COMPLETE
    assert plan.body() == cassette(ends_with_newline=False).body()


def test_a_cut_sends_that_many_lines_each_with_its_newline() -> None:
    plan = plan_replay(cassette(fault=Fault(cut_after_lines=2), ends_with_newline=False))
    assert plan.ending == Outcome.CUT
    assert plan.body() == b'{"a":1}\n\n'


def test_a_cut_after_every_line_still_breaks_the_connection() -> None:
    plan = plan_replay(cassette(fault=Fault(cut_after_lines=10)))
    assert plan.ending == Outcome.CUT
    assert len(plan.lines) == len(LINES)


def test_a_fault_status_answers_its_error_instead_of_the_lines() -> None:
    plan = plan_replay(cassette(fault=Fault(first_byte_delay_s=0.5, status=503, cut_after_lines=1)))
    assert (plan.ending, plan.status, plan.faulted, plan.lines) == (Outcome.HTTP_ERROR, 503, True, ())
    assert plan.first_byte_delay_s == 0.5
    assert plan.headers == {"content-type": "application/json"}


def test_a_recorded_http_error_is_answered_with_its_recorded_body() -> None:
    plan = plan_replay(cassette(status=429))
    assert (plan.ending, plan.status, plan.faulted) == (Outcome.HTTP_ERROR, 429, False)
    assert plan.body() == cassette(status=429).body()


def test_recorded_timing_sends_lines_that_arrived_together_in_one_chunk() -> None:
    chunks = plan_replay(cassette()).chunks(Timing.recorded(speed=2))
    assert [(chunk.at_s, chunk.data) for chunk in chunks] == [(0.0, b'{"a":1}\n\n'), (0.0025, b'{"b":2}\n'), (0.0045, b'{"c":3}\n')]


def test_instant_timing_sends_the_body_at_once() -> None:
    chunks = plan_replay(cassette()).chunks(Timing.instant())
    assert [(chunk.at_s, chunk.data) for chunk in chunks] == [(0.0, cassette().body())]
