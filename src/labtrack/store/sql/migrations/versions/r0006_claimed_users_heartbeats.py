"""The registry's event log records who a change was made by as a claim (``claimed_user``),
and runs keep when their process last sent a heartbeat (``last_heartbeat_time``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10

The event log's user was always the client's word (the X-Labtrack-User header, the local
user in embedded mode); the column is renamed so nothing reads it as an authenticated
user. Runs logged before have no heartbeat (NULL), so none of them is ever marked crashed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column(
        "registry_events",
        "user_id",
        new_column_name="claimed_user",
        existing_type=sa.String(256),
        existing_nullable=False,
    )
    op.add_column("runs", sa.Column("last_heartbeat_time", sa.BigInteger()))
    op.create_index("ix_runs_status_last_heartbeat_time", "runs", ["status", "last_heartbeat_time"])


def downgrade() -> None:
    op.drop_index("ix_runs_status_last_heartbeat_time", "runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("last_heartbeat_time")
    op.alter_column(
        "registry_events",
        "claimed_user",
        new_column_name="user_id",
        existing_type=sa.String(256),
        existing_nullable=False,
    )
