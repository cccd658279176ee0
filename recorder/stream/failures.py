"""Saying how an HTTP stream failed, in one line a person can act on, with no API key in it.

Recording a live execution and recording an application's stream describe failures with the same
words, stored in the recording's error and printed by `recorder record`.
"""

from __future__ import annotations

import asyncio

import httpx

from recorder.model.secrets import SecretScrubber
from recorder.stream.vellum_api import Timeouts

ERROR_BODY_LIMIT = 64 * 1024
# An error body is read this far past the limit before it is scrubbed and cut, so a key that starts
# before the cut is found whole (even written with every character JSON-escaped) and leaves no prefix.
ERROR_BODY_READ = ERROR_BODY_LIMIT + 8 * 1024


def scrubbed_error_body(body: bytes, secrets: SecretScrubber | None) -> str:
    """The first ERROR_BODY_LIMIT bytes of an error body (read up to ERROR_BODY_READ), as text,
    scrubbed before the cut so that a key straddling it leaves no prefix."""
    if secrets is not None:
        body = secrets.data(body)
    return body[:ERROR_BODY_LIMIT].decode("utf-8", errors="replace")


def describe_failure(exc: BaseException, timeouts: Timeouts | None = None, *, streaming: bool = True) -> str:
    """One line for the transport failures that happen in production.

    `timeouts` are the ones the request was sent with (None: unknown); `streaming` says whether the
    response had begun (a read timeout then means silence between events, not before the answer).
    """
    detail = str(exc) or exc.__class__.__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection within {timeouts.connect:g} s (connect timeout)" if timeouts else f"connect timeout ({detail})"
    if isinstance(exc, httpx.ReadTimeout):
        if timeouts is None:
            return f"no data within the client's read timeout ({detail})"
        if streaming:
            return f"no data for {timeouts.read:g} s (read timeout); the workflow may still be running: `recorder reconcile` asks for its final status"
        return f"no response within {timeouts.read:g} s (read timeout); the workflow may have started: `recorder reconcile` can check"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server closed the connection mid-response ({detail})"
    if isinstance(exc, httpx.ReadError):
        return f"the connection was reset ({detail})"
    if isinstance(exc, httpx.DecodingError):
        return f"the body could not be decoded ({detail})"
    if isinstance(exc, httpx.ConnectError):
        lowered = detail.lower()
        if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
            return f"TLS handshake failed ({detail})"
        if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered or "name resolution" in lowered:
            return f"the host name could not be resolved ({detail})"
        if "refused" in lowered:
            return f"connection refused ({detail})"
        return f"cannot connect ({detail})"
    if isinstance(exc, asyncio.CancelledError):
        return "the task was cancelled"
    return f"{exc.__class__.__name__}: {detail}"
