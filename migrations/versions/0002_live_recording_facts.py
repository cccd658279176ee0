"""live recording facts

Why: live recording (issue 3) needs two facts beside the events, and a liveness signal:
- status_checks: what the status endpoint reported for an execution (`recorder reconcile`), kept
  apart from the recorded events, which are never rewritten;
- actuals: feedback submitted for an execution's outputs (`recorder actuals`), for auditing;
- recordings.heartbeat_at_us: a recorder that dies mid-stream stops beating, so its recording
  can later be told apart from one still streaming and marked cut.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('actuals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('execution_id', sa.String(length=128), nullable=True),
    sa.Column('external_id', sa.Text(), nullable=True),
    sa.Column('output_key', sa.Text(), nullable=False),
    sa.Column('output_type', sa.String(length=32), nullable=False),
    sa.Column('quality', sa.Float(), nullable=True),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('submitted_at_us', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_actuals'))
    )
    with op.batch_alter_table('actuals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_actuals_execution_id'), ['execution_id'], unique=False)

    op.create_table('status_checks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('execution_id', sa.String(length=128), nullable=False),
    sa.Column('checked_at_us', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('outputs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error_code', sa.Text(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('response', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_checks'))
    )
    with op.batch_alter_table('status_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_status_checks_execution_id'), ['execution_id'], unique=False)

    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at_us', sa.BigInteger(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at_us')

    with op.batch_alter_table('status_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_status_checks_execution_id'))

    op.drop_table('status_checks')
    with op.batch_alter_table('actuals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_actuals_execution_id'))

    op.drop_table('actuals')
