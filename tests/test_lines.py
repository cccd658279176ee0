"""Line framing: split on \\n only, whatever the chunking, keeping every byte."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from recorder.model.lines import LineSplitter, iter_lines, split_body


def test_lines_split_on_newline_only_not_on_unicode_separators() -> None:
    body = '{"a":"x\u2028y\u2029z\x85w"}\n{"b":1}\n'.encode()
    lines = split_body(body)
    assert [line.data.decode() for line in lines] == ['{"a":"x\u2028y\u2029z\x85w"}', '{"b":1}']


def test_carriage_return_stays_in_the_line_it_ends() -> None:
    lines = split_body(b'{"a":1}\r\n{"b":2}\r\n')
    assert [line.data for line in lines] == [b'{"a":1}\r', b'{"b":2}\r']


def test_positions_count_every_line_including_blank_ones() -> None:
    lines = split_body(b"\nA\n\nB\n")
    assert [(line.position, line.data, line.is_blank) for line in lines] == [
        (0, b"", True),
        (1, b"A", False),
        (2, b"", True),
        (3, b"B", False),
    ]


def test_a_body_without_final_newline_ends_with_an_unterminated_line() -> None:
    lines = split_body(b"A\nB")
    assert lines[-1].data == b"B" and not lines[-1].terminated
    assert lines[0].terminated


def test_an_empty_body_has_no_lines() -> None:
    assert split_body(b"") == []


def test_splitter_holds_a_partial_line_until_its_newline_arrives() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'{"a":') == []
    assert splitter.pending == b'{"a":'
    lines = splitter.feed(b'1}\n{"b"')
    assert [line.data for line in lines] == [b'{"a":1}']
    assert splitter.finish().data == b'{"b"'


@given(st.binary(max_size=400), st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_chunking_yields_the_same_lines(body: bytes, cuts: list[int]) -> None:
    points = sorted({min(cut, len(body)) for cut in cuts})
    chunks = [body[start:end] for start, end in zip([0, *points], [*points, len(body)])]
    assert list(iter_lines(chunks)) == split_body(body)


@given(st.binary(max_size=400))
def test_lines_rejoin_into_the_exact_body(body: bytes) -> None:
    lines = split_body(body)
    rebuilt = b"".join(line.data + (b"\n" if line.terminated else b"") for line in lines)
    assert rebuilt == body
