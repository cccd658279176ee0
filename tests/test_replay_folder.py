"""The cassette folder: what the pytest plugin writes is what a replay reads back."""

from __future__ import annotations

from pathlib import Path

from recorder.model.cassette import Cassette, Line, Request, Response
from recorder.replay.library import FolderLibrary


def recorded(name: str, at_us: int) -> Cassette:
    body = {"workflow_deployment_name": name, "inputs": []}
    return Cassette(Request(body=body), Response(lines=(Line(0, b"{}"),)), execution_id=f"exec-{name}", recorded_at_us=at_us)


def test_saved_cassettes_read_back_in_the_order_they_were_saved(tmp_path: Path) -> None:
    saved = [recorded("support agent", 2), recorded("billing", 1)]
    paths = FolderLibrary.save(tmp_path, saved)
    assert [path.name for path in paths] == ["001-support-agent.cassette.json", "002-billing.cassette.json"]
    library = FolderLibrary(tmp_path)
    assert [library.cassette(candidate) for candidate in library.candidates("POST", "/v1/execute-workflow-stream")] == saved


def test_saving_replaces_the_folders_cassettes_and_leaves_other_files(tmp_path: Path) -> None:
    FolderLibrary.save(tmp_path, [recorded("a", 1), recorded("b", 2)])
    (tmp_path / "notes.json").write_text("{}")
    FolderLibrary.save(tmp_path, [recorded("c", 3)])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["001-c.cassette.json", "notes.json"]
