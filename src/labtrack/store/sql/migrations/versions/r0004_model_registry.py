"""The model registry: registered models, versions, tags, aliases, and the registry event log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The column types of schema.py as they were at this revision.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def _fk(table: str, column: str, target: str, name: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=name or f"fk_{table}_{column}_{target}",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", LongText),
        sa.Column("user_id", sa.String(256)),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registered_models"),
        sa.UniqueConstraint("name", name="uq_registered_models_name"),
        **MYSQL,
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("registered_model_id", Id, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", LongText, nullable=False),
        sa.PrimaryKeyConstraint("registered_model_id", "key", name="pk_registered_model_tags"),
        _fk("registered_model_tags", "registered_model_id", "registered_models"),
        **MYSQL,
    )
    op.create_table(
        "model_versions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("registered_model_id", Id, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.Column("description", LongText),
        sa.Column("user_id", sa.String(256)),
        sa.Column("current_stage", sa.String(20), nullable=False),
        sa.Column("source", sa.String(2000), nullable=False),
        sa.Column("storage_location", sa.String(2000), nullable=False),
        sa.Column("run_id", sa.String(256)),
        sa.Column("run_link", sa.String(2000)),
        sa.Column("model_id", sa.String(36)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_message", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint(
            "registered_model_id", "version", name="uq_model_versions_registered_model_id_version"
        ),
        _fk("model_versions", "registered_model_id", "registered_models"),
        **MYSQL,
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_index("ix_model_versions_model_id", "model_versions", ["model_id"])
    op.create_table(
        "model_version_tags",
        sa.Column("model_version_id", Id, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", LongText, nullable=False),
        sa.PrimaryKeyConstraint("model_version_id", "key", name="pk_model_version_tags"),
        _fk("model_version_tags", "model_version_id", "model_versions"),
        **MYSQL,
    )
    op.create_table(
        "registered_model_aliases",
        sa.Column("registered_model_id", Id, nullable=False),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("model_version_id", Id, nullable=False),
        sa.PrimaryKeyConstraint("registered_model_id", "alias", name="pk_registered_model_aliases"),
        _fk(
            "registered_model_aliases",
            "registered_model_id",
            "registered_models",
            name="fk_registered_model_aliases_registered_model_id",  # <= 63 characters
        ),
        _fk("registered_model_aliases", "model_version_id", "model_versions"),
        **MYSQL,
    )
    op.create_index(
        "ix_registered_model_aliases_model_version_id",
        "registered_model_aliases",
        ["model_version_id"],
    )
    op.create_table(
        "registry_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer()),
        sa.Column("from_value", LongText),
        sa.Column("to_value", LongText),
        sa.Column("details", LongText),
        sa.PrimaryKeyConstraint("id", name="pk_registry_events"),
        **MYSQL,
    )
    op.create_index(
        "ix_registry_events_model_name_timestamp", "registry_events", ["model_name", "timestamp"]
    )
    op.create_index(
        "ix_registry_events_action_timestamp", "registry_events", ["action", "timestamp"]
    )
    op.create_index("ix_registry_events_timestamp", "registry_events", ["timestamp"])
