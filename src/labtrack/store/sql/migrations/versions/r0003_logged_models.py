"""MLflow 3 logged models: models, their tags, params and linked metrics, run outputs and inputs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The column types of schema.py as they were at this revision.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
Double = sa.Float(precision=53).with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")
MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def _model_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["logged_model_id"],
        ["logged_models.id"],
        name=f"fk_{table}_logged_model_id_logged_models",
        ondelete="CASCADE",
    )


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"], ["runs.id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "logged_models",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(36), nullable=False),
        sa.Column("experiment_id", Id, nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.String(2000), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_message", sa.Text()),
        sa.Column("model_type", sa.String(500)),
        sa.Column("source_run_id", sa.String(32)),
        sa.Column("lifecycle_stage", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_logged_models"),
        sa.UniqueConstraint("model_id", name="uq_logged_models_model_id"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_logged_models_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        **MYSQL,
    )
    op.create_index(
        "ix_logged_models_experiment_id_lifecycle_stage_creation_time",
        "logged_models",
        ["experiment_id", "lifecycle_stage", "creation_time"],
    )
    op.create_index("ix_logged_models_source_run_id", "logged_models", ["source_run_id"])

    for table, value_type in (("logged_model_tags", LongText), ("logged_model_params", sa.Text())):
        op.create_table(
            table,
            sa.Column("logged_model_id", Id, nullable=False),
            sa.Column("key", sa.String(250), nullable=False),
            sa.Column("value", value_type, nullable=False),
            sa.PrimaryKeyConstraint("logged_model_id", "key", name=f"pk_{table}"),
            _model_fk(table),
            **MYSQL,
        )

    op.create_table(
        "logged_model_metrics",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("logged_model_id", Id, nullable=False),
        sa.Column("run_id", Id, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value", Double),
        sa.Column("dataset_name", sa.String(500)),
        sa.Column("dataset_digest", sa.String(36)),
        sa.PrimaryKeyConstraint("id", name="pk_logged_model_metrics"),
        _model_fk("logged_model_metrics"),
        _run_fk("logged_model_metrics"),
        **MYSQL,
    )
    op.create_index(
        "ix_logged_model_metrics_logged_model_id_key",
        "logged_model_metrics",
        ["logged_model_id", "key"],
    )
    op.create_index("ix_logged_model_metrics_run_id", "logged_model_metrics", ["run_id"])

    op.create_table(
        "run_model_outputs",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("logged_model_id", Id, nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "logged_model_id", "step", name="pk_run_model_outputs"),
        _run_fk("run_model_outputs"),
        _model_fk("run_model_outputs"),
        **MYSQL,
    )
    op.create_index(
        "ix_run_model_outputs_logged_model_id", "run_model_outputs", ["logged_model_id"]
    )

    op.create_table(
        "run_model_inputs",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("logged_model_id", Id, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "logged_model_id", name="pk_run_model_inputs"),
        _run_fk("run_model_inputs"),
        _model_fk("run_model_inputs"),
        **MYSQL,
    )
    op.create_index("ix_run_model_inputs_logged_model_id", "run_model_inputs", ["logged_model_id"])
