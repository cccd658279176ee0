"""A deterministic, production-looking workload of Vellum ``execute-workflow-stream`` responses.

Why: ``recorder demo``, the tests and the benchmarks need realistic streams without a Vellum account. Every
line follows docs/wire-format.md in the "full" wire style (nulls written, keys in the samples' order), so what the
recorder handles here it handles in production: four deployments with stable DAGs (node ids are uuid5 of
deployment/node, as a server keeps them), two release tags each (the second is slower on one node, so a release
comparison shows a regression), streaming prompts mirrored as WORKFLOW output deltas, parallel branches whose
events interleave, subworkflow and map children tagged with ``source_execution_id``, ~16% failures with cancelled
siblings, and ``previous_execution_id`` chains, a few pointing at an ancestor never recorded.
Same seed and arguments give byte-identical output.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from json.encoder import encode_basestring

__all__ = ["DEFAULT_START", "DEPLOYMENTS", "DemoExecution", "Deployment", "NodeSpec",
           "body_bytes", "build_workload", "iter_workload"]

DEFAULT_START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SPAN_US = 3 * 3600 * 1_000_000  # requests are spread over about three hours
_TIMEOUT_US = 30_000_000
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_NS = uuid.UUID("6f1d3c1e-6a57-4c55-9d0e-2b1a0c7d5e42")
_TS, _ID, _DELTA = "@ts@", "@id@", "@delta@"  # holes in pre-encoded events


@dataclass(frozen=True)
class DemoExecution:
    """One request and its response, kept as raw lines because a recorder must store and replay bytes."""

    execution_id: str
    request: dict
    lines: tuple[str, ...]
    offsets_s: tuple[float, ...]
    final_state: str


@dataclass(frozen=True)
class NodeSpec:
    """A node definition; ids derive from deployment and ``name``, so they are the same in every run.

    A TERMINAL's name is the workflow output it produces; a root PROMPT's ``feeds`` names the TERMINAL it
    streams into. ``children`` is the body of a SUBWORKFLOW or MAP node.
    """

    name: str
    kind: str
    after: tuple[str, ...] = ()
    median_ms: float = 0.6
    feeds: str = ""
    out_type: str = "STRING"
    children: tuple[NodeSpec, ...] = ()


@dataclass(frozen=True)
class Deployment:
    """A workflow deployment; on ``release_tags[1]`` node ``regression[0]`` runs ``regression[1]`` times slower."""

    name: str
    release_tags: tuple[str, str]
    models: tuple[str, str]
    inputs: tuple[tuple[str, str], ...]
    nodes: tuple[NodeSpec, ...]
    regression: tuple[str, float]
    weight: float
    conversational: bool = False

    @property
    def deployment_id(self) -> str:
        return _sid(self.name, "deployment")


def _n(name: str, kind: str, *after: str, ms: float = 0.6, **kw) -> NodeSpec:
    return NodeSpec(name, kind, after, ms, **kw)


DEPLOYMENTS: tuple[Deployment, ...] = (
    Deployment("support-agent", ("production", "staging"), ("gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022"),
               (("query", "STRING"), ("chat_history", "CHAT_HISTORY"), ("customer_id", "STRING")), (
        _n("retrieve_docs", "SEARCH", ms=320), _n("lookup_customer", "API", ms=420),
        _n("build_prompt", "TEMPLATING", "retrieve_docs", ms=8),
        _n("policy_guard", "SUBWORKFLOW", "build_prompt", children=(
            _n("classify_intent", "PROMPT", ms=700), _n("verdict", "TERMINAL", "classify_intent"))),
        _n("draft_answer", "PROMPT", "build_prompt", ms=1900, feeds="answer"),
        _n("route", "CONDITIONAL", "draft_answer", "policy_guard", ms=2),
        _n("answer", "TERMINAL", "draft_answer"), _n("customer", "TERMINAL", "lookup_customer")),
        ("draft_answer", 1.8), 0.42, conversational=True),
    Deployment("ticket-router", ("v12", "v13"), ("gpt-4o-mini", "gpt-4o-mini"),
               (("ticket_text", "STRING"), ("priority", "NUMBER")), (
        _n("normalize", "TEMPLATING", ms=6), _n("classify", "PROMPT", "normalize", ms=1100, feeds="reply"),
        _n("extract_fields", "CODE_EXECUTION", "normalize", ms=120, out_type="JSON"),
        _n("route", "CONDITIONAL", "classify", "extract_fields", ms=2),
        _n("reply", "TERMINAL", "classify"), _n("fields", "TERMINAL", "extract_fields")),
        ("extract_fields", 3.5), 0.25, conversational=True),
    Deployment("doc-summarizer", ("production", "canary"), ("gpt-4o-2024-08-06", "gpt-4o-2024-11-20"),
               (("document_url", "STRING"), ("max_sections", "NUMBER"), ("options", "JSON")), (
        _n("fetch_document", "API", ms=650),
        _n("split_sections", "CODE_EXECUTION", "fetch_document", ms=60, out_type="JSON"),
        _n("summarize_sections", "MAP", "split_sections", children=(
            _n("summarize_chunk", "PROMPT", ms=1300), _n("chunk_summary", "TERMINAL", "summarize_chunk"))),
        _n("combine", "PROMPT", "summarize_sections", ms=2100, feeds="summary"),
        _n("summary", "TERMINAL", "combine"), _n("sections", "TERMINAL", "summarize_sections")),
        ("combine", 1.7), 0.17),
    Deployment("lead-scorer", ("production", "staging"), ("gpt-4o-mini", "gpt-4o-mini"),
               (("company", "STRING"), ("lead", "JSON")), (
        _n("enrich_company", "API", ms=480), _n("crm_history", "SEARCH", ms=260),
        _n("score_features", "CODE_EXECUTION", "enrich_company", "crm_history", ms=35, out_type="NUMBER"),
        _n("qualify", "SUBWORKFLOW", "score_features", children=(
            _n("research", "PROMPT", ms=900), _n("format_reason", "TEMPLATING", "research", ms=5),
            _n("reason_text", "TERMINAL", "format_reason"))),
        _n("decide", "CONDITIONAL", "qualify", ms=2),
        _n("score", "TERMINAL", "score_features"), _n("reason", "TERMINAL", "qualify")),
        ("enrich_company", 2.2), 0.16),
)

# What can go wrong, by node kind: (code, message, raw_data, stacktrace, relative weight).
_TRACE = ('Traceback (most recent call last):\n  File "main.py", line 7, in main\n    return total / count\n'
          'ZeroDivisionError: division by zero\n')
_TIMEOUT = ("NODE_TIMEOUT", "Node exceeded its timeout of 30 seconds", None, None, 1)
_ERRORS: dict[str, tuple[tuple, ...]] = {
    "PROMPT": (("LLM_PROVIDER", "Model host returned HTTP 529: overloaded",
                {"status_code": 529, "provider": "ANTHROPIC"}, None, 3),
               ("PROVIDER_QUOTA_EXCEEDED", "Rate limit reached for requests per minute",
                {"status_code": 429, "provider": "OPENAI"}, None, 2), _TIMEOUT),
    "API": (("NODE_EXECUTION", "API node received status 502", "502 Bad Gateway", None, 2), _TIMEOUT),
    "CODE_EXECUTION": (("NODE_EXECUTION", "ZeroDivisionError: division by zero", None, _TRACE, 1),),
    "SEARCH": (("NODE_EXECUTION", "Search index 'kb-prod' is unavailable", None, None, 1),),
    "TEMPLATING": (("INVALID_TEMPLATE", "'dict object' has no attribute 'items_list'", None, None, 1),),
}
_CANCELLED = {True: "Node was cancelled because another node in the workflow failed",
              False: "Node was cancelled because its parent workflow was stopped"}
_PRICES = {"gpt-4o-mini": (0.15e-6, 0.6e-6), "gpt-4o-2024-08-06": (2.5e-6, 10e-6),
           "gpt-4o-2024-11-20": (2.5e-6, 10e-6), "claude-3-5-sonnet-20241022": (3e-6, 15e-6)}
_WORDS = ("the your order refund invoice account plan upgrade we can will shipping policy within days customer "
          "support billing team please update ticket priority details report section summary revenue growth "
          "lead score company contract renewal latency answer résumé café Köln 東京 ✅ 数据 naïve").split()
_COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella", "Stark Industries", "Wayne Enterprises", "Müller GmbH")
_NODE_INPUTS = {"SEARCH": (("query", "STRING"), ("limit", "NUMBER")), "TEMPLATING": (("text", "STRING"),),
                "PROMPT": (("question", "STRING"), ("chat_history", "CHAT_HISTORY")),
                "API": (("url", "STRING"), ("authorization", "SECRET"), ("body", "JSON")),
                "CODE_EXECUTION": (("text", "STRING"), ("options", "JSON"))}
_SIDS: dict[tuple[str, ...], str] = {}


def _sid(*parts: str) -> str:
    """A stable id (uuid5): a server keeps node, output and input ids fixed per definition."""
    if parts not in _SIDS:
        _SIDS[parts] = str(uuid.uuid5(_NS, "/".join(parts)))
    return _SIDS[parts]


def _fresh(rng: random.Random) -> str:
    """``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, formatted directly because it is hot."""
    h = "%032x" % (rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ri(rng: random.Random, lo: int, hi: int) -> int:
    """A cheaper ``randint`` for per-event jitter."""
    return lo + int(rng.random() * (hi - lo + 1))


def _sentence(rng: random.Random, lo: int, hi: int, end: str = ".") -> list[str]:
    words = rng.choices(_WORDS, k=rng.randint(lo, hi))
    words[0] = words[0].capitalize()
    words[-1] += end
    return words


def _wire_value(kind: str, value):
    """The request leaves unset message fields out; the server echoes chat messages with all of them."""
    if kind != "CHAT_HISTORY":
        return value
    return [{"text": m["text"], "role": m["role"], "content": None, "source": None, "metadata": None} for m in value]


_INPUT_MAKERS: dict[str, Callable[[random.Random, list], object]] = {
    "query": lambda rng, h: " ".join(_sentence(rng, 5, 12, "?")),
    "chat_history": lambda rng, h: [{"role": role, "text": text} for role, text in h],
    "customer_id": lambda rng, h: f"C{rng.randint(1000, 9999)}",
    "ticket_text": lambda rng, h: " ".join(_sentence(rng, 8, 20)),
    "priority": lambda rng, h: float(rng.randint(1, 4)),
    "document_url": lambda rng, h: f"https://docs.example.com/reports/q{rng.randint(1, 4)}-{rng.randint(100, 999)}.pdf",
    "max_sections": lambda rng, h: float(rng.randint(2, 5)),
    "options": lambda rng, h: {"locale": rng.choice(("en-US", "de-DE", "ja-JP")), "tone": "neutral", "note": None},
    "company": lambda rng, h: rng.choice(_COMPANIES),
    "lead": lambda rng, h: {"email": f"lead{rng.randint(1, 999)}@example.com",
                            "employees": rng.choice((12, 80, 450, 5000)), "source": rng.choice(("ads", "referral"))},
}


@dataclass(eq=False)
class _Run:
    """One execution of a node (one node_result_id), scheduled in simulated microseconds."""

    spec: NodeSpec
    result_id: str
    source: str | None  # the child execution it runs in; None at top level
    parent: _Run | None
    start: int
    end: int = 0
    cut: int = 0  # nothing it streams at or after this instant is sent
    fate: str = "ok"  # ok | fail | cancel | wrap (a container of the failure) | drop (never started)
    error: dict | None = None
    iterations: list = field(default_factory=list)  # (child execution id, start, end, child runs)
    text: str = ""
    prompt_exec: str | None = None


class _ExecutionBuilder:
    """Simulates one execution: schedule the DAG, settle the failure, emit events, serialize them."""

    def __init__(self, rng: random.Random, dep: Deployment, release: str, request: dict, t_req: int) -> None:
        self.rng, self.dep, self.request, self.t_req = rng, dep, request, t_req
        self.execution_id, run_id = _fresh(rng), (_fresh(rng) if rng.random() < 0.3 else None)
        self.slow = dep.regression if release == dep.release_tags[1] else ("", 1.0)
        self.model = dep.models[dep.release_tags.index(release)]
        self.inputs = {i["name"]: i["value"] for i in request["inputs"]}
        self.query = str(next(iter(self.inputs.values())))
        ids = f'"execution_id":"{self.execution_id}","run_id":{_ENCODE(run_id)}'
        self.envelope = f'{{{ids},"external_id":{_ENCODE(request.get("external_id"))},"type":"'
        self.events: list[tuple[int, int, str, str]] = []  # (ts, seq, line before ts, line after ts)
        self.values: dict[tuple, tuple[str, object]] = {}  # (source, node name) -> (type, value)
        self.streamed: set[str] = set()
        self.fail_run: _Run | None = None
        self.wf_error: dict | None = None  # the WORKFLOW REJECTED error: the failing top-level node's
        self.fail_spec, self.fail_err = self._pick_failure()
        self.t0 = t_req + rng.randint(8_000, 45_000)

    def build(self) -> DemoExecution:
        runs, _ = self._schedule(self.dep.nodes, self.t0, None, None)
        t_end = self._settle(runs)
        self._workflow("INITIATED", self.t0, inputs=[
            {"id": _sid(self.dep.name, "input", n), "name": n, "type": k, "value": _wire_value(k, self.inputs[n])}
            for n, k in self.dep.inputs])
        for run in runs:
            self._emit(run)
        if self.fail_run:
            self._workflow("REJECTED", t_end, error=self.wf_error)
        else:
            self._workflow("FULFILLED", t_end, outputs=[
                {"id": _sid(self.dep.name, "output", s.name), "name": s.name, "type": t, "value": v}
                for s in self.dep.nodes if s.kind == "TERMINAL" for t, v in [self.values[(None, s.name)]]])
        return self._serialize("REJECTED" if self.fail_run else "FULFILLED")

    # -- scheduling in simulated time -------------------------------------------------------------------------
    def _pick_failure(self) -> tuple[NodeSpec | None, tuple | None]:
        if self.rng.random() >= (0.24 if self.slow[1] > 1 else 0.13):
            return None, None
        options = [(s, e) for s in _walk_specs(self.dep.nodes) for e in _ERRORS.get(s.kind, ())]
        return self.rng.choices(options, weights=[e[4] for _, e in options])[0]

    def _duration(self, spec: NodeSpec) -> int:
        factor = self.slow[1] if spec.name == self.slow[0] else 1.0
        return max(200, int(spec.median_ms * 1000 * factor * self.rng.lognormvariate(0.0, 0.35)))

    def _schedule(self, specs: tuple[NodeSpec, ...], t: int, source: str | None, parent: _Run | None):
        ends: dict[str, int] = {}
        runs: list[_Run] = []
        for spec in specs:
            start = max([t] + [ends[d] for d in spec.after]) + _ri(self.rng, 100, 2500)
            run = _Run(spec, _fresh(self.rng), source, parent, start)
            run.end = self._schedule_children(run) if spec.children else start + self._duration(spec)
            if spec is self.fail_spec and self.fail_run is None:
                self._arm_failure(run)
            ends[spec.name] = run.end
            runs.append(run)
        return runs, max(ends.values())

    def _schedule_children(self, run: _Run) -> int:
        count = int(self.inputs.get("max_sections", 3)) if run.spec.kind == "MAP" else 1
        end = run.start
        for i in range(count):  # map iterations run concurrently, started a little apart
            child, it_start = _fresh(self.rng), run.start + (i + 1) * _ri(self.rng, 100, 1500)
            runs, it_end = self._schedule(run.spec.children, it_start, child, run)
            run.iterations.append((child, it_start, it_end, runs))
            end = max(end, it_end)
        return end + _ri(self.rng, 300, 2500)

    def _arm_failure(self, run: _Run) -> None:
        code, message, raw, trace, _ = self.fail_err
        run.cut = run.start + int((run.end - run.start) * self.rng.uniform(0.2, 0.9))  # its output stops here
        run.end = run.start + _TIMEOUT_US if code == "NODE_TIMEOUT" else run.cut
        run.fate, run.error = "fail", {"message": message, "raw_data": raw, "code": code, "stacktrace": trace}
        self.fail_run = run

    def _settle(self, runs: list[_Run]) -> int:
        """Give every run its fate now that the failure instant is known; return when the workflow ends."""
        everything = list(_walk_runs(runs))
        for run in everything:
            run.cut = run.cut or run.end
        if self.fail_run is None:
            return max(r.end for r in runs) + _ri(self.rng, 500, 6000)
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
            t += _ri(self.rng, 100, 1500)
            run.fate, run.cut, run.end = "cancel", fail.end, t
            run.error = {"message": _CANCELLED[run.source in (fail.source, None)], "raw_data": None,
                         "code": "NODE_CANCELLED", "stacktrace": None}
        inner = fail
        for run in ancestors:  # deepest first: each container is rejected with its failed child's error
            t += _ri(self.rng, 100, 1500)
            run.fate, run.cut, run.end = "wrap", fail.end, t
            run.error = {"message": f"Subworkflow execution {inner.source} was rejected: {inner.error['message']}",
                         "raw_data": {"source_execution_id": inner.source, "inner_error_code": inner.error["code"]},
                         "code": "NODE_EXECUTION", "stacktrace": None}
            inner = run
        self.wf_error = dict(inner.error)
        return t + _ri(self.rng, 300, 2000)

    def _id(self, run: _Run, *role: str) -> str:
        """The stable id of one of the node's definitions (the node itself, an output, an input, a port)."""
        return _sid(self.dep.name, run.spec.name, *role)

    # -- events: each is encoded once, split around its ts -----------------------------------------------------
    def _encode(self, kind: str, data: dict) -> list[str]:
        return (self.envelope + kind + '","data":' + _ENCODE(data) + "}").split(f'"{_TS}"')

    def _push(self, ts: int, kind: str, data: dict) -> None:
        self.events.append((ts, len(self.events), *self._encode(kind, data)))

    def _template(self, kind: str, data: dict) -> tuple[str, ...]:
        """A streaming event encoded once per run: only its id, ts and delta change from chunk to chunk."""
        head, tail = self._encode(kind, data)
        return (*head.split(f'"{_ID}"'), *tail.split(f'"{_DELTA}"'))

    def _push_delta(self, ts: int, template: tuple[str, ...], delta: str) -> None:
        h0, h1, t0, t1 = template
        self.events.append((ts, len(self.events), f'{h0}"{_fresh(self.rng)}"{h1}', t0 + encode_basestring(delta) + t1))

    @staticmethod
    def _workflow_data(state: str, event_id: str, output=None, error=None, outputs=None, inputs=None) -> dict:
        return {"id": event_id, "state": state, "ts": _TS, "output": output, "error": error, "outputs": outputs,
                "inputs": inputs}

    def _workflow(self, state: str, ts: int, **fields) -> None:
        self._push(ts, "WORKFLOW", self._workflow_data(state, _fresh(self.rng), **fields))

    def _output(self, name: str, state: str, kind: str, delta=None, value=None) -> dict:
        return {"id": _sid(self.dep.name, "output", name), "name": name, "state": state,
                "node_id": _sid(self.dep.name, name, "node"), "delta": delta, "type": kind, "value": value}

    def _node_data(self, run: _Run, state: str, event_id: str, payload, **tail) -> dict:
        return {"id": event_id, "node_id": self._id(run, "node"), "node_result_id": run.result_id,
                "state": state, "ts": _TS, "data": payload, "source_execution_id": run.source, **tail}

    def _node(self, run: _Run, state: str, ts: int, payload, **tail) -> None:
        self._push(ts, "NODE", self._node_data(run, state, _fresh(self.rng), payload, **tail))

    def _emit(self, run: _Run) -> None:
        if run.fate == "drop":
            return
        kind, name = run.spec.kind.lower(), run.spec.name
        initiated = self._payload(run, initiated=True)
        self._node(run, "INITIATED", run.start, initiated, input_values=self._input_values(run))
        root_terminal = kind == "terminal" and run.source is None
        if root_terminal and name not in self.streamed:
            out_type = self.values[(None, run.spec.after[0])][0]
            self._workflow("STREAMING", run.start + 12, output=self._output(name, "INITIATED", out_type))
        if hasattr(self, f"_stream_{kind}"):
            getattr(self, f"_stream_{kind}")(run)
        if run.fate != "ok":
            self._node(run, "REJECTED", run.end, self._payload(run, initiated=False), error=run.error)
            return
        main, payload, output_values = getattr(self, f"_fulfill_{kind}")(run)
        self.values[(run.source, name)] = main
        self._node(run, "FULFILLED", run.end, payload, output_values=output_values, mocked=False)
        if root_terminal:
            output = self._output(name, "FULFILLED", main[0], value=main[1])
            self._workflow("STREAMING", run.end + _ri(self.rng, 5, 40), output=output)

    def _payload(self, run: _Run, initiated: bool) -> dict | None:
        """The payload of INITIATED and REJECTED events (SEARCH, API, CODE, TEMPLATING and TERMINAL send null)."""
        kind = run.spec.kind
        if kind == "PROMPT":
            return self._prompt(run, exec_id=None if initiated else run.prompt_exec)
        ids = [it[0] for it in run.iterations if it[1] < run.cut]
        inner = {"SUBWORKFLOW": lambda: {"execution_id": ids[0] if ids else None},
                 "MAP": lambda: {"execution_ids": [] if initiated else ids,
                                 "iteration_state": None if initiated else "REJECTED"},
                 "CONDITIONAL": lambda: {"source_handle_id": None}}.get(kind)
        return {"type": kind, "data": inner()} if inner else None

    def _prompt(self, run: _Run, exec_id=None, text=None, delta=None, meta=False) -> dict:
        return {"type": "PROMPT", "data": {
            "execution_meta": self._execution_meta(run) if meta else None,
            "output_id": self._id(run, "output"),
            "array_output_id": self._id(run, "array_output"),
            "execution_id": exec_id, "text": text, "delta": delta}}

    def _execution_meta(self, run: _Run) -> dict | None:
        flags = self.request.get("expand_meta")
        if not flags:
            return None
        tokens_in, tokens_out = self.rng.randint(600, 5200), max(1, int(len(run.text.split()) * 1.3))
        price_in, price_out = _PRICES[self.model]
        usage = {"output_token_count": tokens_out, "input_token_count": tokens_in, "input_char_count": None,
                 "output_char_count": None, "compute_nanos": None, "cache_creation_input_tokens": None,
                 "cache_read_input_tokens": self.rng.choice((0, 0, 512, 1024))}
        cost = {"value": round(tokens_in * price_in + tokens_out * price_out, 8), "unit": "USD"}
        return {"usage": usage if flags.get("usage") else None, "cost": cost if flags.get("cost") else None,
                "model_name": self.model if flags.get("model_name") else None}

    def _input_values(self, run: _Run) -> list[dict]:
        keys = _NODE_INPUTS.get(run.spec.kind, ())
        values = {"query": self.query, "text": self.query, "question": self.query, "limit": 8.0, "options": None,
                  "chat_history": _wire_value("CHAT_HISTORY", self.inputs.get("chat_history", [])),
                  "url": f"https://api.example.com/{run.spec.name.replace('_', '-')}",
                  "authorization": {"name": "INTEGRATION_API_KEY"}, "body": {"q": self.query[:24]}} if keys else {}
        return [{"node_input_id": self._id(run, "input", key), "key": key, "type": kind,
                 "value": values[key]} for key, kind in keys]

    # -- STREAMING events, and the children of containers -------------------------------------------------------
    def _stream_prompt(self, run: _Run) -> None:
        rng = self.rng
        run.prompt_exec = _fresh(rng)
        tokens = [w for _ in range(rng.randint(1, 4 if run.spec.feeds else 2)) for w in _sentence(rng, 6, 16)]
        run.text, chunks, i = " ".join(tokens), [], 0
        while i < len(tokens):  # a chunk is one to three words
            step = _ri(rng, 1, 3)
            chunks.append((" " if i else "") + " ".join(tokens[i:i + step]))
            i += step
        first = run.start + int((run.end - run.start) * rng.uniform(0.12, 0.35))  # time to first token
        gaps = [rng.expovariate(1.0) for _ in chunks]
        scale = ((run.cut if run.fate == "fail" else run.end) - first - 300) / sum(gaps)
        node_t = self._template("NODE", self._node_data(
            run, "STREAMING", _ID, self._prompt(run, run.prompt_exec, delta=_DELTA), output=None, output_index=None))
        feeds = run.spec.feeds if run.source is None else ""  # only root prompts feed workflow outputs
        wf_t = self._template("WORKFLOW", self._workflow_data(
            "STREAMING", _ID, output=self._output(feeds, "STREAMING", "STRING", delta=_DELTA))) if feeds else ()
        ts = first
        for delta, gap in zip(chunks, gaps, strict=True):
            if ts >= run.cut:
                break
            self._push_delta(ts, node_t, delta)
            if feeds and ts == first:
                self.streamed.add(feeds)
                self._workflow("STREAMING", ts + 6, output=self._output(feeds, "INITIATED", "STRING"))
            if feeds:  # mirrored by another thread, sometimes within the same microsecond (not before INITIATED)
                lag = 0 if ts != first and rng.random() < 0.1 else _ri(rng, 8, 40)
                self._push_delta(ts + lag, wf_t, delta)
            ts += max(60, int(gap * scale))

    def _stream_subworkflow(self, run: _Run) -> None:
        for child_run in run.iterations[0][3]:
            self._emit(child_run)

    def _stream_map(self, run: _Run) -> None:
        out_id, last = self._id(run, "output"), run.spec.children[-1].name
        for index, (child, it_start, it_end, runs) in enumerate(run.iterations):
            if it_start >= run.cut:
                continue
            payload = {"type": "MAP", "data": {"execution_ids": [child], "iteration_state": "INITIATED"}}
            self._node(run, "STREAMING", it_start, payload, output=None, output_index=index)
            for child_run in runs:
                self._emit(child_run)
            if it_end < run.cut:
                kind, value = self.values[(child, last)]
                payload = {"type": "MAP", "data": {"execution_ids": [child], "iteration_state": "FULFILLED"}}
                output = {"type": kind, "value": value, "node_output_id": out_id, "state": "STREAMING"}
                self._node(run, "STREAMING", it_end, payload, output=output, output_index=index)

    # -- FULFILLED: each returns (value handed downstream, payload, output_values) -------------------------------
    def _outputs(self, run: _Run, *outputs: tuple[str, str, object]) -> list[dict]:
        return [{"type": kind, "value": value, "node_output_id": self._id(run, role),
                 "state": "FULFILLED"} for role, kind, value in outputs]

    def _fulfill_prompt(self, run: _Run):
        payload = self._prompt(run, exec_id=run.prompt_exec, text=run.text, meta=True)
        array = [{"type": "STRING", "value": run.text}]
        outputs = self._outputs(run, ("output", "STRING", run.text), ("array_output", "ARRAY", array))
        return ("STRING", run.text), payload, outputs

    def _fulfill_search(self, run: _Run):
        rng, sid = self.rng, partial(self._id, run)
        results = [{"text": " ".join(_sentence(rng, 8, 16)), "score": round(rng.uniform(0.55, 0.95), 4),
                    "keywords": rng.sample(_WORDS[:30], 2),
                    "document": {"id": _sid("doc", str(d)), "label": f"kb-{d}.pdf", "external_id": f"doc-{d}",
                                 "metadata": None},
                    "meta": {"source": {"document_type": "PDF", "start_page_num": 1, "end_page_num": 2}}}
                   for d in rng.sample(range(100, 400), rng.randint(1, 3))]
        text = "\n\n".join(r["text"] for r in results)
        payload = {"type": "SEARCH", "data": {"results_output_id": sid("results"), "results": results,
                                              "text_output_id": sid("text"), "text": text}}
        outputs = self._outputs(run, ("results", "SEARCH_RESULTS", results), ("text", "STRING", text))
        return ("STRING", text), payload, outputs

    def _fulfill_templating(self, run: _Run):
        kind, value = self.values.get((run.source, run.spec.after[0]), ("", "")) if run.spec.after else ("", "")
        text = f"Context: {value if kind == 'STRING' else self.query}"[:240]
        output = {"id": self._id(run, "output"), "type": "STRING", "value": text}
        payload = {"type": "TEMPLATING", "data": {"output": output}}
        return ("STRING", text), payload, self._outputs(run, ("output", "STRING", text))

    def _fulfill_code_execution(self, run: _Run):
        rng, kind, sid = self.rng, run.spec.out_type, partial(self._id, run)
        sections = int(self.inputs.get("max_sections", 1))
        value = round(rng.random(), 4) if kind == "NUMBER" else {
            "category": rng.choice(("billing", "shipping", "account")), "sections": sections}
        payload = {"type": "CODE_EXECUTION", "data": {"output": {"id": sid("output"), "type": kind, "value": value},
                                                      "log_output_id": sid("log")}}
        log = f"processed {rng.randint(1, 40)} records\n"
        return (kind, value), payload, self._outputs(run, ("output", kind, value), ("log", "STRING", log))

    def _fulfill_api(self, run: _Run):
        rng, sid = self.rng, partial(self._id, run)
        body = {"id": f"C{rng.randint(1000, 9999)}", "plan": rng.choice(("free", "pro", "enterprise")),
                "active": rng.random() < 0.9}
        text = json.dumps(body, ensure_ascii=False)
        payload = {"type": "API", "data": {"json": body, "text_output_id": sid("text"), "text": text,
                                           "json_output_id": sid("json"), "status_code_output_id": sid("status"),
                                           "status_code": 200}}
        outputs = self._outputs(run, ("json", "JSON", body), ("text", "STRING", text), ("status", "NUMBER", 200.0))
        return ("JSON", body), payload, outputs

    def _fulfill_conditional(self, run: _Run):
        port = self._id(run, "port", "0" if self.rng.random() < 0.75 else "1")
        return ("STRING", port), {"type": "CONDITIONAL", "data": {"source_handle_id": port}}, []

    def _fulfill_terminal(self, run: _Run):
        kind, value = self.values[(run.source, run.spec.after[0])]
        owner = ("output", run.spec.name) if run.source is None else (run.spec.name, "output")
        out_id = _sid(self.dep.name, *owner)
        output = {"id": out_id, "name": run.spec.name, "type": kind, "value": value}
        payload = {"type": "TERMINAL", "data": {"output": output}}
        return (kind, value), payload, [{"type": kind, "value": value, "node_output_id": out_id, "state": "FULFILLED"}]

    def _fulfill_subworkflow(self, run: _Run):
        child = run.iterations[0][0]
        main = self.values[(child, run.spec.children[-1].name)]
        return main, {"type": "SUBWORKFLOW", "data": {"execution_id": child}}, self._outputs(run, ("output", *main))

    def _fulfill_map(self, run: _Run):
        last = run.spec.children[-1].name
        items = [dict(zip(("type", "value"), self.values[(it[0], last)], strict=True)) for it in run.iterations]
        payload = {"type": "MAP", "data": {"execution_ids": [it[0] for it in run.iterations], "iteration_state": None}}
        return ("ARRAY", items), payload, self._outputs(run, ("output", "ARRAY", items))

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


