"""index executions.recording_id

Why: `recorder prune` deletes recordings that no longer hold an execution, and both engines check
the executions -> recordings foreign key for each deleted recording. Without an index that check
scans every execution: measured with 50,000 executions stored, one batch deleting 500 recordings
took 1.3 s on SQLite and 1.4 s on PostgreSQL (growing with the table, while the batch holds the
write lock a live recording waits on); with the index, 0.06 s and 0.18 s.

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_executions_recording_id", "executions", ["recording_id"])


def downgrade() -> None:
    op.drop_index("ix_executions_recording_id", table_name="executions")
