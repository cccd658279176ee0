"""The compact live view `recorder record` prints while a stream flows.

Everything shown comes from the wire and is escaped before it meets rich markup: a node error
reading `[/INST]` is text to print, not a closing tag.

One line per event that changes something (a node starts, ends or fails; the workflow starts or
ends); streaming chunks are counted and shown on their node's final line, so a chatty prompt
does not flood the terminal.

Both streams read the same: a legacy (v1) event names its node type and error under `data`; an
SDK (v2) event (`name`: `node.execution.fulfilled`, ...) names its node by its definition and its
error under `body`, and may be a state the legacy stream never sends (PAUSED, RESUMED, LOG...).
"""

from __future__ import annotations

from rich.markup import escape

from recorder.cli.output import short, stderr, styled_status
from recorder.model.events import ParsedEvent, RejectedLine


class LiveView:
    def __init__(self) -> None:
        self._first_ts: int | None = None
        self._chunks: dict[str, int] = {}

    def __call__(self, parsed: ParsedEvent | RejectedLine) -> None:
        if isinstance(parsed, RejectedLine):
            stderr.print(f"[yellow]line {parsed.position} kept as a reject: {escape(parsed.reason)}[/yellow]")
            return
        if self._first_ts is None and parsed.ts_us is not None:
            self._first_ts = parsed.ts_us
        if parsed.state == "STREAMING":
            key = parsed.node_result_id or "workflow"
            self._chunks[key] = self._chunks.get(key, 0) + 1
            return
        offset = "" if parsed.ts_us is None or self._first_ts is None else f"+{(parsed.ts_us - self._first_ts) / 1e6:7.3f}s"
        flags = f" [magenta]({escape(', '.join(parsed.flags))})[/magenta]" if parsed.flags else ""
        if parsed.type == "NODE":
            chunks = self._chunks.pop(parsed.node_result_id or "", 0)
            streamed = f" {chunks} chunks" if chunks else ""
            source = f" in {escape(short(parsed.source_execution_id))}" if parsed.source_execution_id else ""
            stderr.print(
                f"{offset:>9} node {escape(_node_label(parsed)):<14} {escape(short(parsed.node_result_id))} "
                f"{styled_status(parsed.state)}{streamed}{source}{_error(parsed)}{flags}"
            )
        else:
            stderr.print(f"{offset:>9} [bold]{escape(parsed.type.lower())}[/bold] {escape(short(parsed.execution_id))} "
                         f"{styled_status(parsed.state)}{_error(parsed)}{flags}")


def _node_label(event: ParsedEvent) -> str:
    """The node's type (legacy), else the name of its definition (an SDK event's body names it)."""
    if event.node_type:
        return event.node_type
    definition = _sdk_body(event).get("node_definition")
    name = definition.get("name") if isinstance(definition, dict) else None
    return name if isinstance(name, str) else ""


def _sdk_body(event: ParsedEvent) -> dict:
    body = event.body.get("body") if isinstance(event.body.get("name"), str) else None
    return body if isinstance(body, dict) else {}


def _error(event: ParsedEvent) -> str:
    data = event.body.get("data")
    error = data.get("error") if isinstance(data, dict) else _sdk_body(event).get("error")
    if isinstance(error, dict) and error.get("code"):
        return f" [red]{escape(str(error.get('code')))}: {escape(str(error.get('message')))}[/red]"
    return ""
