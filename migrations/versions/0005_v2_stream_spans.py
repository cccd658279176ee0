"""what the v2 stream's spans add: waiting time and node names

Why: `POST /v1/workflow-deployments/{id}/execute-stream` (the v2 stream) streams SDK-style events.
Its runs and workflows can pause (`node.execution.paused` ... `resumed`), and the timeline shows
that time as waiting, not work; and each node event names its node's class (`node_definition`),
which is how a reader knows the node. The span fold carries both across flushes like every field
it keeps:
- node_spans.paused_us / paused_since_us: a run's time spent paused, and since when while it is;
- node_spans.node_name: the run's node (or nested workflow) class name, v2 stream only;
- executions.paused_us / paused_since_us: the same for the root workflow.
Legacy streams never pause and name no node: existing rows take 0 and NULL, which is what folding
them gives, so no backfill is needed.

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
    with op.batch_alter_table("node_spans") as batch:
        batch.add_column(sa.Column("node_name", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("node_spans") as batch:
        batch.drop_column("node_name")
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("paused_since_us")
            batch.drop_column("paused_us")
