"""The demo's four workflow deployments: their DAGs, release tags, models and what can go wrong.

Node ids derive from deployment and node name (as a server keeps them), and the second release tag
of each deployment is slower on one node, so a release comparison shows a regression.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from recorder.demo.random_values import stable_id


@dataclass(frozen=True)
class NodeSpec:
    """A node definition; ids derive from deployment and ``name``, so they are the same in every run.

    A TERMINAL's name is the workflow output it produces; a root PROMPT's ``feeds`` names the TERMINAL it
    streams into. ``children`` is the body of a SUBWORKFLOW or MAP node.
    """

    name: str
    kind: str
    after: tuple[str, ...] = ()
    median_ms: float = 0.6
    feeds: str = ""
    out_type: str = "STRING"
    children: tuple[NodeSpec, ...] = ()


@dataclass(frozen=True)
class Deployment:
    """A workflow deployment; on ``release_tags[1]`` node ``regression[0]`` runs ``regression[1]`` times slower."""

    name: str
    release_tags: tuple[str, str]
    models: tuple[str, str]
    inputs: tuple[tuple[str, str], ...]
    nodes: tuple[NodeSpec, ...]
    regression: tuple[str, float]
    weight: float
    conversational: bool = False

    @property
    def deployment_id(self) -> str:
        return stable_id(self.name, "deployment")


def _n(name: str, kind: str, *after: str, ms: float = 0.6, **kw) -> NodeSpec:
    return NodeSpec(name, kind, after, ms, **kw)


DEPLOYMENTS: tuple[Deployment, ...] = (
    Deployment("support-agent", ("production", "staging"), ("gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022"),
               (("query", "STRING"), ("chat_history", "CHAT_HISTORY"), ("customer_id", "STRING")), (
        _n("retrieve_docs", "SEARCH", ms=320), _n("lookup_customer", "API", ms=420),
        _n("build_prompt", "TEMPLATING", "retrieve_docs", ms=8),
        _n("policy_guard", "SUBWORKFLOW", "build_prompt", children=(
            _n("classify_intent", "PROMPT", ms=700), _n("verdict", "TERMINAL", "classify_intent"))),
        _n("draft_answer", "PROMPT", "build_prompt", ms=1900, feeds="answer"),
        _n("route", "CONDITIONAL", "draft_answer", "policy_guard", ms=2),
        _n("answer", "TERMINAL", "draft_answer"), _n("customer", "TERMINAL", "lookup_customer")),
        ("draft_answer", 1.8), 0.42, conversational=True),
    Deployment("ticket-router", ("v12", "v13"), ("gpt-4o-mini", "gpt-4o-mini"),
               (("ticket_text", "STRING"), ("priority", "NUMBER")), (
        _n("normalize", "TEMPLATING", ms=6), _n("classify", "PROMPT", "normalize", ms=1100, feeds="reply"),
        _n("extract_fields", "CODE_EXECUTION", "normalize", ms=120, out_type="JSON"),
        _n("route", "CONDITIONAL", "classify", "extract_fields", ms=2),
        _n("reply", "TERMINAL", "classify"), _n("fields", "TERMINAL", "extract_fields")),
        ("extract_fields", 3.5), 0.25, conversational=True),
    Deployment("doc-summarizer", ("production", "canary"), ("gpt-4o-2024-08-06", "gpt-4o-2024-11-20"),
               (("document_url", "STRING"), ("max_sections", "NUMBER"), ("options", "JSON")), (
        _n("fetch_document", "API", ms=650),
        _n("split_sections", "CODE_EXECUTION", "fetch_document", ms=60, out_type="JSON"),
        _n("summarize_sections", "MAP", "split_sections", children=(
            _n("summarize_chunk", "PROMPT", ms=1300), _n("chunk_summary", "TERMINAL", "summarize_chunk"))),
        _n("combine", "PROMPT", "summarize_sections", ms=2100, feeds="summary"),
        _n("summary", "TERMINAL", "combine"), _n("sections", "TERMINAL", "summarize_sections")),
        ("combine", 1.7), 0.17),
    Deployment("lead-scorer", ("production", "staging"), ("gpt-4o-mini", "gpt-4o-mini"),
               (("company", "STRING"), ("lead", "JSON")), (
        _n("enrich_company", "API", ms=480), _n("crm_history", "SEARCH", ms=260),
        _n("score_features", "CODE_EXECUTION", "enrich_company", "crm_history", ms=35, out_type="NUMBER"),
        _n("qualify", "SUBWORKFLOW", "score_features", children=(
            _n("research", "PROMPT", ms=900), _n("format_reason", "TEMPLATING", "research", ms=5),
            _n("reason_text", "TERMINAL", "format_reason"))),
        _n("decide", "CONDITIONAL", "qualify", ms=2),
        _n("score", "TERMINAL", "score_features"), _n("reason", "TERMINAL", "qualify")),
        ("enrich_company", 2.2), 0.16),
)

# What can go wrong, by node kind: (code, message, raw_data, stacktrace, relative weight).
_TRACE = ('Traceback (most recent call last):\n  File "main.py", line 7, in main\n    return total / count\n'
          'ZeroDivisionError: division by zero\n')
_TIMEOUT = ("NODE_TIMEOUT", "Node exceeded its timeout of 30 seconds", None, None, 1)
ERRORS: dict[str, tuple[tuple, ...]] = {
    "PROMPT": (("LLM_PROVIDER", "Model host returned HTTP 529: overloaded",
                {"status_code": 529, "provider": "ANTHROPIC"}, None, 3),
               ("PROVIDER_QUOTA_EXCEEDED", "Rate limit reached for requests per minute",
                {"status_code": 429, "provider": "OPENAI"}, None, 2), _TIMEOUT),
    "API": (("NODE_EXECUTION", "API node received status 502", "502 Bad Gateway", None, 2), _TIMEOUT),
    "CODE_EXECUTION": (("NODE_EXECUTION", "ZeroDivisionError: division by zero", None, _TRACE, 1),),
    "SEARCH": (("NODE_EXECUTION", "Search index 'kb-prod' is unavailable", None, None, 1),),
    "TEMPLATING": (("INVALID_TEMPLATE", "'dict object' has no attribute 'items_list'", None, None, 1),),
}
CANCELLED = {True: "Node was cancelled because another node in the workflow failed",
             False: "Node was cancelled because its parent workflow was stopped"}
PRICES = {"gpt-4o-mini": (0.15e-6, 0.6e-6), "gpt-4o-2024-08-06": (2.5e-6, 10e-6),
          "gpt-4o-2024-11-20": (2.5e-6, 10e-6), "claude-3-5-sonnet-20241022": (3e-6, 15e-6)}
NODE_INPUTS = {"SEARCH": (("query", "STRING"), ("limit", "NUMBER")), "TEMPLATING": (("text", "STRING"),),
               "PROMPT": (("question", "STRING"), ("chat_history", "CHAT_HISTORY")),
               "API": (("url", "STRING"), ("authorization", "SECRET"), ("body", "JSON")),
               "CODE_EXECUTION": (("text", "STRING"), ("options", "JSON"))}


def walk_specs(specs: tuple[NodeSpec, ...]) -> Iterator[NodeSpec]:
    for spec in specs:
        yield spec
        yield from walk_specs(spec.children)