def _walk_specs(specs: tuple[NodeSpec, ...]) -> Iterator[NodeSpec]:
    for spec in specs:
        yield spec
        yield from _walk_specs(spec.children)


def _walk_runs(runs: list[_Run]) -> Iterator[_Run]:
    for run in runs:
        yield run
        for _, _, _, children in run.iterations:
            yield from _walk_runs(children)


@dataclass(eq=False)
class _Session:
    """A user's conversation: each later execution continues it through previous_execution_id."""

    dep: Deployment
    release: str | None
    by_id: bool
    metadata: dict | None
    last_id: str | None = None
    length: int = 0
    history: list = field(default_factory=list)


def _new_session(rng: random.Random) -> _Session:
    dep = rng.choices(DEPLOYMENTS, weights=[d.weight for d in DEPLOYMENTS])[0]
    roll = rng.random()
    release = None if roll < 0.1 else dep.release_tags[0 if roll < 0.7 else 1]
    metadata = None if rng.random() < 0.15 else {
        "user_id": f"user-{rng.randint(1, 250):04d}", "session_id": f"sess-{rng.getrandbits(32):08x}",
        "channel": rng.choice(("web", "web", "slack"))}
    session = _Session(dep, release, rng.random() < 0.15, metadata)
    if rng.random() < 0.07:  # it continues an execution made before the recorder was running
        session.last_id, session.length = _fresh(rng), 1
    return session


