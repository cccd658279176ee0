"""`recorder`: the command group, the global --db option, and one-line errors."""

from __future__ import annotations

import click

from recorder import __version__
from recorder.api import ExecutionNotFound, Recorder
from recorder.store import SchemaOutOfDate
from recorder.store.engine import DEFAULT_URL, URL_ENV
from recorder.stream.http import MissingApiKey
from recorder.stream.ingest import IngestError


class CliContext:
    """Opens the store on first use, so `recorder --help` never touches a database."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._recorder: Recorder | None = None

    @property
    def recorder(self) -> Recorder:
        if self._recorder is None:
            self._recorder = Recorder(self.url)
        return self._recorder

    def close(self) -> None:
        if self._recorder is not None:
            self._recorder.close()


class RecorderGroup(click.Group):
    """Turns the errors users cause into one clear line and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ExecutionNotFound, SchemaOutOfDate, IngestError, MissingApiKey) as exc:
            raise click.ClickException(str(exc.args[0] if exc.args else exc)) from exc


@click.group(cls=RecorderGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "url",
    envvar=URL_ENV,
    metavar="URL",
    help=f"Store URL (SQLAlchemy): sqlite:///path.db or postgresql://user@host/db. Env: {URL_ENV}. Default: {DEFAULT_URL}.",
)
@click.version_option(__version__, prog_name="recorder")
@click.pass_context
def cli(ctx: click.Context, url: str | None) -> None:
    """Record, analyse and replay Vellum workflow execution streams."""
    ctx.obj = CliContext(url)
    ctx.call_on_close(ctx.obj.close)


def _register() -> None:
    # One module per area, each exporting COMMANDS; imported here, after `cli` exists.
    from recorder.cli import analytics_commands, demo, record_commands, replay_commands, report_commands, store_commands

    for module in (store_commands, record_commands, analytics_commands, replay_commands, report_commands, demo):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()
