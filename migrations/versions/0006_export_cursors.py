"""export cursors

Why: `recorder otlp export` (issue 13) sends executions to an OpenTelemetry receiver and resumes
where it stopped. It keeps, per export target (the endpoint URL without credentials), the store's
change cursor up to which everything was sent, the store it belongs to (a wiped store gets a new
store_id, and its old cursor must not hide the new executions), when, and how many executions in
all. One small table; nothing to backfill: a store without a cursor exports everything once.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('export_cursors',
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('store_id', sa.String(length=36), nullable=False),
    sa.Column('change_seq', sa.BigInteger(), nullable=False),
    sa.Column('exported_at_us', sa.BigInteger(), nullable=False),
    sa.Column('executions_sent', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('target', name=op.f('pk_export_cursors'))
    )


def downgrade() -> None:
    op.drop_table('export_cursors')
