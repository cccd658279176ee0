"""One simulated execution: schedule the DAG in simulated time, settle the failure, emit the
events and serialize them as the server would send them.

Each event is encoded to JSON once and split around its `ts` (and, for streaming chunks, its id
and delta), because building ~1M events for the benchmarks must be cheap. What a node sends while
it runs and when it ends depends on its kind: recorder.demo.node_events holds those, one function
per kind, looked up in explicit tables.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring
from typing import Any

from recorder.demo.deployments import CANCELLED, ERRORS, NODE_INPUTS, PRICES, Deployment, NodeSpec, walk_specs
from recorder.demo.random_values import fresh_id, jitter, stable_id

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMEOUT_US = 30_000_000
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
TS_HOLE, ID_HOLE, DELTA_HOLE = "@ts@", "@id@", "@delta@"  # holes in pre-encoded events


@dataclass(frozen=True)
class DemoExecution:
    """One request and its response, kept as raw lines because a recorder must store and replay bytes."""

    execution_id: str
    request: dict
    lines: tuple[str, ...]
    offsets_s: tuple[float, ...]
    final_state: str


def wire_value(kind: str, value):
    """The request leaves unset message fields out; the server echoes chat messages with all of them."""
    if kind != "CHAT_HISTORY":
        return value
    return [{"text": m["text"], "role": m["role"], "content": None, "source": None, "metadata": None} for m in value]


@dataclass(eq=False)
class Run:
    """One execution of a node (one node_result_id), scheduled in simulated microseconds."""

    spec: NodeSpec
    result_id: str
    source: str | None  # the child execution it runs in; None at top level
    parent: Run | None
    start: int
    end: int = 0
    cut: int = 0  # nothing it streams at or after this instant is sent
    fate: str = "ok"  # ok | fail | cancel | wrap (a container of the failure) | drop (never started)
    error: dict | None = None
    iterations: list = field(default_factory=list)  # (child execution id, start, end, child runs)
    text: str = ""
    prompt_exec: str | None = None


# What a node kind sends while it runs, and what it answers when it succeeds: its main output as
# (type, value), the FULFILLED payload and the output_values.
Fulfilled = tuple[tuple[str, Any], dict, list[dict]]
Streamer = Callable[["ExecutionBuilder", "Run"], None]
Fulfiller = Callable[["ExecutionBuilder", "Run"], Fulfilled]


class ExecutionBuilder:
    """Simulates one execution: schedule the DAG, settle the failure, emit events, serialize them."""

    def __init__(self, rng: random.Random, dep: Deployment, release: str, request: dict, t_req: int, *,
                 streamers: Mapping[str, Streamer], fulfillers: Mapping[str, Fulfiller]) -> None:
        """`streamers` and `fulfillers` (recorder.demo.node_events) say what each node kind sends
        while it runs and when it succeeds; they are handed in because they build on this class."""
        self.rng, self.dep, self.request, self.t_req = rng, dep, request, t_req
        self.streamers, self.fulfillers = streamers, fulfillers
        self.execution_id, run_id = fresh_id(rng), (fresh_id(rng) if rng.random() < 0.3 else None)
        self.slow = dep.regression if release == dep.release_tags[1] else ("", 1.0)
        self.model = dep.models[dep.release_tags.index(release)]
        self.inputs = {i["name"]: i["value"] for i in request["inputs"]}
        self.query = str(next(iter(self.inputs.values())))
        ids = f'"execution_id":"{self.execution_id}","run_id":{_ENCODE(run_id)}'
        self.envelope = f'{{{ids},"external_id":{_ENCODE(request.get("external_id"))},"type":"'
        self.events: list[tuple[int, int, str, str]] = []  # (ts, seq, line before ts, line after ts)
        self.values: dict[tuple, tuple[str, object]] = {}  # (source, node name) -> (type, value)
        self.streamed: set[str] = set()
        self.fail_run: Run | None = None
        self.wf_error: dict | None = None  # the WORKFLOW REJECTED error: the failing top-level node's
        self.fail_spec, self.fail_err = self._pick_failure()
        self.t0 = t_req + rng.randint(8_000, 45_000)

    def build(self) -> DemoExecution:
        runs, _ = self._schedule(self.dep.nodes, self.t0, None, None)
        t_end = self._settle(runs)
        self.push_workflow("INITIATED", self.t0, inputs=[
            {"id": stable_id(self.dep.name, "input", n), "name": n, "type": k, "value": wire_value(k, self.inputs[n])}
            for n, k in self.dep.inputs])
        for run in runs:
            self.emit(run)
        if self.fail_run:
            self.push_workflow("REJECTED", t_end, error=self.wf_error)
        else:
            self.push_workflow("FULFILLED", t_end, outputs=[
                {"id": stable_id(self.dep.name, "output", s.name), "name": s.name, "type": t, "value": v}
                for s in self.dep.nodes if s.kind == "TERMINAL" for t, v in [self.values[(None, s.name)]]])
        return self._serialize("REJECTED" if self.fail_run else "FULFILLED")

    # -- scheduling in simulated time -------------------------------------------------------------------------
    def _pick_failure(self) -> tuple[NodeSpec | None, tuple | None]:
        if self.rng.random() >= (0.24 if self.slow[1] > 1 else 0.13):
            return None, None
        options = [(s, e) for s in walk_specs(self.dep.nodes) for e in ERRORS.get(s.kind, ())]
        return self.rng.choices(options, weights=[e[4] for _, e in options])[0]

    def _duration(self, spec: NodeSpec) -> int:
        factor = self.slow[1] if spec.name == self.slow[0] else 1.0
        return max(200, int(spec.median_ms * 1000 * factor * self.rng.lognormvariate(0.0, 0.35)))

    def _schedule(self, specs: tuple[NodeSpec, ...], t: int, source: str | None, parent: Run | None):
        ends: dict[str, int] = {}
        runs: list[Run] = []
        for spec in specs:
            start = max([t] + [ends[d] for d in spec.after]) + jitter(self.rng, 100, 2500)
            run = Run(spec, fresh_id(self.rng), source, parent, start)
            run.end = self._schedule_children(run) if spec.children else start + self._duration(spec)
            if spec is self.fail_spec and self.fail_run is None:
                self._arm_failure(run)
            ends[spec.name] = run.end
            runs.append(run)
        return runs, max(ends.values())

    def _schedule_children(self, run: Run) -> int:
        count = int(self.inputs.get("max_sections", 3)) if run.spec.kind == "MAP" else 1
        end = run.start
        for i in range(count):  # map iterations run concurrently, started a little apart
            child, it_start = fresh_id(self.rng), run.start + (i + 1) * jitter(self.rng, 100, 1500)
            runs, it_end = self._schedule(run.spec.children, it_start, child, run)
            run.iterations.append((child, it_start, it_end, runs))
            end = max(end, it_end)
        return end + jitter(self.rng, 300, 2500)

    def _arm_failure(self, run: Run) -> None:
        code, message, raw, trace, _ = self.fail_err
        run.cut = run.start + int((run.end - run.start) * self.rng.uniform(0.2, 0.9))  # its output stops here
        run.end = run.start + _TIMEOUT_US if code == "NODE_TIMEOUT" else run.cut
        run.fate, run.error = "fail", {"message": message, "raw_data": raw, "code": code, "stacktrace": trace}
        self.fail_run = run

    def _settle(self, runs: list[Run]) -> int:
        """Give every run its fate now that the failure instant is known; return when the workflow ends."""
        everything = list(walk_runs(runs))
        for run in everything:
            run.cut = run.cut or run.end
        if self.fail_run is None:
            return max(r.end for r in runs) + jitter(self.rng, 500, 6000)
        fail, ancestors = self.fail_run, []
        while (parent := (ancestors[-1] if ancestors else fail).parent) is not None:
            ancestors.append(parent)
        t = fail.end
        for run in everything:  # whatever still runs is cancelled; whatever had not started never appears
            if run.fate != "ok" or run in ancestors or run.end <= fail.end:
                continue
            if run.start >= fail.end:
                run.fate = "drop"
                continue
            t += jitter(self.rng, 100, 1500)
            run.fate, run.cut, run.end = "cancel", fail.end, t
            run.error = {"message": CANCELLED[run.source in (fail.source, None)], "raw_data": None,
                         "code": "NODE_CANCELLED", "stacktrace": None}
        inner = fail
        for run in ancestors:  # deepest first: each container is rejected with its failed child's error
            t += jitter(self.rng, 100, 1500)
            run.fate, run.cut, run.end = "wrap", fail.end, t
            run.error = {"message": f"Subworkflow execution {inner.source} was rejected: {inner.error['message']}",
                         "raw_data": {"source_execution_id": inner.source, "inner_error_code": inner.error["code"]},
                         "code": "NODE_EXECUTION", "stacktrace": None}
            inner = run
        self.wf_error = dict(inner.error)
        return t + jitter(self.rng, 300, 2000)

    def definition_id(self, run: Run, *role: str) -> str:
        """The stable id of one of the node's definitions (the node itself, an output, an input, a port)."""
        return stable_id(self.dep.name, run.spec.name, *role)

    # -- events: each is encoded once, split around its ts -----------------------------------------------------
    def _encode(self, kind: str, data: dict) -> list[str]:
        return (self.envelope + kind + '","data":' + _ENCODE(data) + "}").split(f'"{TS_HOLE}"')

    def _push(self, ts: int, kind: str, data: dict) -> None:
        self.events.append((ts, len(self.events), *self._encode(kind, data)))

    def template(self, kind: str, data: dict) -> tuple[str, ...]:
        """A streaming event encoded once per run: only its id, ts and delta change from chunk to chunk."""
        head, tail = self._encode(kind, data)
        return (*head.split(f'"{ID_HOLE}"'), *tail.split(f'"{DELTA_HOLE}"'))

    def push_delta(self, ts: int, template: tuple[str, ...], delta: str) -> None:
        h0, h1, t0, t1 = template
        self.events.append((ts, len(self.events), f'{h0}"{fresh_id(self.rng)}"{h1}', t0 + encode_basestring(delta) + t1))

    @staticmethod
    def workflow_data(state: str, event_id: str, output=None, error=None, outputs=None, inputs=None) -> dict:
        return {"id": event_id, "state": state, "ts": TS_HOLE, "output": output, "error": error, "outputs": outputs,
                "inputs": inputs}

    def push_workflow(self, state: str, ts: int, **fields) -> None:
        self._push(ts, "WORKFLOW", self.workflow_data(state, fresh_id(self.rng), **fields))

    def workflow_output(self, name: str, state: str, kind: str, delta=None, value=None) -> dict:
        return {"id": stable_id(self.dep.name, "output", name), "name": name, "state": state,
                "node_id": stable_id(self.dep.name, name, "node"), "delta": delta, "type": kind, "value": value}

    def node_data(self, run: Run, state: str, event_id: str, payload, **tail) -> dict:
        return {"id": event_id, "node_id": self.definition_id(run, "node"), "node_result_id": run.result_id,
                "state": state, "ts": TS_HOLE, "data": payload, "source_execution_id": run.source, **tail}

    def push_node(self, run: Run, state: str, ts: int, payload, **tail) -> None:
        self._push(ts, "NODE", self.node_data(run, state, fresh_id(self.rng), payload, **tail))

    def emit(self, run: Run) -> None:
        """Push the run's events: INITIATED, what it streams, then REJECTED or FULFILLED."""
        if run.fate == "drop":
            return
        kind, name = run.spec.kind, run.spec.name
        initiated = self._payload(run, initiated=True)
        self.push_node(run, "INITIATED", run.start, initiated, input_values=self._input_values(run))
        root_terminal = kind == "TERMINAL" and run.source is None
        if root_terminal and name not in self.streamed:
            out_type = self.values[(None, run.spec.after[0])][0]
            self.push_workflow("STREAMING", run.start + 12, output=self.workflow_output(name, "INITIATED", out_type))
        stream = self.streamers.get(kind)
        if stream is not None:
            stream(self, run)
        if run.fate != "ok":
            self.push_node(run, "REJECTED", run.end, self._payload(run, initiated=False), error=run.error)
            return
        main, payload, output_values = self.fulfillers[kind](self, run)
        self.values[(run.source, name)] = main
        self.push_node(run, "FULFILLED", run.end, payload, output_values=output_values, mocked=False)
        if root_terminal:
            output = self.workflow_output(name, "FULFILLED", main[0], value=main[1])
            self.push_workflow("STREAMING", run.end + jitter(self.rng, 5, 40), output=output)

    def _payload(self, run: Run, initiated: bool) -> dict | None:
        """The payload of INITIATED and REJECTED events (SEARCH, API, CODE, TEMPLATING and TERMINAL send null)."""
        kind = run.spec.kind
        if kind == "PROMPT":
            return self.prompt_payload(run, exec_id=None if initiated else run.prompt_exec)
        ids = [it[0] for it in run.iterations if it[1] < run.cut]
        inner = {"SUBWORKFLOW": lambda: {"execution_id": ids[0] if ids else None},
                 "MAP": lambda: {"execution_ids": [] if initiated else ids,
                                 "iteration_state": None if initiated else "REJECTED"},
                 "CONDITIONAL": lambda: {"source_handle_id": None}}.get(kind)
        return {"type": kind, "data": inner()} if inner else None

    def prompt_payload(self, run: Run, exec_id=None, text=None, delta=None, meta=False) -> dict:
        return {"type": "PROMPT", "data": {
            "execution_meta": self._execution_meta(run) if meta else None,
            "output_id": self.definition_id(run, "output"),
            "array_output_id": self.definition_id(run, "array_output"),
            "execution_id": exec_id, "text": text, "delta": delta}}

    def _execution_meta(self, run: Run) -> dict | None:
        flags = self.request.get("expand_meta")
        if not flags:
            return None
        tokens_in, tokens_out = self.rng.randint(600, 5200), max(1, int(len(run.text.split()) * 1.3))
        price_in, price_out = PRICES[self.model]
        usage = {"output_token_count": tokens_out, "input_token_count": tokens_in, "input_char_count": None,
                 "output_char_count": None, "compute_nanos": None, "cache_creation_input_tokens": None,
                 "cache_read_input_tokens": self.rng.choice((0, 0, 512, 1024))}
        cost = {"value": round(tokens_in * price_in + tokens_out * price_out, 8), "unit": "USD"}
        return {"usage": usage if flags.get("usage") else None, "cost": cost if flags.get("cost") else None,
                "model_name": self.model if flags.get("model_name") else None}

    def _input_values(self, run: Run) -> list[dict]:
        keys = NODE_INPUTS.get(run.spec.kind, ())
        values = {"query": self.query, "text": self.query, "question": self.query, "limit": 8.0, "options": None,
                  "chat_history": wire_value("CHAT_HISTORY", self.inputs.get("chat_history", [])),
                  "url": f"https://api.example.com/{run.spec.name.replace('_', '-')}",
                  "authorization": {"name": "INTEGRATION_API_KEY"}, "body": {"q": self.query[:24]}} if keys else {}
        return [{"node_input_id": self.definition_id(run, "input", key), "key": key, "type": kind,
                 "value": values[key]} for key, kind in keys]

    # -- serialization ----------------------------------------------------------------------------------------
    def _serialize(self, final_state: str) -> DemoExecution:
        """Sort by time (creation order breaks ties) and stamp ``ts``; lines arrive one network latency later."""
        self.events.sort()
        seconds: dict[int, str] = {}
        lines = []
        for ts, _, head, tail in self.events:
            sec, micros = divmod(ts, 1_000_000)
            if sec not in seconds:
                seconds[sec] = (_EPOCH + timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S")
            lines.append(f'{head}"{seconds[sec]}.{micros:06d}Z"{tail}')
        base = self.t_req - self.rng.randint(300, 4000)  # when the request was sent, less the way back
        offsets = tuple((ts - base) / 1e6 for ts, _, _, _ in self.events)
        return DemoExecution(self.execution_id, self.request, tuple(lines), offsets, final_state)


def walk_runs(runs: list[Run]) -> Iterator[Run]:
    for run in runs:
        yield run
        for _, _, _, children in run.iterations:
            yield from walk_runs(children)