def _request(rng: random.Random, session: _Session, index: int) -> dict:
    dep = session.dep
    req: dict = ({"workflow_deployment_id": dep.deployment_id} if session.by_id
                 else {"workflow_deployment_name": dep.name})
    if session.release:
        req["release_tag"] = session.release
    req["inputs"] = [{"name": n, "type": k, "value": _INPUT_MAKERS[n](rng, session.history)} for n, k in dep.inputs]
    req["event_types"] = ["WORKFLOW", "NODE"]
    if rng.random() < 0.65:
        req["expand_meta"] = {"usage": True, "cost": True, "model_name": rng.random() < 0.8}
    if rng.random() < 0.3:
        req["external_id"] = f"{dep.name}-{index:06d}"
    if session.metadata:
        req["metadata"] = dict(session.metadata)
    if session.last_id:
        req["previous_execution_id"] = session.last_id
    return req


def iter_workload(*, executions: int, seed: int = 7, start: datetime | None = None) -> Iterator[DemoExecution]:
    """Yield executions lazily, in request order, so benchmarks can stream ~1M events in bounded memory."""
    master = random.Random(seed)
    start = start or DEFAULT_START
    t_req = ((start if start.tzinfo else start.replace(tzinfo=UTC)) - _EPOCH) // timedelta(microseconds=1)
    mean_gap, open_sessions = _SPAN_US / max(executions, 1), []
    for index in range(executions):
        if open_sessions and master.random() < 0.42:
            session = master.choice(open_sessions)
        else:
            session = _new_session(master)
            if session.dep.conversational:
                open_sessions = [*open_sessions, session][-64:]
        rng = random.Random(master.getrandbits(64))  # one per execution: the workload's shape stays stable
        request = _request(rng, session, index)
        builder = _ExecutionBuilder(rng, session.dep, session.release or session.dep.release_tags[0], request, t_req)
        execution = builder.build()
        session.last_id, session.length = execution.execution_id, session.length + 1
        answer = builder.values.get((None, "answer"))
        if answer and "query" in builder.inputs:
            session.history = [*session.history, ("USER", builder.inputs["query"]), ("ASSISTANT", answer[1])][-6:]
        if session.length >= 5 and session in open_sessions:
            open_sessions.remove(session)
        yield execution
        t_req += max(1000, int(master.expovariate(1.0 / mean_gap)))


def build_workload(*, executions: int = 40, seed: int = 7, start: datetime | None = None) -> list[DemoExecution]:
    """The whole workload as a list: ``recorder demo`` and tests want random access and a fixed size."""
    return list(iter_workload(executions=executions, seed=seed, start=start))


def body_bytes(execution: DemoExecution) -> bytes:
    """The HTTP response body exactly as the server sends it: NDJSON, one event per line, UTF-8."""
    return ("\n".join(execution.lines) + "\n").encode("utf-8")
