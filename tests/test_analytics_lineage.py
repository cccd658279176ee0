"""Lineage along previous_execution_id: ancestors nearest first, descendants with depth, missing
links, cycles that end, chains 10,000 deep, and chain totals. Both backends."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from recorder.api import ExecutionNotFound, Recorder
from recorder.store import Store
from recorder.store.schema import Execution
from tests.test_analytics_timeline import StreamBuilder, sample_recorder  # noqa: F401 - a module-scoped fixture
from tests.test_samples import SAMPLE_NAMES, load_truth


def record_execution(store: Store, execution_id: str, previous: str | None = None, *, duration_ms: float = 10) -> None:
    """A minimal execution recorded through the real writer, continuing `previous`."""
    request = {"workflow_deployment_name": "chat", "inputs": []}
    if previous is not None:
        request["previous_execution_id"] = previous
    StreamBuilder(execution_id).workflow("INITIATED", 0).workflow("FULFILLED", duration_ms).record(store, request)


def insert_chain(store: Store, length: int) -> list[str]:
    """A chain of `length` execution rows written straight into the table (recording 10,000 streams
    one by one would take minutes; lineage reads only these rows)."""
    ids = [f"chain-{index:05d}" for index in range(length)]
    rows = [
        {"execution_id": execution_id, "previous_execution_id": ids[index - 1] if index else None, "root_execution_id": ids[0],
         "status": "FULFILLED", "started_at_us": 1_000_000 * index, "ended_at_us": 1_000_000 * index + 500, "event_count": 2}
        for index, execution_id in enumerate(ids)
    ]
    with store.engine.begin() as connection:
        store.backend.insert_ignore(connection, Execution.__table__, rows)
    return ids


@pytest.fixture
def recorder(store: Store) -> Recorder:
    return Recorder(store=store)


def test_sample_lineages_match_truth(sample_recorder: Recorder, samples_dir: Path) -> None:
    for name in SAMPLE_NAMES:
        truth = load_truth(samples_dir, name)["lineage"]
        lineage = sample_recorder.lineage(truth["execution_id"]).to_dict()
        for key in ("execution_id", "root_execution_id", "ancestors", "descendants", "missing", "cycle", "depth", "children"):
            assert lineage[key] == truth[key], (name, key)


def test_lineage_reports_an_unrecorded_ancestor_as_missing(store: Store, recorder: Recorder) -> None:
    record_execution(store, "parent", previous="never-recorded")
    record_execution(store, "child", previous="parent")
    lineage = recorder.lineage("child")
    assert (lineage.ancestors, lineage.missing, lineage.root_execution_id) == (("parent",), ("never-recorded",), "parent")


def test_a_cycle_is_reported_and_the_walk_ends(store: Store, recorder: Recorder) -> None:
    record_execution(store, "a", previous="c")
    record_execution(store, "b", previous="a")
    record_execution(store, "c", previous="b")
    lineage = recorder.lineage("a")
    assert lineage.cycle is True
    assert lineage.ancestors == ("c", "b")
    assert lineage.missing == ()


def test_a_cycle_member_is_an_ancestor_or_a_descendant_never_both(store: Store, recorder: Recorder) -> None:
    record_execution(store, "a", previous="c", duration_ms=10)
    record_execution(store, "b", previous="a", duration_ms=20)
    record_execution(store, "c", previous="b", duration_ms=40)
    lineage = recorder.lineage("a")
    assert (lineage.ancestors, lineage.descendants, lineage.cycle) == (("c", "b"), (), True)
    assert (lineage.chain_length, lineage.total_duration_ms) == (3, 70.0)
    assert sorted(lineage.frame()["execution_id"].to_list()) == ["a", "b", "c"]


def test_an_execution_naming_itself_is_a_cycle(store: Store, recorder: Recorder) -> None:
    record_execution(store, "selfish", previous="selfish")
    lineage = recorder.lineage("selfish")
    assert (lineage.cycle, lineage.ancestors, lineage.descendants) == (True, (), ())


def test_descendants_form_a_tree_breadth_first_with_depth(store: Store, recorder: Recorder) -> None:
    record_execution(store, "root")
    record_execution(store, "left", previous="root")
    record_execution(store, "right", previous="root")
    record_execution(store, "left-child", previous="left")
    lineage = recorder.lineage("root")
    assert [(d.execution_id, d.previous_execution_id, d.depth) for d in lineage.descendants] == [
        ("left", "root", 1), ("right", "root", 1), ("left-child", "left", 2)
    ]
    assert lineage.children == ["left", "right"]


def test_chain_aggregates_add_up_durations_of_every_member(store: Store, recorder: Recorder) -> None:
    record_execution(store, "first", duration_ms=100)
    record_execution(store, "second", previous="first", duration_ms=250)
    record_execution(store, "third", previous="second", duration_ms=40)
    lineage = recorder.lineage("second")
    assert (lineage.chain_length, lineage.total_duration_ms, lineage.total_cost_usd) == (3, 390.0, None)
    assert lineage.frame()["relation"].to_list() == ["ancestor", "self", "descendant"]


def test_chain_cost_sums_the_prompt_costs_of_its_members(sample_recorder: Recorder, samples_dir: Path) -> None:
    truth = load_truth(samples_dir, "exec_0004")
    members = {truth["execution_id"], *(d["execution_id"] for d in truth["lineage"]["descendants"])}
    reported = [load_truth(samples_dir, name) for name in SAMPLE_NAMES]
    expected = sum((other.get("prompt_usage_reported_total") or {}).get("cost_usd") or 0
                   for other in reported if other["execution_id"] in members)
    assert expected > 0
    assert sample_recorder.lineage(truth["execution_id"]).total_cost_usd == pytest.approx(expected)


def test_every_sample_lineage_costs_the_prompt_costs_its_members_reported(sample_recorder: Recorder, samples_dir: Path) -> None:
    reported = {truth["execution_id"]: (truth.get("prompt_usage_reported_total") or {}).get("cost_usd")
                for truth in (load_truth(samples_dir, name) for name in SAMPLE_NAMES)}
    for name in SAMPLE_NAMES:
        lineage = sample_recorder.lineage(load_truth(samples_dir, name)["execution_id"])
        members = [member.execution_id for member in lineage.members]
        assert lineage.costs_usd == pytest.approx({m: reported[m] for m in members if reported.get(m)}), name
        costs = [reported[m] for m in members if reported.get(m)]  # 0.0: no PROMPT run reported
        assert lineage.total_cost_usd == (pytest.approx(sum(costs)) if costs else None), name


def test_lineage_without_costs_leaves_them_out(sample_recorder: Recorder, samples_dir: Path) -> None:
    execution_id = load_truth(samples_dir, "exec_0004")["execution_id"]
    assert sample_recorder.analytics.lineage(execution_id, with_costs=False).total_cost_usd is None


def test_a_chain_10000_deep_is_walked_without_recursion(store: Store, recorder: Recorder) -> None:
    ids = insert_chain(store, 10_000)
    started = time.perf_counter()
    tail = recorder.lineage(ids[-1])
    head = recorder.lineage(ids[0])
    elapsed = time.perf_counter() - started
    assert len(tail.ancestors) == 9_999 and tail.ancestors[0] == ids[-2] and tail.root_execution_id == ids[0]
    assert len(head.descendants) == 9_999 and head.descendants[-1].depth == 9_999
    assert elapsed < 10  # both walks together; typically well under a second


def test_lineage_of_an_unknown_execution_raises_not_found(recorder: Recorder) -> None:
    with pytest.raises(ExecutionNotFound):
        recorder.lineage("nobody")
