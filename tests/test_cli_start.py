"""The CLI starts light: `--help` and `COMMAND --help` import no database, HTTP or analytics library.

Each check runs the real CLI in a fresh interpreter and looks at `sys.modules` afterwards, because
in this test process everything is imported already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from recorder.cli.main import COMMANDS, cli

HEAVY = ("sqlalchemy", "alembic", "psycopg", "duckdb", "polars", "pyarrow", "altair", "vl_convert", "httpx", "adbc_driver_sqlite")

# Runs `recorder ARGS...` and prints, as JSON on stderr's last line, the heavy top-level modules and
# the recorder modules that were imported.
_PROBE = """
import json, sys
from recorder.cli.main import cli
try:
    cli(sys.argv[1:], prog_name="recorder")
except SystemExit as exit:
    code = exit.code
heavy = sorted({name.partition(".")[0] for name in sys.modules} & set(%r))
ours = sorted(name for name in sys.modules if name.startswith("recorder."))
sys.stderr.write("\\n" + json.dumps({"code": code, "heavy": heavy, "ours": ours}) + "\\n")
""" % (HEAVY,)


def _probe(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_help_lists_every_command_and_imports_no_command_module() -> None:
    result = _probe("--help")
    assert result["code"] == 0
    assert result["heavy"] == []
    assert not [name for name in result["ours"] if name.endswith("_commands") or name == "recorder.cli.demo"]
    assert not [name for name in result["ours"] if name.startswith(("recorder.analytics", "recorder.replay", "recorder.report"))]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_help_imports_no_heavy_library(command: str) -> None:
    result = _probe(command, "--help")
    assert result["code"] == 0
    assert result["heavy"] == [], f"`recorder {command} --help` imported {result['heavy']}"
    assert not [name for name in result["ours"] if name.startswith(("recorder.analytics", "recorder.report"))]


@pytest.mark.parametrize("module", sorted({entry.target.partition(":")[0] for entry in COMMANDS.values()}))
def test_each_command_module_can_be_imported_first(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_map_names_each_command_where_it_lives() -> None:
    group_context = click.Context(cli)
    for name, entry in COMMANDS.items():
        command = cli.get_command(group_context, name)
        assert isinstance(command, click.Command) and command.name == name
        assert entry.short_help and len(entry.short_help) <= 60 and "\n" not in entry.short_help


def test_help_shows_the_short_help_of_the_map() -> None:
    from click.testing import CliRunner

    output = CliRunner().invoke(cli, ["--help"], terminal_width=200).output
    for name, entry in COMMANDS.items():
        assert f"{name}" in output and entry.short_help in output


def test_the_base_url_help_names_what_the_http_client_reads() -> None:
    from click.testing import CliRunner

    from recorder.model.endpoints import BASE_URL_ENV, DEFAULT_BASE_URL

    output = CliRunner().invoke(cli, ["record", "--help"], terminal_width=400).output
    assert BASE_URL_ENV in output and DEFAULT_BASE_URL in output


def test_the_base_url_comes_from_the_environment(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--base-url` has no click envvar (that would import httpx for `--help`): the HTTP layer
    applies VELLUM_PREDICT_URL itself."""
    from click.testing import CliRunner

    monkeypatch.setenv("VELLUM_API_KEY", "test-key")
    monkeypatch.setenv("VELLUM_PREDICT_URL", "http://127.0.0.1:1")
    result = CliRunner().invoke(cli, ["--db", store_url, "record", "--deployment", "d"])
    assert result.exit_code == 4
    assert "http://127.0.0.1:1/v1/execute-workflow-stream" in result.output


def test_every_command_a_module_defines_is_in_the_map() -> None:
    """A command added to a module's COMMANDS but not to the lazy map would silently vanish."""
    import importlib

    for module_name in sorted({entry.target.partition(":")[0] for entry in COMMANDS.values()}):
        module = importlib.import_module(module_name)
        for command in module.COMMANDS:
            assert COMMANDS[command.name].target == f"{module_name}:{command.callback.__name__}"
