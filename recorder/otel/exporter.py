"""Send recorded executions to an OTLP/HTTP receiver in batches, and keep the cursor of what was sent.

The walk: the store's change cursor is read once at the start (`up_to`), then the terminal
executions written after the target's cursor and up to `up_to` are read a page at a time in
(change_seq, execution_id) order, mapped (recorder.otel.trace_mapping) and sent with the
OpenTelemetry SDK's `OTLPSpanExporter` (HTTP/protobuf; it retries transient failures itself
until its timeout). A batch closes at an execution boundary once it holds `batch_spans` spans.

The cursor moves only after the exporter reported SUCCESS for a batch, and only as far as every
execution up to it was sent: when the batch's last execution shares its change_seq with one not
sent yet (one transaction wrote both), the cursor stops one short of it, and that change_seq is
sent again next time, which the deterministic span ids make harmless. After the last batch the
cursor is `up_to`: executions the walk passed over (INCOMPLETE ones, those a filter left out)
are not due again until a later write changes them (an INCOMPLETE execution's terminal event
does). A failed batch stops the export with `OtlpExportFailed`; the cursor stays where the last
good batch left it.

A cursor kept for another store (`store_id` differs: the store was wiped, or another sits at the
URL) is ignored and the export starts from the beginning; so is one ahead of the store's own
cursor (the store was restored from an older copy).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from recorder.model.filters import ExecutionFilter
from recorder.model.timestamps import now_us
from recorder.otel.trace_mapping import MAX_STREAMING_EVENTS_PER_SPAN, RecordedExecution, execution_spans, trace_id_from_line

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan

    from recorder.store import Store
    from recorder.store.schema import Execution

# Phoenix's default OTLP/HTTP endpoint: the receiver most people run beside a recorder.
DEFAULT_ENDPOINT = "http://localhost:6006/v1/traces"
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_HEADERS_ENV = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
HEADERS_ENV = "OTEL_EXPORTER_OTLP_HEADERS"
SERVICE_NAME_ENV = "OTEL_SERVICE_NAME"
DEFAULT_SERVICE_NAME = "workflow-recorder"

DEFAULT_BATCH_SPANS = 1_000
DEFAULT_PAGE_EXECUTIONS = 200
DEFAULT_TIMEOUT_S = 10.0

_SDK_LOGGER = "opentelemetry.exporter.otlp"  # where the SDK's exporter says why a batch failed


class OtlpExportError(Exception):
    """The export could not be done as asked (a bad endpoint or header); nothing was sent."""


class OtlpExportFailed(OtlpExportError):
    """The receiver did not take a batch. What went before it was sent and the cursor says so."""

    def __init__(self, message: str, *, executions_sent: int, batches_sent: int, cursor: int | None) -> None:
        super().__init__(message)
        self.executions_sent = executions_sent
        self.batches_sent = batches_sent
        self.cursor = cursor


@dataclass(frozen=True, slots=True)
class OtlpExportResult:
    """What an export sent (or, with dry_run, would send) and where its cursor stands."""

    executions: int
    spans: int
    batches: int
    endpoint: str  # the target: the endpoint URL without credentials
    cursor: int | None  # the target's change cursor after the export (None: none kept)
    resumed_from: int | None  # the cursor it started after (None: from the beginning)
    store_id: str
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- where to, and with which headers ---------------------------------------------------------------


def resolve_endpoint(endpoint: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The traces endpoint as the OpenTelemetry SDK reads it: the one given, else
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else OTEL_EXPORTER_OTLP_ENDPOINT plus
    `/v1/traces`, else Phoenix's default."""
    if endpoint:
        chosen = endpoint
    elif environ.get(TRACES_ENDPOINT_ENV):
        chosen = environ[TRACES_ENDPOINT_ENV]
    elif environ.get(ENDPOINT_ENV):
        chosen = environ[ENDPOINT_ENV].rstrip("/") + "/v1/traces"
    else:
        chosen = DEFAULT_ENDPOINT
    parts = urlsplit(chosen.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OtlpExportError(f"the OTLP endpoint must be an http:// or https:// URL, not {target_key(chosen)!r}")
    return chosen.strip()


def target_key(endpoint: str) -> str:
    """The endpoint as a cursor key and for display: no user, password, query or fragment."""
    parts = urlsplit(endpoint.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme.lower(), netloc.lower(), parts.path, "", ""))


