"""`recorder`: the command group, the global --db option, and one-line errors.

Commands load lazily (click's lazy-group pattern): `COMMANDS` maps each name to the module that
defines it and the short help `recorder --help` lists, so `--help` imports no command module and
`recorder COMMAND` imports only its own. Command modules take their context from cli/context.py,
never from here, so each can be imported first. They import SQLAlchemy, httpx, DuckDB and polars
inside their functions, so starting the CLI costs only click and rich.
"""

from __future__ import annotations

import gc
import importlib
from typing import Any, NamedTuple

import click

from recorder.version import __version__
from recorder.cli.context import CliContext
from recorder.cli.errors import one_line_error
from recorder.store.urls import DEFAULT_URL, URL_ENV


class LazyCommand(NamedTuple):
    """Where a command lives ("module:attribute"), its one-line help, and whether it records."""

    target: str
    short_help: str
    records: bool = False


# `records`: the command writes recordings, so it may create the schema in an empty database. Every
# other command only reads (or adds facts to executions already recorded) and creates nothing.
COMMANDS: dict[str, LazyCommand] = {
    "init": LazyCommand("recorder.cli.store_commands:init", "Create the schema, or migrate it to this version."),
    "ingest": LazyCommand("recorder.cli.store_commands:ingest", "Record saved response bodies (NDJSON or cassettes).", records=True),
    "executions": LazyCommand("recorder.cli.store_commands:executions", "List recorded executions, newest first."),
    "show": LazyCommand("recorder.cli.store_commands:show", "The audit view of one execution, events in order."),
    "record": LazyCommand("recorder.cli.record_commands:record", "Execute a deployed workflow and record its stream live.", records=True),
    "reconcile": LazyCommand("recorder.cli.record_commands:reconcile", "Ask Vellum for the final status of INCOMPLETE executions."),
    "actuals": LazyCommand("recorder.cli.record_commands:actuals", "Submit feedback on an output to Vellum and record it."),
    "timeline": LazyCommand("recorder.cli.analytics_commands:timeline", "What happened in one execution, and when."),
    "latency": LazyCommand("recorder.cli.analytics_commands:latency", "Where the time goes: latency percentiles by group."),
    "usage": LazyCommand("recorder.cli.analytics_commands:usage", "Token usage and cost (USD) of PROMPT runs."),
    "compare": LazyCommand("recorder.cli.analytics_commands:compare", "Compare two release tags of one deployment."),
    "lineage": LazyCommand("recorder.cli.analytics_commands:lineage", "Ancestors and descendants along previous_execution_id."),
    "sql": LazyCommand("recorder.cli.analytics_commands:sql", "Run DuckDB SQL over the recorded executions and node spans."),
    "prune": LazyCommand("recorder.cli.prune_commands:prune", "Delete executions older than a cut-off (retention)."),
    "cache": LazyCommand("recorder.cli.cache_commands:cache", "Show or drop the fleet snapshot kept in the cache folder."),
    "report": LazyCommand("recorder.cli.report_commands:report", "Write a self-contained HTML audit report."),
    "export": LazyCommand("recorder.cli.replay_commands:export", "Write the cassette (or body) of a recorded execution."),
    "serve": LazyCommand("recorder.cli.replay_commands:serve", "Serve recorded exchanges as Vellum's predict API."),
    "demo": LazyCommand("recorder.cli.demo_commands:demo", "Record a synthetic workload live from a loopback server.", records=True),
    "otlp": LazyCommand("recorder.cli.otlp_commands:otlp", "Send recorded executions as OpenTelemetry traces."),
}


class RecorderGroup(click.Group):
    """Loads commands on use, and turns the errors users cause into one line and exit code 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        entry = COMMANDS[cmd_name]
        module, _, attribute = entry.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.target} is not a click command")
        command.short_help = command.short_help or entry.short_help
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own version loads every command for its help line; the map already has them.
        rows = [(name, COMMANDS[name].short_help if name in COMMANDS else self.commands[name].get_short_help_str())
                for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _one_line_usage_error(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line_usage_error(exc) from exc
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            message = one_line_error(exc)
            if message is None:
                raise
            raise click.ClickException(message) from exc


class OneLineUsageError(click.ClickException):
    """A usage error shown as one line (click's own adds the usage and a hint above it)."""

    exit_code = 2


def _one_line_usage_error(exc: click.UsageError) -> click.ClickException:
    if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        return exc  # `recorder` alone: the help is the answer, not an error
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    return OneLineUsageError(" ".join(exc.format_message().split()) + where)


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
    entry = COMMANDS.get(ctx.invoked_subcommand or "")
    ctx.obj = CliContext(url, creates_schema=entry is not None and entry.records)
    ctx.call_on_close(ctx.obj.close)


def run() -> None:
    """The `recorder` console script: the command, then a quick exit.

    The process ends right after the command, so the interpreter's last garbage collection would
    only walk SQLAlchemy's object graph to free what the operating system frees anyway: a third
    of a short command's wall time. Frozen objects are left out of that walk. (The store is
    closed by then: `CliContext.close` runs when the command's context closes.)
    """
    try:
        cli(prog_name="recorder")
    finally:
        gc.freeze()
