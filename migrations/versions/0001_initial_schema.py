"""initial schema

Why: the first schema of the recorder: recordings (one per consumed body), executions (one row
per workflow execution, derived from its events and request), events (every received line verbatim
with indexed fields) and rejects (lines that are not events, kept verbatim).

Revision ID: 0001
Revises: 
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('execution_id', sa.String(length=128), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('state', sa.Text(), nullable=True),
    sa.Column('ts_us', sa.BigInteger(), nullable=True),
    sa.Column('received_at_us', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.Text(), nullable=True),
    sa.Column('node_id', sa.Text(), nullable=True),
    sa.Column('node_result_id', sa.Text(), nullable=True),
    sa.Column('node_type', sa.Text(), nullable=True),
    sa.Column('source_execution_id', sa.Text(), nullable=True),
    sa.Column('flags', sa.Text(), nullable=True),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('execution_id', 'position', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_node_result_id'), ['node_result_id'], unique=False)

    op.create_table('recordings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('request', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('started_at_us', sa.BigInteger(), nullable=False),
    sa.Column('ended_at_us', sa.BigInteger(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('duplicate_count', sa.Integer(), nullable=False),
    sa.Column('reject_count', sa.Integer(), nullable=False),
    sa.Column('blank_lines', sa.JSON(), nullable=True),
    sa.Column('ends_with_newline', sa.Boolean(), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings')),
    sa.UniqueConstraint('body_sha256', name=op.f('uq_recordings_body_sha256'))
    )
    op.create_table('executions',
    sa.Column('execution_id', sa.String(length=128), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=True),
    sa.Column('workflow_deployment_id', sa.String(length=128), nullable=True),
    sa.Column('workflow_deployment_name', sa.Text(), nullable=True),
    sa.Column('release_tag', sa.Text(), nullable=True),
    sa.Column('external_id', sa.Text(), nullable=True),
    sa.Column('run_id', sa.String(length=128), nullable=True),
    sa.Column('previous_execution_id', sa.String(length=128), nullable=True),
    sa.Column('root_execution_id', sa.String(length=128), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('inputs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('started_at_us', sa.BigInteger(), nullable=True),
    sa.Column('ended_at_us', sa.BigInteger(), nullable=True),
    sa.Column('error_code', sa.Text(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('outputs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_executions_recording_id_recordings')),
    sa.PrimaryKeyConstraint('execution_id', name=op.f('pk_executions'))
    )
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.create_index('ix_executions_deployment_started', ['workflow_deployment_name', 'started_at_us'], unique=False)
        batch_op.create_index(batch_op.f('ix_executions_external_id'), ['external_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_executions_previous_execution_id'), ['previous_execution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_executions_root_execution_id'), ['root_execution_id'], unique=False)
        batch_op.create_index('ix_executions_started_at_us', ['started_at_us'], unique=False)
        batch_op.create_index(batch_op.f('ix_executions_status'), ['status'], unique=False)

    op.create_table('rejects',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('raw_bytes', sa.LargeBinary(), nullable=True),
    sa.Column('received_at_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_rejects_recording_id_recordings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejects')),
    sa.UniqueConstraint('recording_id', 'position', name=op.f('uq_rejects_recording_id_position'))
    )


def downgrade() -> None:
    op.drop_table('rejects')
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_executions_status'))
        batch_op.drop_index('ix_executions_started_at_us')
        batch_op.drop_index(batch_op.f('ix_executions_root_execution_id'))
        batch_op.drop_index(batch_op.f('ix_executions_previous_execution_id'))
        batch_op.drop_index(batch_op.f('ix_executions_external_id'))
        batch_op.drop_index('ix_executions_deployment_started')

    op.drop_table('executions')
    op.drop_table('recordings')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_node_result_id'))

    op.drop_table('events')
