"""`recorder cache info|clear`: the fleet snapshot the analytics commands keep in the cache folder.

Each analytics command is a new process; it starts from this snapshot (Parquet, one folder per
store) and pulls from the store only what changed since. Dropping it is always safe: the next
fleet question pulls the store again.
"""

from __future__ import annotations

import click

from recorder.cli.context import CliContext, pass_context
from recorder.cli.output import print_json, stdout


@click.group()
def cache() -> None:
    """Show or drop the fleet snapshot kept in the cache folder."""


@cache.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as a JSON object.")
@pass_context
def info(context: CliContext, as_json: bool) -> None:
    """Where this store's snapshot is kept, its size on disk, and the store state and rows it holds."""
    details = context.recorder.cache_info()
    if as_json:
        print_json(details.to_dict())
        return
    if details.path is None:
        stdout.print("this store's snapshot is kept in memory only (an in-memory database)")
        return
    stdout.print(f"path      {details.path}")
    if not details.exists:
        stdout.print("snapshot  none yet (the next fleet question makes it)")
        return
    stdout.print(f"size      {_size(details.size_bytes)}")
    stdout.print(f"store_id  {details.store_id}")
    stdout.print(f"cursor    {details.change_seq}")
    stdout.print(f"rows      {details.executions} executions, {details.spans} node spans ({details.deltas} deltas)")


@cache.command()
@click.option("--all", "every_store", is_flag=True, help="Drop every store's snapshot, not only this store's.")
@click.option("--json", "as_json", is_flag=True, help="Print {freed_bytes} as JSON.")
@click.pass_context
def clear(ctx: click.Context, every_store: bool, as_json: bool) -> None:
    """Drop this store's snapshot (or, with --all, every store's); the store is not touched."""
    if every_store:
        # Needs no store: `--all` also works when the store named by --db is gone.
        from recorder.analytics.snapshot_files import clear_all

        freed = clear_all()
    else:
        freed = ctx.find_object(CliContext).recorder.clear_cache()
    if as_json:
        print_json({"freed_bytes": freed, "all": every_store})
        return
    stdout.print(f"freed {_size(freed)}")


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} bytes"


COMMANDS = (cache,)
