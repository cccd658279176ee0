"""waiting time of the v2 stream's paused runs and workflows

Why: `POST /v1/workflow-deployments/{id}/execute-stream` streams SDK-style events, whose runs and
workflows can pause (`node.execution.paused` ... `resumed`). The timeline shows that time as
waiting, not work, and the span fold must carry it across flushes like every field it keeps:
- node_spans.paused_us / paused_since_us: a run's time spent paused, and since when while it is;
- executions.paused_us / paused_since_us: the same for the root workflow.
Legacy streams never pause: existing rows take 0 and NULL, which is what folding them gives, so
no backfill is needed.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = ("node_spans", "executions")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("paused_us", sa.BigInteger(), nullable=False, server_default="0"))
            batch.add_column(sa.Column("paused_since_us", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("paused_since_us")
            batch.drop_column("paused_us")
