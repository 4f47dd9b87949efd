"""The database schema, as SQLAlchemy Core tables.

Designed for experiments of 100k runs and 100M metric points:

- Runs have a small integer surrogate key (``runs.id``); everything that hangs off
  a run references it, not the 32-character run id.
- ``metric_series`` holds one row per (run, metric key): the latest point and
  min, max, count, maintained on write. Searches, sorting and run tables read
  only this table. Its ``id`` names the series.
- ``metrics`` is the narrow history table: (series, step, timestamp, value),
  no six-column primary key. NaN is stored as NULL. MySQL cannot store
  infinities, so there they become +-DBL_MAX and are mapped back on read.

A fresh database is created from this metadata and stamped with the newest
migration; older databases are brought here by the Alembic migrations, and a
test checks that both routes give the same schema.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# An auto-incrementing key: INTEGER on SQLite (so it is the rowid), BIGINT elsewhere.
Id = BigInteger().with_variant(Integer(), "sqlite")
# Long text: MySQL's TEXT holds only 64 KB, and tag values go up to 100k characters.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
Double = Float(precision=53).with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")

# Case-sensitive, binary comparisons on MySQL/MariaDB, as on SQLite and PostgreSQL.
_MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Id, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False),
    Column("artifact_location", String(2000), nullable=False),
    Column("lifecycle_stage", String(20), nullable=False),
    Column("creation_time", BigInteger),
    Column("last_update_time", BigInteger),
    UniqueConstraint("name"),
    Index(None, "lifecycle_stage", "last_update_time"),
    **_MYSQL,
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column(
        "experiment_id",
        Id,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(250), nullable=False),
    Column("value", LongText, nullable=False),
    PrimaryKeyConstraint("experiment_id", "key"),
    **_MYSQL,
)

runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_uuid", String(32), nullable=False),
    Column(
        "experiment_id",
        Id,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(250), nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger),
    Column("end_time", BigInteger),
    Column("lifecycle_stage", String(20), nullable=False),
    Column("artifact_uri", String(2000), nullable=False),
    Column("parent_run_uuid", String(32)),
    Column("deleted_time", BigInteger),
    # When the run's process last said it is alive (labtrack's clients send heartbeats
    # for the runs they run); NULL for a run that never did (an MLflow client's). A
    # RUNNING run whose heartbeat is older than the timeout is marked crashed
    # (store/sql/_heartbeats.py), found by the (status, heartbeat) index.
    Column("last_heartbeat_time", BigInteger),
    UniqueConstraint("run_uuid"),
    Index(None, "experiment_id", "lifecycle_stage", "start_time"),
    Index(None, "parent_run_uuid"),
    Index(None, "status", "last_heartbeat_time"),
    **_MYSQL,
)

params = Table(
    "params",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    **_MYSQL,
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    **_MYSQL,
)

metric_series = Table(
    "metric_series",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("latest_value", Double),
    Column("latest_step", BigInteger, nullable=False),
    Column("latest_timestamp", BigInteger, nullable=False),
    Column("min_value", Double),
    Column("max_value", Double),
    Column("count", BigInteger, nullable=False),
    UniqueConstraint("run_id", "key"),
    Index(None, "key", "latest_value"),
    **_MYSQL,
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("series_id", Id, ForeignKey("metric_series.id", ondelete="CASCADE"), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Double),
    Index(None, "series_id", "step", "timestamp"),
    **_MYSQL,
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "experiment_id",
        Id,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(500), nullable=False),
    Column("digest", String(36), nullable=False),
    Column("source_type", String(36), nullable=False),
    Column("source", LongText, nullable=False),
    Column("schema", LongText),
    Column("profile", LongText),
    UniqueConstraint("experiment_id", "name", "digest"),
    **_MYSQL,
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("dataset_id", Id, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    UniqueConstraint("run_id", "dataset_id"),
    Index(None, "dataset_id"),
    **_MYSQL,
)

input_tags = Table(
    "input_tags",
    metadata,
    Column("input_id", Id, ForeignKey("run_inputs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", String(500), nullable=False),
    PrimaryKeyConstraint("input_id", "key"),
    **_MYSQL,
)

# Batches a client sent with a request id, recorded in the batch's own transaction: a
# retried request (its answer was lost) is recognised and not applied twice.
applied_requests = Table(
    "applied_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("created_time", BigInteger, nullable=False),
    Index(None, "created_time"),
    **_MYSQL,
)

# -- logged models (MLflow 3) -----------------------------------------------------------------
# A model is an entity of its own (``models:/m-<32 hex>``), created PENDING and finalized
# READY or FAILED once its files are uploaded. Like runs it has a small integer key
# (``logged_models.id``) that the rows hanging off it reference as ``logged_model_id``.
logged_models = Table(
    "logged_models",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model_id", String(36), nullable=False),
    Column(
        "experiment_id",
        Id,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(500), nullable=False),
    Column("artifact_location", String(2000), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_message", Text),
    Column("model_type", String(500)),
    Column("source_run_id", String(32)),
    Column("lifecycle_stage", String(20), nullable=False),
    UniqueConstraint("model_id"),
    Index(None, "experiment_id", "lifecycle_stage", "creation_time"),
    Index(None, "source_run_id"),
    **_MYSQL,
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column(
        "logged_model_id", Id, ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False
    ),
    Column("key", String(250), nullable=False),
    Column("value", LongText, nullable=False),
    PrimaryKeyConstraint("logged_model_id", "key"),
    **_MYSQL,
)

logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column(
        "logged_model_id", Id, ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False
    ),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("logged_model_id", "key"),
    **_MYSQL,
)

# Metric points of runs linked to a model (MLflow 3 metrics may name a model_id and the
# dataset they were measured on). The same points are also in their run's history.
logged_model_metrics = Table(
    "logged_model_metrics",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "logged_model_id", Id, ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False
    ),
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Double),
    Column("dataset_name", String(500)),
    Column("dataset_digest", String(36)),
    Index(None, "logged_model_id", "key"),
    Index(None, "run_id"),
    **_MYSQL,
)

# Models a run produced (at a step) and models a run used.
run_model_outputs = Table(
    "run_model_outputs",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column(
        "logged_model_id", Id, ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False
    ),
    Column("step", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "logged_model_id", "step"),
    Index(None, "logged_model_id"),
    **_MYSQL,
)

run_model_inputs = Table(
    "run_model_inputs",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column(
        "logged_model_id", Id, ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False
    ),
    PrimaryKeyConstraint("run_id", "logged_model_id"),
    Index(None, "logged_model_id"),
    **_MYSQL,
)

# -- model registry ---------------------------------------------------------------------------
# Registered models and their versions, with small integer keys that tags and aliases
# reference, so renaming a model rewrites one row. Deleting a model deletes its versions,
# tags and aliases; deleting a version deletes its tags and the aliases pointing to it.
# ``last_version`` counts versions ever created: numbers are never reused after a delete.
registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("description", LongText),
    Column("user_id", String(256)),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("last_version", Integer, nullable=False),
    UniqueConstraint("name"),
    **_MYSQL,
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column(
        "registered_model_id",
        Id,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(250), nullable=False),
    Column("value", LongText, nullable=False),
    PrimaryKeyConstraint("registered_model_id", "key"),
    **_MYSQL,
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "registered_model_id",
        Id,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("version", Integer, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", LongText),
    Column("user_id", String(256)),
    Column("current_stage", String(20), nullable=False),
    Column("source", String(2000), nullable=False),
    # Where the files are (a models:/ source resolved when the version was created).
    Column("storage_location", String(2000), nullable=False),
    Column("run_id", String(256)),
    Column("run_link", String(2000)),
    Column("model_id", String(36)),
    Column("status", String(20), nullable=False),
    Column("status_message", Text),
    UniqueConstraint("registered_model_id", "version"),
    Index(None, "run_id"),
    Index(None, "model_id"),
    **_MYSQL,
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column(
        "model_version_id", Id, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
    ),
    Column("key", String(250), nullable=False),
    Column("value", LongText, nullable=False),
    PrimaryKeyConstraint("model_version_id", "key"),
    **_MYSQL,
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column(
        "registered_model_id",
        Id,
        # Named here: the conventional name is longer than PostgreSQL's 63 characters.
        ForeignKey(
            "registered_models.id",
            ondelete="CASCADE",
            name="fk_registered_model_aliases_registered_model_id",
        ),
        nullable=False,
    ),
    Column("alias", String(255), nullable=False),
    Column(
        "model_version_id", Id, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
    ),
    PrimaryKeyConstraint("registered_model_id", "alias"),
    Index(None, "model_version_id"),
    **_MYSQL,
)

# The registry's append-only event log: one row per change, never updated or deleted (no
# foreign keys, so it outlives deleted and renamed models). Read by model and time range
# (the history of a model) and by action and time range (delivery figures: deployments,
# lead time from a run to Production). ``claimed_user`` is who the client said made the
# change (a server's X-Labtrack-User header, the local user in embedded mode): a claim,
# not checked, until the server authenticates users.
registry_events = Table(
    "registry_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("claimed_user", String(256), nullable=False),
    Column("action", String(40), nullable=False),
    Column("model_name", String(256), nullable=False),
    Column("version", Integer),
    Column("from_value", LongText),
    Column("to_value", LongText),
    Column("details", LongText),
    Index(None, "model_name", "timestamp"),
    Index(None, "action", "timestamp"),
    Index(None, "timestamp"),
    **_MYSQL,
)

# Registry webhooks (MLflow's webhooks API). ``events`` is a JSON list of "entity.action"
# names; ``secret`` is the HMAC secret encrypted with the server's webhook key, never
# stored in clear (tracking/_webhooks.py).
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("description", LongText),
    Column("url", String(2000), nullable=False),
    Column("events", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("secret", Text),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Index(None, "creation_time"),
    **_MYSQL,
)

# One row per (webhook, registry event) a server process has taken on delivering: the
# primary key makes the claim, so of several server processes exactly one delivers each.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("webhook_id", String(36), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("claimed_time", BigInteger, nullable=False),
    PrimaryKeyConstraint("webhook_id", "event_id"),
    Index(None, "claimed_time"),
    **_MYSQL,
)
