"""Make tests/data/sdk_samples/: the 30 legacy samples told as the v2 stream's SDK-style events.

Each event is built by `recorder.demo.sdk_stream.to_sdk_events`, then parsed into the official
client's own model (`vellum.client.types.WorkflowEvent`, vellum-ai 1.14.8) and written back from
that model, so every line is one the client itself produces and accepts. Run from the repository
root with the test extra installed: `python tests/data/make_sdk_samples.py`. The output is
deterministic (ids are derived from the legacy sample's), so re-running it changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from vellum.client.core.pydantic_utilities import parse_obj_as
from vellum.client.types import WorkflowEvent

from recorder.demo.sdk_stream import deployment_of, to_sdk_events

HERE = Path(__file__).parent
LEGACY = HERE / "samples"
OUT = HERE / "sdk_samples"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    entries = []
    for body in sorted(LEGACY.glob("exec_*.ndjson")):
        truth = json.loads(body.with_name(body.stem + ".truth.json").read_text())
        request = truth["request"]
        legacy = [json.loads(line) for line in body.read_text().splitlines() if line.strip()]
        lines = []
        lineage = truth["lineage"]
        previous = request.get("previous_execution_id")
        # The chain's first execution, recorded or not: the last ancestor, else the missing one.
        root = (lineage["missing"] or lineage["ancestors"] or [previous])[-1] if previous else None
        told_events = to_sdk_events(legacy, deployment=deployment_of(request), previous_execution_id=previous, root_execution_id=root)
        for told in told_events:
            event = parse_obj_as(WorkflowEvent, told)  # type: ignore[arg-type]
            lines.append(event.json())
        data = ("\n".join(lines) + "\n").encode()
        (OUT / body.name).write_bytes(data)
        entries.append({
            "file": body.name,
            "execution_id": legacy[0]["execution_id"],
            "legacy": f"samples/{body.name}",
            "events": len(lines),
            "sha256": hashlib.sha256(data).hexdigest(),
            "request": {
                "deployment": request.get("workflow_deployment_name") or request.get("workflow_deployment_id"),
                "inputs": {item["name"]: item.get("value") for item in request.get("inputs") or []},
                "release_tag": request.get("release_tag"),
                "external_id": request.get("external_id"),
                "metadata": request.get("metadata"),
                "previous_execution_id": request.get("previous_execution_id"),
            },
        })
    manifest = {"generator": "tests/data/make_sdk_samples.py", "client": "vellum-ai 1.14.8", "samples": entries}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
