"""Every attribute key and span-kind value the export writes, in one place.

Literal keys, not the convention packages' constants: the GenAI keys live only in
opentelemetry-semantic-conventions' `_incubating` modules (private, renamed between releases),
and openinference-semantic-conventions does not come with the `[otel]` extra. The names follow:

- OpenTelemetry GenAI semantic conventions (`gen_ai.*`), read by OTel-native backends;
- OpenInference (`openinference.span.kind`, `llm.*`), read by Arize Phoenix and other LLM
  observability tools, which use the span kind to pick icons, token roll-ups and views;
- `vellum.*`: the recorder's own facts about the execution and the node run.
"""

from __future__ import annotations

from collections.abc import Mapping

# OpenTelemetry (stable)
SERVICE_NAME = "service.name"
ERROR_TYPE = "error.type"

# OpenTelemetry GenAI (development status)
GEN_AI_SYSTEM = "gen_ai.system"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_SYSTEM_VELLUM = "vellum"

# OpenInference
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
LLM_MODEL_NAME = "llm.model_name"
LLM_TOKEN_COUNT_PROMPT = "llm.token_count.prompt"
LLM_TOKEN_COUNT_COMPLETION = "llm.token_count.completion"
LLM_TOKEN_COUNT_TOTAL = "llm.token_count.total"
LLM_COST_TOTAL = "llm.cost.total"  # USD, as Vellum reported it
METADATA = "metadata"  # JSON text: the request's metadata, which Phoenix shows as such

# The recorder's own
VELLUM_EXECUTION_ID = "vellum.execution_id"
VELLUM_DEPLOYMENT = "vellum.deployment"
VELLUM_DEPLOYMENT_ID = "vellum.deployment_id"
VELLUM_RELEASE_TAG = "vellum.release_tag"
VELLUM_EXTERNAL_ID = "vellum.external_id"
VELLUM_STATUS = "vellum.status"
VELLUM_PREVIOUS_EXECUTION_ID = "vellum.previous_execution_id"
VELLUM_ERROR_MESSAGE = "vellum.error_message"
VELLUM_NODE_ID = "vellum.node_id"
VELLUM_NODE_RESULT_ID = "vellum.node_result_id"
VELLUM_NODE_TYPE = "vellum.node_type"
VELLUM_NODE_NAME = "vellum.node_name"  # the node's class, as the v2 stream names it
VELLUM_SOURCE_EXECUTION_ID = "vellum.source_execution_id"
VELLUM_STREAMING_EVENTS = "vellum.streaming_events"
VELLUM_STREAMING_EVENTS_DROPPED = "vellum.streaming_events_dropped"
VELLUM_OPEN = "vellum.open"  # the run had no terminal event: its end is the execution's end
VELLUM_TS_LESS = "vellum.ts_less"  # a time is the receiving clock's, the event had no `ts`
VELLUM_LINK_TYPE = "vellum.link.type"

# OpenInference span kinds
CHAIN = "CHAIN"
LLM = "LLM"
RETRIEVER = "RETRIEVER"
TOOL = "TOOL"
EVALUATOR = "EVALUATOR"

# A node type's OpenInference kind; any other type (one Vellum adds later too) is a CHAIN step.
SPAN_KIND_OF_NODE_TYPE: Mapping[str, str] = {
    "PROMPT": LLM,
    "SEARCH": RETRIEVER,
    "API": TOOL,
    "CODE_EXECUTION": TOOL,
    "METRIC": EVALUATOR,
    "SUBWORKFLOW": CHAIN,
    "MAP": CHAIN,
    "TEMPLATING": CHAIN,
    "CONDITIONAL": CHAIN,
    "MERGE": CHAIN,
    "TERMINAL": CHAIN,
}

STREAMING_EVENT_NAME = "streaming"
