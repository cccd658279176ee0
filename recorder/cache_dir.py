"""Where the recorder keeps what it can rebuild: the user's cache folder, one rule for everything.

`RECORDER_CACHE_DIR` when set, else `$XDG_CACHE_HOME` (or `~/.cache`) then `workflow-recorder`.
The report keeps its Vega bundle there and analytics its fleet snapshots; deleting the folder only
costs time. A leaf: it imports nothing of the recorder, so any layer may use it.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "RECORDER_CACHE_DIR"


def cache_root() -> Path:
    """The folder (it may not exist yet; callers create what they write)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "workflow-recorder"
