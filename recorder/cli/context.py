"""What every command receives: the global --db URL and the Recorder, opened on first use.

Command modules import this, and `cli/main.py` only names them, so no module imports another
command module or the group: any of them can be imported first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from recorder.api import Recorder


class CliContext:
    """Opens the store on first use, so `recorder --help` never touches a database.

    `creates_schema`: whether this invocation may give an empty database the schema (the recording
    commands); every other command fails with one line on a database that is not a recorder store.
    """

    def __init__(self, url: str | None, *, creates_schema: bool = False) -> None:
        self.url = url
        self.creates_schema = creates_schema
        self._recorder: Recorder | None = None

    @property
    def recorder(self) -> Recorder:
        if self._recorder is None:
            from recorder.api import Recorder
            from recorder.store import Store

            self._recorder = Recorder(store=Store(self.url, create_schema=self.creates_schema))
        return self._recorder

    def close(self) -> None:
        if self._recorder is not None:
            self._recorder.close()


pass_context = click.make_pass_decorator(CliContext)
"""Hands a command the CliContext the group made (click's `pass_obj`, checked by type)."""
