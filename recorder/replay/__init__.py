"""Replaying recorded workflow streams: cassettes, the replay server, transports and the pytest plugin.

Owns: one replay plan per cassette (plan.py) that the server, the transports and the line feed
all follow; request matching (matching.py, with one reading function per field in
match_fields.py); where cassettes come from and go to (library.py for folders, store_library.py
for the store, export.py from the store); redaction; capture of real exchanges into cassettes
(capture.py); the pytest plugin; and the replay vocabulary (vocabulary.py).
May import: recorder.stream (capture tees real responses through its tee), recorder.store and
recorder.model.

- `recorder.model.cassette`: the cassette format (one recorded exchange, versioned).
- `export_cassette`: store -> cassette, byte for byte (recorder.stream.ingest.ingest_cassette goes back).
- `redact`: values out of a cassette before it is written.
- `plan_replay`: what a replay sends for a cassette and how the exchange ends, one plan for all.
- `ReplayServer` (`recorder serve`), `ReplayTransport` / `AsyncReplayTransport` (no server).
- `replay_lines` / `areplay_lines`: a cassette into any callable that takes raw lines.
- `recorder.replay.pytest_plugin`: the `vellum_replay` fixtures and record modes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder.lazy import lazy_attributes

if TYPE_CHECKING:
    from recorder.model.cassette import Cassette, CassetteError, Fault, Line, Request, Response, read_cassette, write_cassette
    from recorder.replay.export import ExportError, export_cassette
    from recorder.replay.feed import ReplayedCut, ReplayedHTTPError, areplay_lines, replay_lines
    from recorder.replay.library import CassetteLibrary, FolderLibrary
    from recorder.replay.matching import LOOSE, STRICT, MatchRule, NoMatch
    from recorder.replay.plan import Plan, plan_replay
    from recorder.replay.redaction import Redaction, redact
    from recorder.replay.server import ReplayServer
    from recorder.replay.store_library import StoreLibrary
    from recorder.replay.timing import Timing
    from recorder.replay.transport import AsyncReplayTransport, NotReplayed, ReplayTransport
    from recorder.replay.vocabulary import MatchField, MatchMode, OnNoMatch, RecordMode, TimingMode

__all__ = [
    "LOOSE",
    "STRICT",
    "AsyncReplayTransport",
    "Cassette",
    "CassetteError",
    "CassetteLibrary",
    "ExportError",
    "Fault",
    "FolderLibrary",
    "Line",
    "MatchField",
    "MatchMode",
    "MatchRule",
    "NoMatch",
    "NotReplayed",
    "OnNoMatch",
    "Plan",
    "RecordMode",
    "Redaction",
    "ReplayServer",
    "ReplayTransport",
    "ReplayedCut",
    "ReplayedHTTPError",
    "Request",
    "Response",
    "StoreLibrary",
    "Timing",
    "TimingMode",
    "areplay_lines",
    "export_cassette",
    "plan_replay",
    "read_cassette",
    "redact",
    "replay_lines",
    "write_cassette",
]

# Loaded on first use: the CLI's `serve` options need only `matching`, `timing` and `vocabulary`, and importing
# the package should not pay for SQLAlchemy (export, the store library) or httpx (transports).
_LAZY = {
    "Cassette": "recorder.model.cassette",
    "CassetteError": "recorder.model.cassette",
    "Fault": "recorder.model.cassette",
    "Line": "recorder.model.cassette",
    "Request": "recorder.model.cassette",
    "Response": "recorder.model.cassette",
    "read_cassette": "recorder.model.cassette",
    "write_cassette": "recorder.model.cassette",
    "ExportError": "recorder.replay.export",
    "export_cassette": "recorder.replay.export",
    "ReplayedCut": "recorder.replay.feed",
    "ReplayedHTTPError": "recorder.replay.feed",
    "areplay_lines": "recorder.replay.feed",
    "replay_lines": "recorder.replay.feed",
    "CassetteLibrary": "recorder.replay.library",
    "FolderLibrary": "recorder.replay.library",
    "LOOSE": "recorder.replay.matching",
    "STRICT": "recorder.replay.matching",
    "MatchRule": "recorder.replay.matching",
    "NoMatch": "recorder.replay.matching",
    "Plan": "recorder.replay.plan",
    "plan_replay": "recorder.replay.plan",
    "MatchField": "recorder.replay.vocabulary",
    "MatchMode": "recorder.replay.vocabulary",
    "OnNoMatch": "recorder.replay.vocabulary",
    "RecordMode": "recorder.replay.vocabulary",
    "TimingMode": "recorder.replay.vocabulary",
    "Redaction": "recorder.replay.redaction",
    "redact": "recorder.replay.redaction",
    "ReplayServer": "recorder.replay.server",
    "StoreLibrary": "recorder.replay.store_library",
    "Timing": "recorder.replay.timing",
    "AsyncReplayTransport": "recorder.replay.transport",
    "NotReplayed": "recorder.replay.transport",
    "ReplayTransport": "recorder.replay.transport",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
