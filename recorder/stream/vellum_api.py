"""The recorder's calls to Vellum's predict API: the workflow stream, execution status, actuals.

Every call sends the same headers (the key in X-API-KEY only, never in a URL or a body) and goes
through an httpx transport the caller may choose: tests or an application pass their own, and
`recorder record` records through `instrument`. Paths, the key header and the environment
variables are spelled in `recorder.model.endpoints`. An answer is scrubbed of the API key before
anyone sees it: callers store its body and error (`status_checks`, `actuals`) and print them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from recorder.version import __version__
from recorder.model.cassette import NDJSON
from recorder.model.endpoints import ACTUALS_PATH, API_KEY_ENV, API_KEY_HEADER, BASE_URL_ENV, DEFAULT_BASE_URL, STATUS_PATH
from recorder.model.secrets import SecretScrubber


class MissingApiKey(RuntimeError):
    """VELLUM_API_KEY is not set."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to connect, and to wait for the next bytes (before the first one and between events).

    The read timeout is long by default: a prompt node may think for minutes without streaming.
    """

    connect: float = 10.0
    read: float = 300.0

    def as_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.connect, pool=self.connect)

    @classmethod
    def of_request(cls, request: httpx.Request) -> Timeouts | None:
        """The timeouts the client sent `request` with (httpx puts them in its extensions), or None
        when either is unset."""
        timeout = request.extensions.get("timeout") or {}
        connect, read = timeout.get("connect"), timeout.get("read")
        return cls(connect, read) if connect is not None and read is not None else None


# The small endpoints answer at once: no reason to wait as long as for a workflow's next event.
QUICK = Timeouts(read=30.0)


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    """An endpoint's answer, or why there was none (`http_status` None: no connection)."""

    url: str
    http_status: int | None
    body: str
    error: str | None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def api_key_from_env() -> str:
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise MissingApiKey(f"set {API_KEY_ENV} to your Vellum API key (it is read from the environment only, never stored)")
    return key


def base_url_from_env(explicit: str | None = None) -> str:
    return (explicit or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")


def headers(api_key: str, *, accept: str | None = None) -> dict[str, str]:
    sent = {API_KEY_HEADER: api_key, "User-Agent": f"workflow-recorder/{__version__}"}
    if accept is not None:
        sent["Accept"] = accept
    return sent


def client(*, timeouts: Timeouts = Timeouts(), transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An httpx client for these calls. Without a transport it is httpx's own (proxies from the
    environment included), as an application's client would be."""
    return httpx.Client(timeout=timeouts.as_httpx(), transport=transport)


def workflow_stream_request(http: httpx.Client, base_url: str, api_key: str, path: str, body: dict[str, Any]) -> httpx.Request:
    """The request that executes a workflow as a stream at `path` (v1: `/v1/execute-workflow-stream`;
    v2: `/v1/workflow-deployments/{id}/execute-stream`; see `recorder.model.request.wire_request`);
    send it with `http.send(request, stream=True)`.

    Built before it is sent, so the caller keeps it: a recording transport leaves its handle in the
    request's extensions, whether a response arrives or not.
    """
    return http.build_request("POST", base_url + path, json=body, headers=headers(api_key, accept=NDJSON))


def get_execution_status(
    base_url: str, api_key: str, execution_id: str, *, timeouts: Timeouts = QUICK, transport: httpx.BaseTransport | None = None
) -> ApiAnswer:
    url = base_url + STATUS_PATH.format(execution_id=quote(execution_id, safe=""))
    return _call("GET", url, api_key, None, timeouts, transport)


def submit_actuals(
    base_url: str, api_key: str, body: dict[str, Any], *, timeouts: Timeouts = QUICK, transport: httpx.BaseTransport | None = None
) -> ApiAnswer:
    return _call("POST", base_url + ACTUALS_PATH, api_key, body, timeouts, transport)


def _call(method: str, url: str, api_key: str, body: dict[str, Any] | None, timeouts: Timeouts, transport: httpx.BaseTransport | None) -> ApiAnswer:
    secrets = SecretScrubber([api_key])
    try:
        with client(timeouts=timeouts, transport=transport) as http:
            response = http.request(method, url, json=body, headers=headers(api_key))
    except httpx.TransportError as exc:
        return ApiAnswer(url, None, "", secrets.text(f"{url}: {exc.__class__.__name__}: {exc}"))
    text = secrets.text(response.text)
    error = None if response.is_success else secrets.text(f"HTTP {response.status_code} {response.reason_phrase} from {url}: {' '.join(text.split())[:300]}")
    return ApiAnswer(url, response.status_code, text, error)