def parse_headers(pairs: Sequence[str]) -> dict[str, str]:
    """`K=V` pairs (from the command line) as a dict. A malformed pair is refused without showing
    it: `Authorization: Bearer ...` typed with a colon is all secret."""
    headers = {}
    for number, pair in enumerate(pairs, 1):
        name, separator, value = pair.partition("=")
        if not separator or not name.strip():
            raise OtlpExportError(f"--headers takes NAME=VALUE; header {number} has no '=' or no name (its text is not shown)")
        headers[name.strip()] = value.strip()
    return headers


def resolve_headers(headers: Mapping[str, str] | None = None, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """OTEL_EXPORTER_OTLP_TRACES_HEADERS (else OTEL_EXPORTER_OTLP_HEADERS: `k=v,k2=v2`, values
    URL-encoded), overridden by the ones given. Names are lower-cased, as HTTP/2 sends them."""
    merged: dict[str, str] = {}
    for item in (environ.get(TRACES_HEADERS_ENV) or environ.get(HEADERS_ENV) or "").split(","):
        name, separator, value = item.partition("=")
        if separator and name.strip():
            merged[unquote(name.strip()).lower()] = unquote(value.strip())
    merged.update({name.lower(): value for name, value in (headers or {}).items()})
    return merged


def export_resource(environ: Mapping[str, str] = os.environ) -> Resource:
    """The resource every span carries: what OTEL_RESOURCE_ATTRIBUTES says, and service.name from
    OTEL_SERVICE_NAME (or those attributes), else "workflow-recorder"."""
    from opentelemetry.sdk.resources import Resource

    detected = Resource.create()
    name = environ.get(SERVICE_NAME_ENV) or str(detected.attributes.get("service.name") or "")
    if not name or name.startswith("unknown_service"):
        name = DEFAULT_SERVICE_NAME
    return Resource.create({"service.name": name})


# -- the export -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Batch:
    spans: list[ReadableSpan]
    executions: list[Execution]


def export_executions(
    store: Store,
    *,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    where: ExecutionFilter = ExecutionFilter(limit=None),
    resume: bool = True,
    dry_run: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    batch_spans: int = DEFAULT_BATCH_SPANS,
    page_executions: int = DEFAULT_PAGE_EXECUTIONS,
    on_progress: Callable[[int, int], None] | None = None,
) -> OtlpExportResult:
    """Send the store's terminal executions as OTLP traces; see the module docstring for the cursor.

    `resume` sends what was written after the target's cursor (False: everything, the cursor
    ignored but still moved forward). `dry_run` maps and counts without sending or moving the
    cursor. `on_progress(executions_done, executions_total)` is called at the start and after each batch.
    """
    url = resolve_endpoint(endpoint)
    key = target_key(url)
    state = store.change_state()
    kept = store.export_cursor(key)
    kept_here = kept if kept is not None and kept.store_id == state.store_id else None
    if kept_here is not None and kept_here.change_seq > state.change_seq:
        # Ahead of the store: it was restored from an older copy, and the changes after the copy
        # may be numbered again. Start over, as for another store.
        kept_here = None
        if not dry_run:
            store.forget_export_cursor(key)
    after = kept_here.change_seq if resume and kept_here is not None else None
    total = store.count_executions_to_export(after=after, up_to=state.change_seq, where=where)
    resource = export_resource()
    sender = None if dry_run else _span_exporter(url, resolve_headers(headers), timeout_s)

    sent_executions = sent_spans = batches = 0
    cursor = kept_here.change_seq if kept_here is not None else None

    def finished(batch: _Batch, next_seq: int | None) -> None:
        nonlocal sent_executions, sent_spans, batches, cursor
        if sender is not None:
            _send(sender, batch, key, batches, sent_executions, cursor)
        last_seq = batch.executions[-1].change_seq or 0
        reached = last_seq - 1 if next_seq == last_seq else last_seq
        if not dry_run:
            store.save_export_cursor(
                key, store_id=state.store_id, change_seq=reached, executions_sent=len(batch.executions), exported_at_us=now_us()
            )
            cursor = max(cursor, reached) if cursor is not None else reached
        sent_executions += len(batch.executions)
        sent_spans += len(batch.spans)
        batches += 1
        if on_progress is not None:
            on_progress(sent_executions, total)

    if on_progress is not None:
        on_progress(0, total)
    try:
        batch = _Batch([], [])
        for execution, spans, next_seq in _mapped(store, after, state.change_seq, where, resource, page_executions):
            batch.spans.extend(spans)
            batch.executions.append(execution)
            if len(batch.spans) >= batch_spans:
                finished(batch, next_seq)
                batch = _Batch([], [])
        if batch.executions:
            finished(batch, None)
    finally:
        if sender is not None:
            sender.shutdown()
    if not dry_run:
        # Everything up to the store's cursor at the start was sent or passed over.
        store.save_export_cursor(key, store_id=state.store_id, change_seq=state.change_seq, executions_sent=0, exported_at_us=now_us())
        cursor = max(cursor, state.change_seq) if cursor is not None else state.change_seq
    return OtlpExportResult(
        executions=sent_executions, spans=sent_spans, batches=batches, endpoint=key, cursor=cursor,
        resumed_from=after, store_id=state.store_id, dry_run=dry_run,
    )


def _mapped(
    store: Store, after: int | None, up_to: int, where: ExecutionFilter, resource: Resource, page_size: int
) -> Iterator[tuple[Execution, list[ReadableSpan], int | None]]:
    """Each due execution with its spans and the change_seq of the one after it (None: the last)."""
    resume_from: tuple[int, str] | None = None
    while True:
        page = store.executions_to_export(after=after, up_to=up_to, where=where, resume_from=resume_from, limit=page_size + 1)
        if not page:
            return
        lookahead = page[page_size] if len(page) > page_size else None
        page = page[:page_size]
        previous_ids = [e.previous_execution_id for e in page if e.previous_execution_id]
        details = store.export_details([e.execution_id for e in page], previous_ids, per_run_limit=MAX_STREAMING_EVENTS_PER_SPAN)
        for index, execution in enumerate(page):
            following = page[index + 1] if index + 1 < len(page) else lookahead
            previous_line = details.first_lines.get(execution.previous_execution_id or "")
            recorded = RecordedExecution(
                execution=execution,
                spans=details.spans.get(execution.execution_id, ()),
                streaming=details.streaming.get(execution.execution_id, ()),
                first_line=details.first_lines.get(execution.execution_id),
                previous_trace_id=trace_id_from_line(previous_line),
            )
            yield execution, execution_spans(recorded, resource), following.change_seq if following is not None else None
        if lookahead is None:
            return
        last = page[-1]
        resume_from = (last.change_seq or 0, last.execution_id)


def _span_exporter(url: str, headers: Mapping[str, str], timeout_s: float) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=url, headers=dict(headers), timeout=timeout_s)


