"""Execution id prefixes: a unique one resolves, an ambiguous one says so and names candidates,
and one matching nothing says that. Both backends."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from recorder.api import ExecutionNotFound, Recorder
from recorder.cli.main import cli
from recorder.store import Store
from tests.test_analytics_lineage import record_execution


@pytest.fixture
def recorder(store: Store) -> Recorder:
    for execution_id in ("ab12-first", "ab12-second", "ab34-third", "cd56-fourth"):
        record_execution(store, execution_id)
    return Recorder(store=store)


def test_a_unique_prefix_resolves(recorder: Recorder) -> None:
    assert recorder.resolve("ab3") == "ab34-third"
    assert recorder.resolve("ab12-first") == "ab12-first"


def test_an_ambiguous_prefix_says_so_and_names_the_candidates(recorder: Recorder) -> None:
    with pytest.raises(ExecutionNotFound) as raised:
        recorder.resolve("ab12")
    message = str(raised.value)
    assert "ambiguous" in message and "ab12-first" in message and "ab12-second" in message
    assert "no recorded execution" not in message


def test_a_prefix_shared_by_many_names_a_few_and_says_there_are_more(store: Store, recorder: Recorder) -> None:
    for index in range(8):
        record_execution(store, f"ee-{index}")
    with pytest.raises(ExecutionNotFound, match=r"more than 5 .*ee-0, ee-1, ee-2, ee-3, ee-4, \.\.\."):
        recorder.resolve("ee-")


def test_a_prefix_matching_nothing_says_nothing_matches(recorder: Recorder) -> None:
    with pytest.raises(ExecutionNotFound, match="no recorded execution matches 'zz'"):
        recorder.resolve("zz")


def test_the_cli_reports_an_ambiguous_prefix_in_one_line(store: Store, recorder: Recorder) -> None:
    result = CliRunner().invoke(cli, ["--db", store.url, "show", "ab"])
    assert result.exit_code == 1
    assert "ambiguous" in result.output and "ab12-first" in result.output
