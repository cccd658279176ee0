"""The two small Vellum endpoints beside the stream: execution status and execution actuals.

An answer is scrubbed of the API key before anyone sees it: callers store its body and error
(`status_checks`, `actuals`) and print them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from recorder import __version__
from recorder.model.secrets import SecretScrubber
from recorder.stream.http import Timeouts

STATUS_PATH = "/v1/workflows/executions/{execution_id}/status"
ACTUALS_PATH = "/v1/submit-workflow-execution-actuals"


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    """An endpoint's answer, or why there was none (`http_status` None: no connection)."""

    url: str
    http_status: int | None
    body: str
    error: str | None

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body)
        except ValueError:
            return None


def _headers(api_key: str) -> dict[str, str]:
    return {"X-API-KEY": api_key, "User-Agent": f"workflow-recorder/{__version__}"}


def get_execution_status(base_url: str, api_key: str, execution_id: str, *, timeouts: Timeouts = Timeouts(read=30.0)) -> ApiAnswer:
    url = base_url + STATUS_PATH.format(execution_id=quote(execution_id, safe=""))
    return _call("GET", url, api_key, None, timeouts)


def submit_actuals(base_url: str, api_key: str, body: dict[str, Any], *, timeouts: Timeouts = Timeouts(read=30.0)) -> ApiAnswer:
    return _call("POST", base_url + ACTUALS_PATH, api_key, body, timeouts)


def _call(method: str, url: str, api_key: str, body: dict[str, Any] | None, timeouts: Timeouts) -> ApiAnswer:
    secrets = SecretScrubber([api_key])
    try:
        response = httpx.request(method, url, json=body, headers=_headers(api_key), timeout=timeouts.as_httpx())
    except httpx.TransportError as exc:
        return ApiAnswer(url, None, "", secrets.text(f"{url}: {exc.__class__.__name__}: {exc}"))
    text = secrets.text(response.text)
    error = None if response.is_success else secrets.text(f"HTTP {response.status_code} {response.reason_phrase} from {url}: {' '.join(text.split())[:300]}")
    return ApiAnswer(url, response.status_code, text, error)
