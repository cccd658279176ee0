"""Vellum's predict API as the recorder meets it: base URL, endpoint paths, headers, the key variable.

Every module that calls, serves, replays or describes these endpoints takes the names from here, so
a path or header is spelled once. The wire format of the bodies is described in docs/wire-format.md.

Two endpoints execute a workflow as a stream, and the recorder names them one way everywhere (the
CLI's `--stream`, the cassette's request path, the README):

- the **v1 stream**, `POST /v1/execute-workflow-stream`: the deployment in the body, inputs as a
  typed list, and **legacy** events (`{execution_id, type: WORKFLOW|NODE, data: {state, ...}}`);
- the **v2 stream**, `POST /v1/workflow-deployments/{id}/execute-stream`: the deployment (its id or
  its name) in the path, inputs as a plain `{name: value}` object, and **sdk** events (the workflows
  SDK's `workflow.execution.*` / `node.execution.*`, keyed on `name`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from urllib.parse import quote, unquote

from recorder.model.vocabulary import StreamShape

DEFAULT_BASE_URL = "https://predict.vellum.ai"
BASE_URL_ENV = "VELLUM_PREDICT_URL"
API_KEY_ENV = "VELLUM_API_KEY"
API_KEY_HEADER = "X-API-KEY"

STREAM_PATH = "/v1/execute-workflow-stream"
# The v2 stream: `{id}` is the deployment's id or its name (the official client sends either as is).
DEPLOYMENT_STREAM_PATH = "/v1/workflow-deployments/{id}/execute-stream"
EXECUTE_PATH = "/v1/execute-workflow"
STATUS_PATH = "/v1/workflows/executions/{execution_id}/status"
STATUS_PREFIX = "/v1/workflows/executions/"
ACTUALS_PATH = "/v1/submit-workflow-execution-actuals"
# Where the Vellum app shows an execution (the status endpoint answers with this link).
EXECUTION_DETAIL_URL = "https://app.vellum.ai/workflows/executions/{execution_id}"

# Any base path may come before it, as for the v1 path's `endswith` checks; one path segment is the deployment.
_DEPLOYMENT_STREAM = re.compile(r"/v1/workflow-deployments/(?P<id>[^/?#]+)/execute-stream$")


class WorkflowStream(StrEnum):
    """Which of the two streaming endpoints an exchange went to (see the module doc)."""

    V1 = "v1"
    V2 = "v2"

    @property
    def event_shape(self) -> StreamShape:
        """What its lines are: `legacy` WORKFLOW/NODE events (v1) or `sdk` events (v2)."""
        return StreamShape.LEGACY if self is WorkflowStream.V1 else StreamShape.SDK

    @property
    def path_template(self) -> str:
        return STREAM_PATH if self is WorkflowStream.V1 else DEPLOYMENT_STREAM_PATH


def deployment_stream_path(deployment: str) -> str:
    """The v2 stream's path for a deployment id or name (percent-encoded: a name is one segment)."""
    if not deployment:
        raise ValueError("the v2 stream needs a deployment id or name")
    return DEPLOYMENT_STREAM_PATH.format(id=quote(deployment, safe=""))


def is_deployment_stream_path(path: str) -> bool:
    """Whether a request path (any base path before it) is the v2 stream's."""
    return _DEPLOYMENT_STREAM.search(path) is not None


def deployment_in_path(path: str) -> str | None:
    """The deployment id or name a v2 stream path names (decoded), or None for any other path."""
    found = _DEPLOYMENT_STREAM.search(path)
    return unquote(found["id"]) if found else None


def stream_of_path(path: str) -> WorkflowStream | None:
    """Which stream a request path executes, or None for a path that executes none."""
    if path.endswith(STREAM_PATH):
        return WorkflowStream.V1
    if is_deployment_stream_path(path):
        return WorkflowStream.V2
    return None


def is_endpoint(path: str, endpoint: str) -> bool:
    """Whether a request path (any base path before it) is `endpoint`, a path of this module;
    the v2 stream's template stands for every deployment's path."""
    if endpoint == DEPLOYMENT_STREAM_PATH:
        return is_deployment_stream_path(path)
    return path.endswith(endpoint)
