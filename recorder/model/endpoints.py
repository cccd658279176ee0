"""Vellum's predict API as the recorder meets it: base URL, endpoint paths, headers, the key variable.

Every module that calls, serves, replays or describes these endpoints takes the names from here, so
a path or header is spelled once. The wire format of the bodies is described in docs/wire-format.md.
"""

from __future__ import annotations

DEFAULT_BASE_URL = "https://predict.vellum.ai"
BASE_URL_ENV = "VELLUM_PREDICT_URL"
API_KEY_ENV = "VELLUM_API_KEY"
API_KEY_HEADER = "X-API-KEY"

STREAM_PATH = "/v1/execute-workflow-stream"
EXECUTE_PATH = "/v1/execute-workflow"
STATUS_PATH = "/v1/workflows/executions/{execution_id}/status"
STATUS_PREFIX = "/v1/workflows/executions/"
ACTUALS_PATH = "/v1/submit-workflow-execution-actuals"
# Where the Vellum app shows an execution (the status endpoint answers with this link).
EXECUTION_DETAIL_URL = "https://app.vellum.ai/workflows/executions/{execution_id}"
