"""Registry webhooks, and the claims that make each delivery happen once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The column types of schema.py as they were at this revision.
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", LongText),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("secret", sa.Text()),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        **MYSQL,
    )
    op.create_index("ix_webhooks_creation_time", "webhooks", ["creation_time"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("webhook_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("claimed_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id", "event_id", name="pk_webhook_deliveries"),
        **MYSQL,
    )
    op.create_index("ix_webhook_deliveries_claimed_time", "webhook_deliveries", ["claimed_time"])
