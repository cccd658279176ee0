"""The synthetic demo workload: wire format, identity rules, realism and determinism."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from recorder.demo.workload import DEPLOYMENTS, DemoExecution, body_bytes, build_workload, iter_workload

TERMINAL_STATES = {"FULFILLED", "REJECTED"}


def events(execution: DemoExecution) -> list[dict]:
    return [json.loads(line) for line in execution.lines]


def node_events(execution: DemoExecution) -> list[dict]:
    return [e["data"] for e in events(execution) if e["type"] == "NODE"]


def ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def workload() -> list[DemoExecution]:
    return build_workload(executions=150, seed=7)


@pytest.fixture(scope="module")
def default_workload() -> list[DemoExecution]:
    return build_workload()


def test_same_seed_and_arguments_give_byte_identical_output() -> None:
    first, second = build_workload(executions=25, seed=3), build_workload(executions=25, seed=3)
    assert [body_bytes(e) for e in first] == [body_bytes(e) for e in second]
    def rest(executions: list[DemoExecution]) -> list[tuple]:
        return [(e.request, e.offsets_s, e.final_state) for e in executions]

    assert rest(first) == rest(second)


def test_another_seed_gives_another_workload() -> None:
    assert build_workload(executions=5, seed=1)[0].lines != build_workload(executions=5, seed=2)[0].lines


def test_iter_workload_yields_what_build_workload_returns() -> None:
    assert list(iter_workload(executions=30, seed=11)) == build_workload(executions=30, seed=11)


def test_every_line_is_one_compact_json_object_with_the_envelope_keys(workload) -> None:
    for execution in workload:
        for line in execution.lines:
            event = json.loads(line)
            assert list(event) == ["execution_id", "run_id", "external_id", "type", "data"]
            assert event["execution_id"] == execution.execution_id and event["type"] in ("WORKFLOW", "NODE")
            assert event["external_id"] == execution.request.get("external_id")
            assert line == json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def test_lines_contain_no_line_break_of_any_kind(workload) -> None:
    for execution in workload:
        for line in execution.lines:
            assert line.splitlines() == [line]  # also catches \r, U+2028, \x85, which httpx splits on


def test_body_bytes_is_the_lines_joined_by_newlines_in_utf8(default_workload) -> None:
    execution = default_workload[0]
    body = body_bytes(execution)
    assert body.endswith(b"\n") and body.decode("utf-8").splitlines() == list(execution.lines)


def test_each_execution_starts_with_workflow_initiated_and_ends_with_its_final_state(workload) -> None:
    for execution in workload:
        first, last = json.loads(execution.lines[0]), json.loads(execution.lines[-1])
        assert (first["type"], first["data"]["state"]) == ("WORKFLOW", "INITIATED")
        assert first["data"]["inputs"] and last["type"] == "WORKFLOW"
        assert last["data"]["state"] == execution.final_state in TERMINAL_STATES
        workflow_states = [e["data"]["state"] for e in events(execution) if e["type"] == "WORKFLOW"]
        assert sum(s in TERMINAL_STATES for s in workflow_states) == 1


def test_every_node_result_has_one_initiated_then_one_terminal_event(workload) -> None:
    for execution in workload:
        states: dict[str, list[str]] = defaultdict(list)
        for data in node_events(execution):
            states[data["node_result_id"]].append(data["state"])
        for sequence in states.values():
            assert sequence[0] == "INITIATED" and sequence[-1] in TERMINAL_STATES
            assert sequence.count("INITIATED") == 1 and sum(s in TERMINAL_STATES for s in sequence) == 1


def test_timestamps_are_iso_utc_with_microseconds_and_never_go_back(workload) -> None:
    for execution in workload:
        stamps = [e["data"]["ts"] for e in events(execution)]
        assert all(len(s) == 27 and s.endswith("Z") for s in stamps)
        assert stamps == sorted(stamps)


def test_some_neighbouring_events_share_a_timestamp(workload) -> None:
    stamps = [[e["data"]["ts"] for e in events(execution)] for execution in workload]
    assert any(a == b for s in stamps for a, b in pairwise(s))


def test_offsets_are_non_decreasing_and_track_the_timestamps(workload) -> None:
    for execution in workload:
        offsets = execution.offsets_s
        assert len(offsets) == len(execution.lines) and offsets[0] > 0
        assert all(a <= b for a, b in pairwise(offsets))
        stamps = [ts(e["data"]["ts"]) for e in events(execution)]
        elapsed = (stamps[-1] - stamps[0]).total_seconds()
        assert abs((offsets[-1] - offsets[0]) - elapsed) < 1e-5


def test_event_ids_are_fresh_uuid4s(workload) -> None:
    ids = [e["data"]["id"] for execution in workload for e in events(execution)]
    assert len(ids) == len(set(ids))
    assert all(len(i) == 36 and i[14] == "4" and i[19] in "89ab" for i in ids)


def test_previous_execution_ids_name_an_earlier_execution_or_a_deliberately_missing_one(workload) -> None:
    all_ids = {e.execution_id for e in workload}
    seen: set[str] = set()
    missing = chained = 0
    for execution in workload:
        previous = execution.request.get("previous_execution_id")
        if previous:
            chained += 1
            assert previous in seen or previous not in all_ids  # never a later execution
            missing += previous not in all_ids
        seen.add(execution.execution_id)
    assert 0.3 <= chained / len(workload) <= 0.55 and 0 < missing < chained / 3


def test_conversation_chains_are_at_most_five_long(workload) -> None:
    previous = {e.execution_id: e.request.get("previous_execution_id") for e in workload}
    for execution_id in previous:
        length = 1
        while previous.get(execution_id):
            execution_id, length = previous[execution_id], length + 1
        assert length <= 5


def test_requests_look_like_what_the_client_sends_and_carry_no_api_key(workload) -> None:
    for execution in workload:
        request = execution.request
        assert ("workflow_deployment_name" in request) != ("workflow_deployment_id" in request)
        assert request["event_types"] == ["WORKFLOW", "NODE"]
        assert all(set(i) == {"name", "type", "value"} for i in request["inputs"])
        assert "api_key" not in json.dumps(request).lower() and "x-api-key" not in json.dumps(request).lower()
    assert any("metadata" in e.request for e in workload) and any("release_tag" not in e.request for e in workload)
    assert any("workflow_deployment_id" in e.request for e in workload)
    assert any("external_id" in e.request for e in workload)


def test_the_default_workload_has_several_deployments_and_release_tags(default_workload) -> None:
    names = {e.request.get("workflow_deployment_name") for e in default_workload} - {None}
    tags = {(e.request.get("workflow_deployment_name"), e.request.get("release_tag")) for e in default_workload}
    assert len(names) >= 3 and len({t for _, t in tags if t}) >= 3
    assert any(sum(n == name for n, t in tags if t) >= 2 for name in names)  # one deployment on two tags


def test_the_default_workload_contains_streaming_prompts_children_and_failures(default_workload) -> None:
    payload_types = {(d["state"], (d["data"] or {}).get("type")) for e in default_workload for d in node_events(e)}
    assert {("STREAMING", "PROMPT"), ("FULFILLED", "SUBWORKFLOW"), ("FULFILLED", "MAP")} <= payload_types
    assert {"SEARCH", "TEMPLATING", "CODE_EXECUTION", "API", "CONDITIONAL", "TERMINAL"} <= {t for _, t in payload_types}
    assert any(d["source_execution_id"] for e in default_workload for d in node_events(e))
    assert {"FULFILLED", "REJECTED"} == {e.final_state for e in default_workload}


def test_failures_are_about_one_in_six(workload) -> None:
    assert 0.08 <= sum(e.final_state == "REJECTED" for e in workload) / len(workload) <= 0.28


def test_prompt_deltas_add_up_to_the_fulfilled_text(workload) -> None:
    checked = 0
    for execution in workload:
        deltas: dict[str, str] = defaultdict(str)
        for data in node_events(execution):
            payload = (data["data"] or {}).get("data") or {}
            if data["data"] and data["data"]["type"] == "PROMPT" and data["state"] == "STREAMING":
                deltas[data["node_result_id"]] += payload["delta"]
            elif data["data"] and data["data"]["type"] == "PROMPT" and data["state"] == "FULFILLED":
                assert deltas[data["node_result_id"]] == payload["text"] == data["output_values"][0]["value"]
                checked += 1
    assert checked > 50


def test_workflow_output_deltas_mirror_the_streamed_output(workload) -> None:
    checked = 0
    for execution in [e for e in workload if e.final_state == "FULFILLED"]:
        streamed: dict[str, str] = defaultdict(str)
        for event in events(execution):
            output = event["data"].get("output") if event["type"] == "WORKFLOW" else None
            if output and output["state"] == "STREAMING":
                streamed[output["name"]] += output["delta"]
        final = {o["name"]: o["value"] for o in json.loads(execution.lines[-1])["data"]["outputs"]}
        for name, text in streamed.items():
            assert final[name] == text
            checked += 1
    assert checked > 50


def test_each_workflow_output_goes_initiated_then_streaming_then_fulfilled(workload) -> None:
    for execution in workload:
        states: dict[str, list[str]] = defaultdict(list)
        for event in events(execution):
            if event["type"] == "WORKFLOW" and event["data"]["output"]:
                states[event["data"]["output"]["name"]].append(event["data"]["output"]["state"])
        for sequence in states.values():
            assert sequence[0] == "INITIATED" and sequence.count("INITIATED") == 1
            assert set(sequence[1:-1]) <= {"STREAMING"} and sequence.count("FULFILLED") <= 1
            assert execution.final_state == "REJECTED" or sequence[-1] == "FULFILLED"


def test_execution_meta_is_reported_only_when_expand_meta_asks_for_it(workload) -> None:
    for execution in workload:
        asked = execution.request.get("expand_meta")
        for data in node_events(execution):
            if data["state"] == "FULFILLED" and data["data"]["type"] == "PROMPT":
                meta = data["data"]["data"]["execution_meta"]
                assert (meta is not None) == bool(asked)
                if meta:
                    assert (meta["model_name"] is not None) == asked["model_name"]
                    assert meta["usage"]["output_token_count"] > 0


def test_children_of_subworkflows_and_maps_carry_their_child_execution_id(workload) -> None:
    for execution in workload:
        nodes = node_events(execution)
        children = {d["data"]["data"]["execution_id"] for d in nodes
                    if d["data"] and d["data"]["type"] == "SUBWORKFLOW"}
        for d in nodes:
            if d["data"] and d["data"]["type"] == "MAP" and d["state"] != "INITIATED":
                children.update(d["data"]["data"]["execution_ids"])
        sources = {d["source_execution_id"] for d in nodes} - {None}
        assert sources <= children and execution.execution_id not in sources


def test_map_iterations_rerun_a_node_with_distinct_node_result_ids(workload) -> None:
    found = False
    for execution in workload:
        by_node: dict[str, set[tuple]] = defaultdict(set)
        for d in node_events(execution):
            if d["source_execution_id"] and d["state"] == "INITIATED":
                by_node[d["node_id"]].add((d["node_result_id"], d["source_execution_id"]))
        for runs in by_node.values():
            if len(runs) > 1:
                found = True
                assert len({r for r, _ in runs}) == len({s for _, s in runs}) == len(runs)
    assert found


def test_parallel_branches_overlap_in_time(workload) -> None:
    def overlapping(execution: DemoExecution) -> bool:
        spans, open_ids = [], {}
        for position, d in enumerate(node_events(execution)):
            if d["state"] == "INITIATED":
                open_ids[d["node_result_id"]] = position
            elif d["state"] in TERMINAL_STATES:
                spans.append((open_ids[d["node_result_id"]], position))
        return any(a < c < b for a, b in spans for c, _ in spans)

    assert sum(overlapping(e) for e in workload) > len(workload) / 2


def test_a_failure_cancels_running_siblings_and_rejects_the_workflow_with_its_error(workload) -> None:
    cancelled = 0
    for execution in [e for e in workload if e.final_state == "REJECTED"]:
        rejected = [d for d in node_events(execution) if d["state"] == "REJECTED"]
        causes = [d for d in rejected if d["error"]["code"] != "NODE_CANCELLED"]
        top = [d for d in causes if d["source_execution_id"] is None]
        assert len(top) == 1 and json.loads(execution.lines[-1])["data"]["error"] == top[0]["error"]
        cancelled += len(rejected) - len(causes)
    assert cancelled > 0


def test_node_ids_are_stable_per_deployment_node(workload) -> None:
    def count(specs) -> int:
        return sum(1 + count(spec.children) for spec in specs)

    node_ids: dict[str, set[str]] = defaultdict(set)
    for execution in workload:
        name = execution.request.get("workflow_deployment_name")
        node_ids[name].update(d["node_id"] for d in node_events(execution))
    definitions = {d.name: count(d.nodes) for d in DEPLOYMENTS}
    assert all(len(node_ids[name]) <= total for name, total in definitions.items())
    assert len(node_ids["support-agent"]) == definitions["support-agent"]


def test_the_second_release_tag_regresses_one_node() -> None:
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    for execution in build_workload(executions=300, seed=5):
        if execution.request.get("workflow_deployment_name") != "support-agent":
            continue
        starts: dict[str, datetime] = {}
        for d in node_events(execution):
            if d["state"] == "INITIATED":
                starts[d["node_result_id"]] = ts(d["ts"])
            elif d["state"] == "FULFILLED":
                span = (ts(d["ts"]) - starts[d["node_result_id"]]).total_seconds()
                durations[(d["node_id"], execution.request.get("release_tag") or "production")].append(span)
    ratios = {node: statistics.median(durations[(node, "staging")]) / statistics.median(durations[(node, "production")])
              for node, tag in durations if tag == "production" and durations[(node, "staging")]}
    assert sum(r > 1.4 for r in ratios.values()) == 1 and len(ratios) >= 6


def test_start_sets_when_the_workload_begins() -> None:
    start = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    executions = build_workload(executions=10, start=start)
    first = ts(json.loads(executions[0].lines[0])["data"]["ts"])
    last = ts(json.loads(executions[-1].lines[-1])["data"]["ts"])
    assert start < first < start.replace(second=6) and last - start < (start.replace(hour=7) - start)


def test_the_deployments_describe_consistent_dags() -> None:
    def check(specs, where: str) -> None:
        seen: set[str] = set()
        for spec in specs:
            assert set(spec.after) <= seen, (where, spec.name)  # dependencies come first: a DAG in order
            seen.add(spec.name)
            check(spec.children, f"{where}/{spec.name}")

    for deployment in DEPLOYMENTS:
        check(deployment.nodes, deployment.name)
        assert len(deployment.release_tags) == 2 and deployment.regression[1] > 1
