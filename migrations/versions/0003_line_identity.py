"""line identity

Why: a re-ingested body must add only what it really adds, however it is framed, and export must
rebuild any recording exactly:
- events.seq: which event of its execution a line is (its ordinal among the execution's event
  lines), and the events key with execution_id instead of the line position: duplicates are the
  same line at the same seq, not whatever sits at the same position of another body (two bodies
  framed differently put different events at one position, so position cannot stay a key);
- rejects.line_key: a reject's identity (SHA-256 of the body up to it), so the same body recorded
  again after a kill -9 stores its rejected lines once;
- recordings.stored_elsewhere: which lines of a body are stored under another recording, so the
  body can be rebuilt without guessing.

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Events stored before this revision were keyed by position, so each execution's positions
# already give its events' order.
_NUMBER_EVENTS = """
UPDATE events SET seq = numbered.seq
FROM (
    SELECT execution_id, position, row_number() OVER (PARTITION BY execution_id ORDER BY position) - 1 AS seq
    FROM events
) AS numbered
WHERE events.execution_id = numbered.execution_id AND events.position = numbered.position
"""


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
    op.execute(_NUMBER_EVENTS)
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint('pk_events', type_='primary')
        batch_op.create_primary_key('pk_events', ['execution_id', 'seq'])

    with op.batch_alter_table('rejects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('line_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_rejects_line_key'), ['line_key'])

    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stored_elsewhere', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_column('stored_elsewhere')

    with op.batch_alter_table('rejects', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_rejects_line_key'), type_='unique')
        batch_op.drop_column('line_key')

    # Fails if two recordings stored events of one execution at the same line position, which
    # the previous schema cannot hold.
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_constraint('pk_events', type_='primary')
        batch_op.create_primary_key('pk_events', ['execution_id', 'position'])
        batch_op.drop_column('seq')