def _send(sender: Any, batch: _Batch, key: str, batches_before: int, executions_before: int, cursor: int | None) -> None:
    from opentelemetry.sdk.trace.export import SpanExportResult

    with _sdk_complaints() as complaints:
        try:
            outcome = sender.export(batch.spans)
        except Exception as exc:  # noqa: BLE001 - the SDK's export should not raise; say what it did
            complaints.append(f"{exc.__class__.__name__}: {exc}")
            outcome = SpanExportResult.FAILURE
    if outcome is SpanExportResult.SUCCESS:
        return
    reason = _reason(complaints)
    where = "the cursor is unchanged" if cursor is None and not batches_before else f"the cursor stays at {cursor}"
    raise OtlpExportFailed(
        f"OTLP export to {key} failed at batch {batches_before + 1} ({len(batch.executions)} executions, "
        f"{len(batch.spans)} spans): {reason}; {executions_before} executions were sent before it and {where}",
        executions_sent=executions_before,
        batches_sent=batches_before,
        cursor=cursor,
    )


def _reason(complaints: Sequence[str]) -> str:
    """The SDK's own words for the failure, made short: the HTTP status it got, or why it could
    not connect, else its last message."""
    for text in reversed(complaints):
        answered = re.search(r"code: (\d+), reason: (.*)", text)
        if answered:
            return f"HTTP {answered.group(1)} {' '.join(answered.group(2).split())}"[:300]
    for text in reversed(complaints):
        errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
        if errno:
            return f"cannot connect ({errno.group(1).strip()})"
    if any("timed out" in text.lower() or "timeout" in text.lower() for text in complaints):
        return "no answer within the timeout"
    chosen = complaints[-1] if complaints else "the receiver did not accept it"
    return " ".join(chosen.split())[:300]


@contextmanager
def _sdk_complaints() -> Iterator[list[str]]:
    """Collect what the SDK's exporter logs while a batch is sent, instead of letting it print:
    the failure becomes one error that says why."""
    logger = logging.getLogger(_SDK_LOGGER)
    collected: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                collected.append(record.getMessage())
            except Exception:  # noqa: BLE001 - a message that cannot be formatted is still a failure
                collected.append(str(record.msg))

    handler = Collect(level=logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield collected
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
