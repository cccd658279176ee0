"""The store's change cursor: which transaction last wrote a row, so readers fetch only what changed.

Every writing transaction takes the next `store_state.change_seq` as its first statement and stamps
it on the execution, span and event rows it writes. Taking it updates the one `store_state` row,
which the transaction then holds until it commits: writers commit in cursor order, so a reader
that has everything up to N misses nothing by asking for `change_seq > N` (a writer that took a
smaller number cannot commit after a larger one). On SQLite the database lock does the same.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, update

from recorder.store.schema import StoreState

_state = StoreState.__table__


@dataclass(frozen=True, slots=True)
class ChangeState:
    """Which store this is and how far its changes go: a reader's copy made at another `store_id`,
    or at a larger `change_seq` than the store's, belongs to another store (or a restored one)."""

    store_id: str
    change_seq: int


def advance(connection: Connection) -> int:
    """Take the next change number for this transaction (and hold it until commit)."""
    return connection.execute(
        update(_state).where(_state.c.id == 1).values(change_seq=_state.c.change_seq + 1).returning(_state.c.change_seq)
    ).scalar_one()


def current(engine: Engine) -> ChangeState:
    with engine.connect() as connection:
        row = connection.execute(select(_state.c.store_id, _state.c.change_seq).where(_state.c.id == 1)).one()
    return ChangeState(row.store_id, row.change_seq)


def renew(connection: Connection) -> None:
    """Make the store a new one to its readers (after it was emptied): a new id, the cursor at 0."""
    connection.execute(_state.delete())
    connection.execute(_state.insert().values(id=1, store_id=str(uuid.uuid4()), change_seq=0))


def reidentify(connection: Connection) -> tuple[str, str]:
    """Make the store a new one to readers of its copies, keeping its rows' stamps: a new id and
    the cursor moved on (never back, as `renew` does after a wipe). For deletions, which no
    `change_seq > N` pull can see. Returns the old id and the new."""
    advance(connection)
    old = connection.execute(select(_state.c.store_id).where(_state.c.id == 1)).scalar_one()
    new = str(uuid.uuid4())
    connection.execute(update(_state).where(_state.c.id == 1).values(store_id=new))
    return old, new
