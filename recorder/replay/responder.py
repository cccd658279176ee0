"""What a replay answers to one request, decided once for the replay server and the transports.

The responder routes a request to its endpoint, finds the recording that answers it and turns the
recording's plan (`recorder.replay.plan`) into an answer: status, headers, the body as timed chunks,
the first-byte delay and whether the connection breaks. The server turns the answer into socket
writes, the transports into an httpx byte stream; both honour it the same way.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from recorder.model.cassette import NDJSON, Cassette
from recorder.model.endpoints import DEPLOYMENT_STREAM_PATH, EXECUTE_PATH, STATUS_PATH, STATUS_PREFIX, STREAM_PATH, is_deployment_stream_path
from recorder.model.request import RecordedRequest
from recorder.model.vocabulary import Outcome
from recorder.replay.endpoint_answers import NoTerminalEvent, execute_answer, status_answer
from recorder.replay.library import Library
from recorder.replay.matching import Candidate, Matcher, MatchRule, NoMatch
from recorder.replay.plan import JSON_TYPE, Chunk, Plan, plan_replay
from recorder.replay.timing import Timing

STATUS_SUFFIX = STATUS_PATH.removeprefix(STATUS_PREFIX).removeprefix("{execution_id}")
REPLAYED_FROM = "x-recorder-replay"  # response header: which recording answered


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    chunks: tuple[Chunk, ...] = ()
    streamed: bool = False  # chunked transfer (a stream) rather than a Content-Length body
    first_byte_delay_s: float = 0.0
    ending: Outcome = Outcome.COMPLETE  # CUT: the connection breaks after the chunks, without ending the body
    no_match: NoMatch | None = field(default=None, compare=False)
    replayed_from: str | None = None

    @property
    def body(self) -> bytes:
        return b"".join(chunk.data for chunk in self.chunks)


def is_replayed(method: str, path: str) -> bool:
    """Whether a request goes to one of the endpoints a replay answers."""
    if method == "POST":
        return path.endswith(STREAM_PATH) or path.endswith(EXECUTE_PATH) or is_deployment_stream_path(path)
    return method == "GET" and _status_execution_id(path) is not None


class Responder:
    """Matches requests against a library and plans the answers (thread-safe)."""

    def __init__(self, library: Library, *, match: MatchRule = MatchRule(), timing: Timing = Timing()) -> None:
        self.library = library
        self.match = match
        self.timing = timing
        self._turns: dict[tuple[str, ...], int] = {}
        self._matchers: dict[tuple[str, str], tuple[int, Matcher]] = {}
        self._lock = threading.Lock()

    def answer(self, method: str, path: str, body: bytes) -> Answer:
        method = method.upper()
        if method == "POST" and path.endswith(STREAM_PATH):
            return self._stream(body)
        if method == "POST" and is_deployment_stream_path(path):
            return self._stream(body, path)
        if method == "POST" and path.endswith(EXECUTE_PATH):
            return self._execute(body)
        execution_id = _status_execution_id(path) if method == "GET" else None
        if execution_id is not None:
            return self._status(execution_id)
        return json_answer(404, {"detail": f"{method} {path} is not replayed: a replay answers POST {STREAM_PATH}, "
                                           f"POST {DEPLOYMENT_STREAM_PATH}, POST {EXECUTE_PATH} and GET {STATUS_PATH}"})

    # -- the endpoints ----------------------------------------------------------------------------

    def _stream(self, body: bytes, deployment_path: str | None = None) -> Answer:
        """The v1 stream, or with `deployment_path` the v2 one: each answered only from recordings
        of its own endpoint, so a v1 client never gets SDK events, nor a v2 client legacy ones."""
        asked = _request_body(body)
        if isinstance(asked, Answer):
            return asked
        endpoint = STREAM_PATH
        if deployment_path is not None:
            endpoint, kept = DEPLOYMENT_STREAM_PATH, RecordedRequest.from_exchange(deployment_path, asked)
            asked = kept.body if kept is not None else asked
        found = self._find(asked, "POST", endpoint)
        if isinstance(found, Answer):
            return found
        candidate, cassette = found
        return self.stream_answer(cassette, replayed_from=candidate.name)

    def _execute(self, body: bytes) -> Answer:
        asked = _request_body(body)
        if isinstance(asked, Answer):
            return asked
        if self.library.candidates("POST", EXECUTE_PATH):
            found = self._find(asked, "POST", EXECUTE_PATH)
            if not isinstance(found, Answer):
                candidate, cassette = found
                return self.stream_answer(cassette, replayed_from=candidate.name, streamed=False)
        found = self._find(asked, "POST", STREAM_PATH, endpoint=f"POST {EXECUTE_PATH}")
        if isinstance(found, Answer):
            return found
        candidate, cassette = found
        plan = plan_replay(cassette)
        if plan.faulted:
            return self.planned_answer(plan, replayed_from=candidate.name, streamed=False)
        try:
            return json_answer(200, execute_answer(cassette), replayed_from=candidate.name, delay=plan.first_byte_delay_s)
        except NoTerminalEvent as exc:
            return json_answer(500, {"detail": str(exc)}, replayed_from=candidate.name, delay=plan.first_byte_delay_s)

    def _status(self, execution_id: str) -> Answer:
        recorded = self.library.candidates("GET", STATUS_PATH.format(execution_id=execution_id))
        if recorded:
            candidate = recorded[-1]
            return self.stream_answer(self.library.cassette(candidate), replayed_from=candidate.name, streamed=False)
        cassette = self.library.by_execution_id(execution_id)
        if cassette is None and self.library.refresh():
            cassette = self.library.by_execution_id(execution_id)
        if cassette is None:
            return json_answer(404, {"detail": f"Workflow execution not found: no recorded stream has execution id {execution_id!r} ({self.library.describe()})"})
        return json_answer(200, status_answer(cassette, execution_id), replayed_from=cassette.execution_id)

    # -- matching ---------------------------------------------------------------------------------

    def _find(self, asked: dict[str, Any], method: str, path: str, *, endpoint: str | None = None) -> tuple[Candidate, Cassette] | Answer:
        endpoint = endpoint or f"{method} {path}"
        try:
            matches = self._matcher(method, path).select(asked, endpoint=endpoint)
        except NoMatch as first_miss:
            if not self.library.refresh():
                return no_match_answer(first_miss)
            try:
                matches = self._matcher(method, path).select(asked, endpoint=endpoint)
            except NoMatch as miss:
                return no_match_answer(miss)
        candidate = self._next_turn(matches)
        return candidate, self.library.cassette(candidate)

    def _matcher(self, method: str, path: str) -> Matcher:
        """The match index of an endpoint's recordings, rebuilt when the library changes."""
        version = self.library.version
        with self._lock:
            cached = self._matchers.get((method, path))
        if cached is not None and cached[0] == version:
            return cached[1]
        matcher = Matcher(self.match, self.library.candidates(method, path))
        with self._lock:
            self._matchers[(method, path)] = (version, matcher)
        return matcher

    def _next_turn(self, matches: list[Candidate]) -> Candidate:
        """Equal matches are served in turn, in recorded order."""
        key = tuple(candidate.name for candidate in matches)
        with self._lock:
            turn = self._turns.get(key, 0)
            self._turns[key] = turn + 1
        return matches[turn % len(matches)]

    # -- answering with a plan --------------------------------------------------------------------

    def stream_answer(self, cassette: Cassette, *, replayed_from: str | None = None, streamed: bool = True) -> Answer:
        """The cassette's response as recorded, with its fault, at this responder's timing."""
        return self.planned_answer(plan_replay(cassette), replayed_from=replayed_from, streamed=streamed)

    def planned_answer(self, plan: Plan, *, replayed_from: str | None = None, streamed: bool = True) -> Answer:
        return Answer(
            plan.status,
            _headers(plan.headers, replayed_from),
            plan.chunks(self.timing),
            streamed and plan.ending != Outcome.HTTP_ERROR,
            plan.first_byte_delay_s,
            ending=plan.ending,
            replayed_from=replayed_from,
        )


