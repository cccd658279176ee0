"""The closed sets of the wire format (docs/wire-format.md, sections B.1 to B.7).

A value outside these sets is not an error: Vellum adds node types and states over time. The parser
stores such events and flags them, so a reader can find schema drift with one query.
"""

from enum import StrEnum

EVENT_TYPES = frozenset({"WORKFLOW", "NODE"})

WORKFLOW_STATES = frozenset({"INITIATED", "STREAMING", "FULFILLED", "REJECTED", "PENDING"})
NODE_STATES = frozenset({"INITIATED", "STREAMING", "FULFILLED", "REJECTED"})
TERMINAL_STATES = frozenset({"FULFILLED", "REJECTED"})

# The v2 stream's SDK-style events (section D) name their state in `name`
# (`workflow.execution.fulfilled`); the parser indexes it upper-cased beside the legacy states.
SDK_WORKFLOW_STATES = frozenset({"INITIATED", "STREAMING", "FULFILLED", "REJECTED", "PAUSED", "RESUMED", "SNAPSHOTTED"})
SDK_NODE_STATES = frozenset({"INITIATED", "STREAMING", "FULFILLED", "REJECTED", "PAUSED", "RESUMED", "LOG"})
# States that say something happened without moving a run on: not its latest state.
NOTE_STATES = frozenset({"LOG", "SNAPSHOTTED"})
# The node type a nested workflow's own span gets (the SDK stream has one; the legacy one does not).
NESTED_WORKFLOW = "WORKFLOW"

NODE_TYPES = frozenset(
    {
        "PROMPT",
        "SEARCH",
        "TEMPLATING",
        "CODE_EXECUTION",
        "CONDITIONAL",
        "API",
        "TERMINAL",
        "MERGE",
        "SUBWORKFLOW",
        "METRIC",
        "MAP",
    }
)

# Union of every tagged value type the client knows, across inputs, outputs and node values (B.7).
VALUE_TYPES = frozenset(
    {
        "STRING",
        "NUMBER",
        "JSON",
        "CHAT_HISTORY",
        "SEARCH_RESULTS",
        "ERROR",
        "ARRAY",
        "FUNCTION_CALL",
        "THINKING",
        "SECRET",
        "AUDIO",
        "VIDEO",
        "IMAGE",
        "DOCUMENT",
    }
)

# The status an execution has while no terminal WORKFLOW event was recorded for it.
INCOMPLETE = "INCOMPLETE"


class StreamShape(StrEnum):
    """Which of Vellum's two event shapes a line has: the legacy WORKFLOW/NODE envelope of
    `/v1/execute-workflow-stream`, or the SDK-style events of the deployment's `execute-stream`."""

    LEGACY = "legacy"
    SDK = "sdk"


class Flag:
    """Names of the flags an event can carry; stored comma-separated in `events.flags`."""

    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_STATE = "unknown_state"
    UNKNOWN_NODE_TYPE = "unknown_node_type"
    UNKNOWN_VALUE_TYPE = "unknown_value_type"
    MISSING_TS = "missing_ts"
    BAD_TS = "bad_ts"
    NAIVE_TS = "naive_ts"
    SCHEMA_DRIFT = "schema_drift"
    # A value the store cannot index as it is (NUL, a lone surrogate, NaN, an id too long, ...):
    # its column is NULL and the verbatim line keeps it.
    UNINDEXABLE = "unindexable"


class Outcome(StrEnum):
    """How a recorded exchange ended: `recordings.outcome` in the store and `response.outcome` in a
    cassette. Members are strings, so they compare, store and serialise as their values."""

    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    CUT = "cut"
    HTTP_ERROR = "http_error"
    CONNECTION_ERROR = "connection_error"
    INTERRUPTED = "interrupted"
