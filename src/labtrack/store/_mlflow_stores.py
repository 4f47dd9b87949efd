"""Recognising MLflow's own stores, so pointing labtrack at one says what it is.

A newcomer's first ``labtrack ui`` often names the store MLflow made: an ``mlflow.db``
(MLflow's SQL schema, with MLflow's Alembic revisions) or an ``./mlruns`` directory
(MLflow's file store, also reached as a ``file:`` tracking URI). labtrack cannot open
either directly; the message says so and names the way to bring the contents over.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection

from labtrack.errors import ConfigurationError, LabtrackError

IMPORT_COMMAND = "labtrack import mlflow"
_NOT_YET = f"and importing it ({IMPORT_COMMAND}) is not supported yet"

# Tables only MLflow's SQL schema has (labtrack keeps its metric summaries in metric_series).
_MLFLOW_TABLES = frozenset({"experiments", "runs", "latest_metrics"})
_LABTRACK_ONLY_TABLE = "metric_series"


def is_mlflow_schema(table_names: Collection[str]) -> bool:
    """Whether a database's tables are MLflow's tracking schema rather than labtrack's."""
    names = set(table_names)
    return names >= _MLFLOW_TABLES and _LABTRACK_ONLY_TABLE not in names


def refuse_mlflow_schema(
    database: str, table_names: Collection[str], stamped_revision: Callable[[], str | None]
) -> None:
    """Raise :func:`mlflow_database_error` when the tables are MLflow's schema, naming the
    revision ``stamped_revision()`` reads from its ``alembic_version`` table."""
    if not is_mlflow_schema(table_names):
        return
    revision = stamped_revision() if "alembic_version" in table_names else None
    raise mlflow_database_error(database, revision)


def mlflow_database_error(database: str, revision: str | None) -> ConfigurationError:
    """The one-line refusal of a database MLflow made."""
    at = f" (MLflow schema revision {revision})" if revision else ""
    return ConfigurationError(
        f"{database} is an MLflow database{at}: labtrack cannot open it directly, {_NOT_YET}. "
        "Point labtrack at a new or labtrack-created database."
    )


def mlflow_file_store(uri: str) -> str | None:
    """The directory of MLflow's file store that ``uri`` names, or None.

    Every ``file:`` tracking URI is MLflow's file store; a plain path is when it is
    called ``mlruns`` or is a directory holding experiments' ``meta.yaml`` files.
    """
    from labtrack.artifacts._uri import local_path_from_uri, uri_scheme

    scheme = uri_scheme(uri)
    if scheme == "file":
        try:
            return os.path.abspath(local_path_from_uri(uri))
        except LabtrackError:
            return os.path.abspath(uri[len("file:") :])
    if scheme:
        return None  # a database, a server, an object store ...
    path = os.path.abspath(uri)
    if os.path.basename(path.rstrip(os.sep)) == "mlruns":
        return path
    if os.path.isdir(path) and any(
        os.path.isfile(os.path.join(path, entry, "meta.yaml")) for entry in _entries(path)
    ):
        return path
    return None


def _entries(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def mlflow_file_store_error(uri: str, path: str) -> ConfigurationError:
    """The one-line refusal of MLflow's file store (an ``mlruns`` directory)."""
    return ConfigurationError(
        f"{uri} is MLflow's file store (an mlruns directory, {path}): labtrack cannot open "
        f"it directly, {_NOT_YET}. Use a database URL (sqlite:///labtrack.db, "
        "postgresql://..., mysql+pymysql://...) or a server URL (http://host:5000)."
    )


def refuse_mlflow_file_store(uri: str) -> None:
    """Raise :func:`mlflow_file_store_error` when ``uri`` names MLflow's file store."""
    path = mlflow_file_store(uri)
    if path is not None:
        raise mlflow_file_store_error(uri, path)