def json_answer(status: int, value: Any, *, replayed_from: str | None = None, delay: float = 0.0) -> Answer:
    body = json.dumps(value, ensure_ascii=False).encode("utf-8")
    return Answer(status, _headers({"content-type": JSON_TYPE}, replayed_from), (Chunk(0.0, body),), False, delay, replayed_from=replayed_from)


def no_match_answer(miss: NoMatch) -> Answer:
    answer = json_answer(404, miss.as_json())
    return Answer(answer.status, answer.headers, answer.chunks, no_match=miss)


def _request_body(body: bytes) -> dict[str, Any] | Answer:
    try:
        value = json.loads(body or b"null")
    except ValueError as exc:
        return json_answer(400, {"detail": f"the request body is not JSON: {exc}"})
    if not isinstance(value, dict):
        return json_answer(400, {"detail": "the request body must be a JSON object"})
    return value


def _status_execution_id(path: str) -> str | None:
    start = path.find(STATUS_PREFIX)
    if start < 0 or not path.endswith(STATUS_SUFFIX):
        return None
    execution_id = path[start + len(STATUS_PREFIX) : -len(STATUS_SUFFIX)]
    return unquote(execution_id) if execution_id and "/" not in execution_id else None


def _headers(recorded: Any, replayed_from: str | None) -> tuple[tuple[str, str], ...]:
    headers = [(name, value) for name, value in dict(recorded).items() if name not in ("content-length", "transfer-encoding")]
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", NDJSON))
    if replayed_from is not None:
        headers.append((REPLAYED_FROM, replayed_from.encode("ascii", "replace").decode("ascii")))
    return tuple(headers)
