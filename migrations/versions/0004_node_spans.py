"""node spans and change cursor

Why: fleet analytics re-derived every node span from raw events on every pull, which stalls at
millions of events. From this revision the store keeps the spans itself:
- node_spans: one row per node run, folded from its events at ingest (recorder.model.spans), in
  the same transaction as the events; existing stores are backfilled from their verbatim events;
- per-execution span aggregates on executions (span count, prompt cost and tokens, first output);
- a change cursor: store_state.change_seq grows by one per writing transaction and every
  execution, span and event row it writes carries it, so readers fetch "what changed after N";
  store_state.store_id tells one store from another (a wiped store gets a new one).

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

from collections.abc import Sequence

import uuid

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('node_spans',
    sa.Column('execution_id', sa.String(length=128), nullable=False),
    sa.Column('node_result_id', sa.String(length=128), nullable=False),
    sa.Column('node_id', sa.Text(), nullable=True),
    sa.Column('node_type', sa.Text(), nullable=True),
    sa.Column('source_execution_id', sa.Text(), nullable=True),
    sa.Column('parent_node_result_id', sa.Text(), nullable=True),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=True),
    sa.Column('first_seq', sa.Integer(), nullable=False),
    sa.Column('initiated', sa.Boolean(), nullable=False),
    sa.Column('start_us', sa.BigInteger(), nullable=False),
    sa.Column('start_pos', sa.Integer(), nullable=False),
    sa.Column('start_ts_less', sa.Boolean(), nullable=False),
    sa.Column('end_us', sa.BigInteger(), nullable=True),
    sa.Column('end_pos', sa.Integer(), nullable=True),
    sa.Column('end_ts_less', sa.Boolean(), nullable=False),
    sa.Column('first_output_us', sa.BigInteger(), nullable=True),
    sa.Column('first_output_ts_less', sa.Boolean(), nullable=False),
    sa.Column('streaming_events', sa.Integer(), nullable=False),
    sa.Column('error_code', sa.Text(), nullable=True),
    sa.Column('child_execution_ids', sa.JSON(), nullable=True),
    sa.Column('model_name', sa.Text(), nullable=True),
    sa.Column('input_tokens', sa.BigInteger(), nullable=True),
    sa.Column('output_tokens', sa.BigInteger(), nullable=True),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.Column('change_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('execution_id', 'node_result_id', name=op.f('pk_node_spans'))
    )
    with op.batch_alter_table('node_spans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_node_spans_change_seq'), ['change_seq'], unique=False)

    op.create_table('store_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.String(length=36), nullable=False),
    sa.Column('change_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_state'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_seq', sa.BigInteger(), nullable=True))

    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('span_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('prompt_cost_usd', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('prompt_input_tokens', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prompt_output_tokens', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('first_output_us', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('change_seq', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_executions_change_seq'), ['change_seq'], unique=False)

    # Everything stored so far counts as written by the first change.
    op.execute(sa.text("INSERT INTO store_state (id, store_id, change_seq) VALUES (1, :store_id, 1)").bindparams(store_id=str(uuid.uuid4())))
    op.execute("UPDATE executions SET change_seq = 1")


def downgrade() -> None:
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_executions_change_seq'))
        batch_op.drop_column('change_seq')
        batch_op.drop_column('first_output_us')
        batch_op.drop_column('prompt_output_tokens')
        batch_op.drop_column('prompt_input_tokens')
        batch_op.drop_column('prompt_cost_usd')
        batch_op.drop_column('span_count')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('change_seq')

    op.drop_table('store_state')
    with op.batch_alter_table('node_spans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_node_spans_change_seq'))

    op.drop_table('node_spans')
