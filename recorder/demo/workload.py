"""A deterministic, production-looking workload of Vellum ``execute-workflow-stream`` responses.

Why: ``recorder demo``, the tests and the benchmarks need realistic streams without a Vellum account. Every
line follows docs/wire-format.md in the "full" wire style (nulls written, keys in the samples' order), so what the
recorder handles here it handles in production: four deployments with stable DAGs (node ids are uuid5 of
deployment/node, as a server keeps them), two release tags each (the second is slower on one node, so a release
comparison shows a regression), streaming prompts mirrored as WORKFLOW output deltas, parallel branches whose
events interleave, subworkflow and map children tagged with ``source_execution_id``, ~16% failures with cancelled
siblings, and ``previous_execution_id`` chains, a few pointing at an ancestor never recorded.
Same seed and arguments give byte-identical output.

This module draws the requests (users' sessions, their inputs and chains); recorder.demo.deployments
holds the DAGs, recorder.demo.execution simulates one execution and recorder.demo.node_events says
what each node kind sends.
"""


from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from recorder.demo.deployments import DEPLOYMENTS, Deployment, NodeSpec
from recorder.demo.execution import DemoExecution, ExecutionBuilder
from recorder.demo.node_events import FULFILLERS, STREAMERS
from recorder.demo.random_values import COMPANIES, fresh_id, sentence

__all__ = ["DEFAULT_START", "DEPLOYMENTS", "DemoExecution", "Deployment", "NodeSpec",
           "body_bytes", "build_workload", "iter_workload"]

DEFAULT_START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SPAN_US = 3 * 3600 * 1_000_000  # requests are spread over about three hours

_INPUT_MAKERS: dict[str, Callable[[random.Random, list], object]] = {
    "query": lambda rng, h: " ".join(sentence(rng, 5, 12, "?")),
    "chat_history": lambda rng, h: [{"role": role, "text": text} for role, text in h],
    "customer_id": lambda rng, h: f"C{rng.randint(1000, 9999)}",
    "ticket_text": lambda rng, h: " ".join(sentence(rng, 8, 20)),
    "priority": lambda rng, h: float(rng.randint(1, 4)),
    "document_url": lambda rng, h: f"https://docs.example.com/reports/q{rng.randint(1, 4)}-{rng.randint(100, 999)}.pdf",
    "max_sections": lambda rng, h: float(rng.randint(2, 5)),
    "options": lambda rng, h: {"locale": rng.choice(("en-US", "de-DE", "ja-JP")), "tone": "neutral", "note": None},
    "company": lambda rng, h: rng.choice(COMPANIES),
    "lead": lambda rng, h: {"email": f"lead{rng.randint(1, 999)}@example.com",
                            "employees": rng.choice((12, 80, 450, 5000)), "source": rng.choice(("ads", "referral"))},
}


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
        session.last_id, session.length = fresh_id(rng), 1
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
        builder = ExecutionBuilder(rng, session.dep, session.release or session.dep.release_tags[0], request, t_req,
                                   streamers=STREAMERS, fulfillers=FULFILLERS)
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
