"""Printing: rich tables for people on stdout, JSON for scripts on stdout, progress and notes on stderr."""

from __future__ import annotations

import io
import os
import sys
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn


def _width(stream) -> int | None:
    # Rich falls back to 80 columns when piped, which truncates ids in tables and wraps messages
    # mid-phrase; logs and pagers are wider than that.
    return None if stream.isatty() else int(os.environ.get("COLUMNS", "160"))


stdout = Console(highlight=False, soft_wrap=False, width=_width(sys.stdout))
stderr = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def print_json(value: Any) -> None:
    """Machine-readable output: one JSON document on stdout."""
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")
    sys.stdout.buffer.flush()


def byte_progress() -> Progress:
    """A progress bar over bytes read, on stderr, hidden when stderr is not a terminal. Hidden, it
    draws into a console of its own: older rich releases still end a disabled bar with a newline,
    which would land before an error message that must be stderr's only line."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr if stderr.is_terminal else Console(file=io.StringIO()),
        transient=True,
        disable=not stderr.is_terminal,
    )


def short(identifier: str | None, width: int = 8) -> str:
    """The first characters of an id: enough to tell ids apart on screen, and a valid prefix."""
    return "" if identifier is None else identifier[:width]


STATUS_STYLES = {"FULFILLED": "green", "REJECTED": "red", "INCOMPLETE": "yellow"}


def styled_status(status: str | None) -> str:
    if status is None:
        return ""
    from rich.markup import escape

    style = STATUS_STYLES.get(status, "magenta")
    # A status comes from the wire: text like `[/INST]` must print, not be read as markup.
    return f"[{style}]{escape(status)}[/{style}]"
