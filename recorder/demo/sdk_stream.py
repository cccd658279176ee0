"""The same execution told as the v2 stream tells it: SDK-style `workflow.execution.*` and
`node.execution.*` events, made from a legacy WORKFLOW/NODE event stream.

`POST /v1/workflow-deployments/{id}/execute-stream` streams what the workflows SDK emits
(docs/wire-format.md, section D). The demo server answers that endpoint with its synthetic
executions told this way, and the test samples of the v2 stream are the 30 legacy samples told
this way (then validated by the official client's own models), so the two streams of one
execution can be compared field by field.

The correspondence is the one section D.2 infers: the execution id is the root workflow's
`span_id`, a node run's `node_result_id` is its `span_id`, `node_id` is its definition's id, a
nested run's `source_execution_id` is the `span_id` of the nested workflow around it, whose parent
is the WORKFLOW_NODE context of the SUBWORKFLOW or MAP run that ran it. Nested workflows announce
themselves (`workflow.execution.initiated` / `fulfilled` / `rejected`) around their first and last
node event, as the SDK does when every event is streamed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

API_VERSION = "2024-10-25"
# Legacy error codes (B.5) and the SDK's for the same failure (D.1); the rest become INTERNAL_ERROR.
_SDK_ERROR_CODES = {
    "INVALID_WORKFLOW": "INVALID_WORKFLOW",
    "INVALID_INPUTS": "INVALID_INPUTS",
    "INVALID_OUTPUTS": "INVALID_OUTPUTS",
    "INVALID_STATE": "INVALID_STATE",
    "INVALID_CODE": "INVALID_CODE",
    "INVALID_TEMPLATE": "INVALID_TEMPLATE",
    "LLM_PROVIDER": "PROVIDER_ERROR",
    "PROVIDER_ERROR": "PROVIDER_ERROR",
    "PROVIDER_CREDENTIALS_UNAVAILABLE": "PROVIDER_CREDENTIALS_UNAVAILABLE",
    "USER_DEFINED_ERROR": "USER_DEFINED_ERROR",
    "WORKFLOW_CANCELLED": "WORKFLOW_CANCELLED",
    "NODE_CANCELLED": "NODE_CANCELLED",
    "NODE_EXECUTION": "NODE_EXECUTION",
    "NODE_TIMEOUT": "NODE_TIMEOUT",
    "WORKFLOW_TIMEOUT": "WORKFLOW_TIMEOUT",
}
_NAMESPACE = uuid.UUID("6f1c2b0e-3d4a-4e8b-9a51-2f7e0c9d8b11")
_STATES = {"INITIATED": "initiated", "STREAMING": "streaming", "FULFILLED": "fulfilled", "REJECTED": "rejected"}


def to_sdk_events(
    events: Sequence[Mapping[str, Any]],
    *,
    deployment: Mapping[str, Any] | None = None,
    previous_execution_id: str | None = None,
    root_execution_id: str | None = None,
) -> list[dict[str, Any]]:
    """The SDK-style events of the execution `events` tell (legacy WORKFLOW/NODE event dicts, one
    execution, in stream order). `deployment` (`name`, `id`, `release_tag`, `external_id`,
    `metadata`: what the request named) becomes the root workflow's WORKFLOW_RELEASE_TAG context.
    An execution continuing `previous_execution_id` links to it from its `initiated` event
    (PREVIOUS_SPAN, and ROOT_SPAN to the chain's first execution), as the SDK's runner does."""
    if not events:
        return []
    teller = _Teller(events, deployment or {})
    if previous_execution_id:
        teller.links = [
            teller.link("PREVIOUS_SPAN", previous_execution_id),
            teller.link("ROOT_SPAN", root_execution_id or previous_execution_id),
        ]
    return teller.tell()


def deployment_of(request: Mapping[str, Any]) -> dict[str, Any]:
    """What a v1 request body names of its deployment, as `to_sdk_events` takes it."""
    return {
        "name": request.get("workflow_deployment_name"),
        "id": request.get("workflow_deployment_id"),
        "release_tag": request.get("release_tag"),
        "external_id": request.get("external_id"),
        "metadata": request.get("metadata"),
    }


def sdk_error_code(code: Any) -> str:
    return _SDK_ERROR_CODES.get(code, "INTERNAL_ERROR") if isinstance(code, str) else "INTERNAL_ERROR"


def stable_id(*parts: str) -> str:
    """An id derived from `parts`: telling the same execution twice gives the same lines."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


class _Teller:
    def __init__(self, events: Sequence[Mapping[str, Any]], deployment: Mapping[str, Any]) -> None:
        self.events = events
        self.execution_id = str(events[0]["execution_id"])
        self.trace_id = stable_id("trace", self.execution_id)
        name = str(deployment.get("name") or "workflow")
        self.workflow_definition = _definition(stable_id("workflow", name), _class_name(name, "Workflow"), ["workflow"])
        self.root_context = self._root_context(deployment)
        # A nested execution's container run (SUBWORKFLOW `execution_id`, MAP `execution_ids`),
        # each run's execution (as its first event says) and each nested execution's last event:
        # known before telling, from the whole stream.
        self.container_of: dict[str, str] = {}
        self.source_of: dict[str, str] = {}
        self.node_ids: dict[str, str] = {}
        self.node_types: dict[str, str] = {}
        self.last_event: dict[str, int] = {}
        self.links: list[dict[str, Any]] | None = None
        self._scan()

    def link(self, kind: str, execution_id: str) -> dict[str, Any]:
        """A span link to another execution's root workflow span."""
        return {"trace_id": stable_id("trace", execution_id), "type": kind,
                "span_context": {"type": "WORKFLOW", "span_id": execution_id,
                                 "workflow_definition": self.workflow_definition, "parent": None}}

    def _scan(self) -> None:
        for position, event in enumerate(self.events):
            data = event.get("data") or {}
            if event.get("type") != "NODE":
                continue
            run = data.get("node_result_id")
            if isinstance(data.get("node_id"), str):
                self.node_ids.setdefault(run, data["node_id"])
            payload = data.get("data") if isinstance(data.get("data"), Mapping) else {}
            if isinstance(payload.get("type"), str):
                self.node_types.setdefault(run, payload["type"])
            inner = payload.get("data") if isinstance(payload.get("data"), Mapping) else {}
            children = list(inner.get("execution_ids") or [])
            if payload.get("type") == "SUBWORKFLOW" and isinstance(inner.get("execution_id"), str):
                children.append(inner["execution_id"])
            for child in children:
                if isinstance(child, str):
                    self.container_of.setdefault(child, run)
            source = data.get("source_execution_id")
            self.source_of.setdefault(run, source if isinstance(source, str) else self.execution_id)
            if isinstance(source, str):
                self.last_event[source] = position

    def tell(self) -> list[dict[str, Any]]:
        told: list[dict[str, Any]] = []
        opened: set[str] = set()
        failed: set[str] = set()
        for position, event in enumerate(self.events):
            data = event.get("data") or {}
            source = data.get("source_execution_id") if event.get("type") == "NODE" else None
            if isinstance(source, str) and source not in opened:
                opened.add(source)
                told.extend(self._nested_opening(source, data.get("ts")))
            told.append(self._event(event, data, source))
            if event.get("type") == "NODE" and data.get("state") == "REJECTED" and isinstance(source, str):
                failed.add(source)
            if isinstance(source, str) and self.last_event.get(source) == position:
                told.append(self._nested_closing(source, data.get("ts"), source in failed))
        return told

    # -- contexts ------------------------------------------------------------------------------

    def _root_context(self, deployment: Mapping[str, Any]) -> dict[str, Any] | None:
        if not deployment:
            return None
        name = str(deployment.get("name") or "workflow")
        release_tag = str(deployment.get("release_tag") or "LATEST")
        return {
            "type": "WORKFLOW_RELEASE_TAG",
            "span_id": stable_id("release", self.execution_id),
            "deployment_id": str(deployment.get("id") or stable_id("deployment", name)),
            "deployment_name": name,
            "deployment_history_item_id": stable_id("history", name, release_tag),
            "release_tag_id": stable_id("tag", name, release_tag),
            "release_tag_name": release_tag,
            "external_id": deployment.get("external_id"),
            "metadata": deployment.get("metadata"),
            "workflow_version_id": stable_id("version", name, release_tag),
            "parent": {"type": "API_REQUEST", "span_id": stable_id("request", self.execution_id), "parent": None},
        }

    def _workflow_context(self, span_id: str) -> dict[str, Any]:
        """The WORKFLOW context of workflow span `span_id` (the root, or a nested one)."""
        if span_id == self.execution_id:
            return {"type": "WORKFLOW", "span_id": span_id, "workflow_definition": self.workflow_definition,
                    "parent": self.root_context}
        return {"type": "WORKFLOW", "span_id": span_id, "workflow_definition": self._nested_definition(span_id),
                "parent": self._nested_parent(span_id)}

    def _nested_parent(self, span_id: str) -> dict[str, Any]:
        """A nested workflow's parent: the WORKFLOW_NODE context of the run that ran it."""
        container = self.container_of.get(span_id)
        if container is None:  # its container never named it: hang it under the root workflow
            return self._workflow_context(self.execution_id)
        return {"type": "WORKFLOW_NODE", "span_id": container, "node_definition": self._node_definition(container),
                "parent": self._workflow_context(self.source_of.get(container, self.execution_id))}

    def _nested_definition(self, span_id: str) -> dict[str, Any]:
        container = self.container_of.get(span_id, "")
        kind = self.node_types.get(container, "SUBWORKFLOW")
        name = "MapIterationWorkflow" if kind == "MAP" else "Subworkflow"
        return _definition(stable_id("nested", self.node_ids.get(container, span_id)), name, ["workflow", "nested"])

    def _node_definition(self, run: str) -> dict[str, Any]:
        node_type = self.node_types.get(run, "NODE")
        node_id = self.node_ids.get(run) or stable_id("node", run)
        return _definition(node_id, _class_name(node_type, "Node"), ["workflow", "nodes", node_type.lower()])

    # -- events --------------------------------------------------------------------------------

    def _envelope(
        self, name: str, event_id: str, ts: Any, span_id: str, parent: Any, body: dict[str, Any], links: Any = None
    ) -> dict[str, Any]:
        return {
            "id": event_id,
            "timestamp": ts,
            "api_version": API_VERSION,
            "trace_id": self.trace_id,
            "span_id": span_id,
            "parent": parent,
            "links": links,
            "name": name,
            "body": body,
        }

    def _nested_opening(self, span_id: str, ts: Any) -> list[dict[str, Any]]:
        body = {"workflow_definition": self._nested_definition(span_id), "inputs": {}}
        return [self._envelope("workflow.execution.initiated", stable_id("opened", span_id), ts, span_id,
                               self._nested_parent(span_id), body)]

    def _nested_closing(self, span_id: str, ts: Any, failed: bool) -> dict[str, Any]:
        definition = self._nested_definition(span_id)
        if failed:
            name = "workflow.execution.rejected"
            body = {"workflow_definition": definition,
                    "error": {"message": "A node of the nested workflow was rejected", "code": "NODE_EXECUTION"}}
        else:
            name, body = "workflow.execution.fulfilled", {"workflow_definition": definition, "outputs": {}}
        return self._envelope(name, stable_id("closed", span_id), ts, span_id, self._nested_parent(span_id), body)

    def _event(self, event: Mapping[str, Any], data: Mapping[str, Any], source: Any) -> dict[str, Any]:
        state = _STATES.get(str(data.get("state")), "streaming")
        event_id = str(data.get("id") or stable_id("event", str(id(event))))
        if event.get("type") == "WORKFLOW":
            parent = self.root_context
            name = f"workflow.execution.{state}"
            links = self.links if state == "initiated" else None
            return self._envelope(name, event_id, data.get("ts"), self.execution_id, parent, self._workflow_body(state, data), links)
        run = str(data.get("node_result_id"))
        workflow_span = source if isinstance(source, str) else self.execution_id
        body = self._node_body(state, run, data)
        return self._envelope(f"node.execution.{state}", event_id, data.get("ts"), run,
                              self._workflow_context(workflow_span), body)

    def _workflow_body(self, state: str, data: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"workflow_definition": self.workflow_definition}
        if state == "initiated":
            body["inputs"] = _named_values(data.get("inputs"), "name")
        elif state == "streaming":
            body["output"] = _output(data.get("output"))
        elif state == "fulfilled":
            body["outputs"] = _named_values(data.get("outputs"), "name")
        else:
            body["error"] = _error(data.get("error"))
        return body

    def _node_body(self, state: str, run: str, data: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"node_definition": self._node_definition(run)}
        payload = data.get("data") if isinstance(data.get("data"), Mapping) else {}
        inner = payload.get("data") if isinstance(payload.get("data"), Mapping) else {}
        if state == "initiated":
            body["inputs"] = _named_values(data.get("input_values"), "key")
        elif state == "streaming":
            delta = inner.get("delta")
            body["output"] = {"name": "text", "delta": delta} if delta is not None else _output(data.get("output"), "value")
        elif state == "fulfilled":
            body["outputs"] = _node_outputs(payload.get("type"), inner, data.get("output_values"))
        else:
            body["error"] = _error(data.get("error"))
        return body


def _definition(definition_id: str, name: str, module: list[str]) -> dict[str, Any]:
    return {"id": definition_id, "name": name, "module": module}


def _class_name(text: str, suffix: str) -> str:
    words = [word for word in "".join(c if c.isalnum() else " " for c in text).split() if word]
    return "".join(word[:1].upper() + word[1:].lower() for word in words) + suffix


def _named_values(items: Any, key: str) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {str(item.get(key)): item.get("value") for item in items if isinstance(item, Mapping)}


def _output(output: Any, default_name: str = "output") -> dict[str, Any]:
    if not isinstance(output, Mapping):
        return {"name": default_name}
    told: dict[str, Any] = {"name": str(output.get("name") or default_name)}
    if output.get("delta") is not None:
        told["delta"] = output["delta"]
    elif output.get("state") == "FULFILLED" or output.get("value") is not None:
        told["value"] = output.get("value")
    return told


def _node_outputs(node_type: Any, inner: Mapping[str, Any], output_values: Any) -> dict[str, Any]:
    if node_type == "PROMPT":
        return {"text": inner.get("text")}
    if node_type == "TERMINAL" and isinstance(inner.get("output"), Mapping):
        return {str(inner["output"].get("name")): inner["output"].get("value")}
    values = [item.get("value") for item in output_values or [] if isinstance(item, Mapping)]
    if len(values) == 1:
        return {"value": values[0]}
    return {f"value_{index}": value for index, value in enumerate(values)}


def _error(error: Any) -> dict[str, Any]:
    if not isinstance(error, Mapping):
        return {"message": "rejected", "code": "INTERNAL_ERROR"}
    return {"message": str(error.get("message") or ""), "code": sdk_error_code(error.get("code"))}
