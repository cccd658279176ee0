"""Replaying recorded workflow streams: cassettes, the replay server, transports and the pytest plugin.

- `recorder.model.cassette`: the cassette format (one recorded exchange, versioned).
- `export_cassette` / `ingest_cassette`: store -> cassette -> store, byte for byte.
- `redact`: values out of a cassette before it is written.
- `ReplayServer` (`recorder serve`), `ReplayTransport` / `AsyncReplayTransport` (no server).
- `replay_lines` / `areplay_lines`: a cassette into any callable that takes raw lines.
- `recorder.replay.pytest_plugin`: the `vellum_replay` fixtures and record modes.
"""

from recorder.model.cassette import Cassette, CassetteError, Fault, Line, Request, Response, read_cassette, write_cassette
from recorder.replay.export import ExportError, export_cassette
from recorder.replay.feed import ReplayedCut, ReplayedHTTPError, areplay_lines, replay_lines
from recorder.replay.ingest import ingest_cassette, ingest_cassette_file
from recorder.replay.library import CassetteLibrary, FolderLibrary
from recorder.replay.matching import LOOSE, STRICT, MatchRule, NoMatch
from recorder.replay.redaction import Redaction, redact
from recorder.replay.server import ReplayServer
from recorder.replay.store_library import StoreLibrary
from recorder.replay.timing import Timing
from recorder.replay.transport import AsyncReplayTransport, NotReplayed, ReplayTransport

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
    "MatchRule",
    "NoMatch",
    "NotReplayed",
    "Redaction",
    "ReplayServer",
    "ReplayTransport",
    "ReplayedCut",
    "ReplayedHTTPError",
    "Request",
    "Response",
    "StoreLibrary",
    "Timing",
    "areplay_lines",
    "export_cassette",
    "ingest_cassette",
    "ingest_cassette_file",
    "read_cassette",
    "redact",
    "replay_lines",
    "write_cassette",
]
