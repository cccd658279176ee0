"""Hand-built streams of the v2 stream (SDK-style events), each line made by the official
client's own models (vellum-ai), for the cases the samples do not hold: pauses, logs, snapshots,
nested workflows without their own events, unknown names."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from vellum.client.core.pydantic_utilities import parse_obj_as
from vellum.client.types import WorkflowEvent

_ORIGIN = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def at(ms: float) -> str:
    return (_ORIGIN + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def at_us(ms: float) -> int:
    return int((_ORIGIN + timedelta(milliseconds=ms)).timestamp() * 1_000_000)


class SdkStream:
    """One execution's SDK-style events, in the order they are added."""

    def __init__(self, deployment: str = "sdk-demo", release_tag: str = "production", execution_id: str | None = None) -> None:
        self.execution_id = execution_id or str(uuid.uuid4())
        self.trace_id = str(uuid.uuid4())
        self.definition = {"id": str(uuid.uuid4()), "name": "DemoWorkflow", "module": ["demo", "workflow"]}
        self.release = {
            "type": "WORKFLOW_RELEASE_TAG", "span_id": str(uuid.uuid4()), "deployment_id": str(uuid.uuid4()),
            "deployment_name": deployment, "deployment_history_item_id": str(uuid.uuid4()),
            "release_tag_id": str(uuid.uuid4()), "release_tag_name": release_tag, "external_id": None,
            "metadata": {"team": "search"}, "workflow_version_id": str(uuid.uuid4()), "parent": None,
        }
        self.spans: dict[str, str] = {}  # label -> span_id
        self.nodes: dict[str, dict[str, Any]] = {}  # label -> node definition
        self.nested: dict[str, tuple[str, str | None]] = {}  # nested workflow label -> (container label, around)
        self.lines: list[str] = []

    def span(self, label: str) -> str:
        return self.spans.setdefault(label, str(uuid.uuid4()))

    def workflow(self, state: str, ms: float, **body: Any) -> SdkStream:
        body = {"workflow_definition": self.definition, **_defaults(state, body)}
        if state == "paused":
            body.setdefault("external_inputs", [])
        return self._add(f"workflow.execution.{state}", ms, self.execution_id, self.release, body)

    def node(self, label: str, state: str, ms: float, *, within: str | None = None, **body: Any) -> SdkStream:
        definition = self.nodes.setdefault(label, {"id": str(uuid.uuid4()), "name": f"{label.title()}Node", "module": ["demo", label]})
        body = {"node_definition": definition, **_defaults(state, body)}
        return self._add(f"node.execution.{state}", ms, self.span(label), self._workflow_context(within), body)

    def nested_workflow(self, label: str, state: str, ms: float, *, container: str, within: str | None = None) -> SdkStream:
        """A nested workflow's own event (`label` runs inside node `container`)."""
        self.nested[label] = (container, within)
        definition = {"id": str(uuid.uuid4()), "name": "Nested", "module": ["demo", "nested"]}
        body = {"workflow_definition": definition, **_defaults(state, {})}
        return self._add(f"workflow.execution.{state}", ms, self.span(label), self._node_context(container, within), body)

    def raw(self, line: dict[str, Any] | str) -> SdkStream:
        """A line the client's models would not take (an unknown name, a broken event)."""
        self.lines.append(line if isinstance(line, str) else json.dumps(line))
        return self

    def body(self) -> bytes:
        return "".join(line + "\n" for line in self.lines).encode()

    def line_bytes(self) -> list[bytes]:
        return [line.encode() for line in self.lines]

    def _workflow_context(self, within: str | None) -> dict[str, Any]:
        if within is None:
            return {"type": "WORKFLOW", "span_id": self.execution_id, "workflow_definition": self.definition, "parent": self.release}
        container, around = self.nested[within]
        return {"type": "WORKFLOW", "span_id": self.span(within), "parent": self._node_context(container, around),
                "workflow_definition": {"id": str(uuid.uuid5(uuid.NAMESPACE_OID, within)), "name": "Nested", "module": ["demo"]}}

    def _node_context(self, container: str, within: str | None) -> dict[str, Any]:
        return {"type": "WORKFLOW_NODE", "span_id": self.span(container), "node_definition": self.nodes[container],
                "parent": self._workflow_context(within)}

    def _add(self, name: str, ms: float, span_id: str, parent: dict[str, Any], body: dict[str, Any]) -> SdkStream:
        event = {"id": str(uuid.uuid4()), "timestamp": at(ms), "api_version": "2024-10-25", "trace_id": self.trace_id,
                 "span_id": span_id, "parent": parent, "links": None, "name": name, "body": body}
        self.lines.append(parse_obj_as(WorkflowEvent, event).json())  # type: ignore[arg-type]
        return self


def _defaults(state: str, body: dict[str, Any]) -> dict[str, Any]:
    """What each event name's body must hold, unless the caller gave it."""
    required: dict[str, Any] = {
        "initiated": {"inputs": {}},
        "streaming": {"output": {"name": "text", "delta": "chunk"}},
        "fulfilled": {"outputs": {}},
        "rejected": {"error": {"message": "boom", "code": "NODE_EXECUTION"}},
        "log": {"message": "a note", "severity": "INFO"},
        "snapshotted": {"state": {}},
    }.get(state, {})
    return {**required, **body}
