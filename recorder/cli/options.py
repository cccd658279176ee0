"""Option types and option groups shared by commands."""

from __future__ import annotations

from pathlib import Path

import click

from recorder.model.moments import MomentError, to_us


class MomentType(click.ParamType):
    """A point in time: ISO-8601 (`2025-06-02`, `2025-06-02T09:00:00Z`) or an age (`30m`, `2h`, `7d`),
    as epoch microseconds: what `since=`/`until=` accept in the Python API, read by the same function."""

    name = "TIME"

    def convert(self, value, param, ctx) -> int:
        try:
            return to_us(value)
        except MomentError as exc:
            self.fail(str(exc), param, ctx)


MOMENT = MomentType()


def chart_file_options(command):
    """`--html PATH`, `--png PATH` and `--svg PATH` on a command that draws one chart."""
    for name, what in (("svg", "a static SVG"), ("png", "a PNG image"), ("html", "an interactive HTML page (opens offline)")):
        command = click.option(f"--{name}", f"{name}_path", type=click.Path(dir_okay=False, path_type=Path),
                               help=f"Also write the chart as {what}.")(command)
    return command
