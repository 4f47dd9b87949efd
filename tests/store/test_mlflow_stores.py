"""Pointing labtrack at a store the real MLflow made: one line saying what it is.

An MLflow database (its schema, its Alembic revision) and MLflow's file store (``mlruns``,
``file:`` URIs) are recognised, refused before anything is written, and the message says
that importing them is not supported yet (the import command comes in a later issue).
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import labtrack as lt
from labtrack.errors import ConfigurationError
from labtrack.store._mlflow_stores import is_mlflow_schema, mlflow_file_store
from labtrack.store.sql.store import SqlStore
from labtrack.tracking.client import TrackingClient
from mlflow_made import MlflowStores, mlflow_stores_for_test

NOT_YET = (
    "labtrack cannot open it directly, and importing it (labtrack import mlflow) is not "
    "supported yet."
)


@pytest.fixture
def made(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> MlflowStores:
    return mlflow_stores_for_test(tmp_path_factory, tmp_path)


def _revision(db: Path) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def _digest(db: Path) -> str:
    """The database file's bytes: refusing it must not even switch it to WAL mode."""
    return hashlib.sha256(db.read_bytes()).hexdigest()


def test_mlflow_database_is_named_and_left_untouched(made: MlflowStores) -> None:
    before = _digest(made.database)
    with pytest.raises(ConfigurationError) as caught:
        TrackingClient(f"sqlite:///{made.database}").search_experiments()
    assert caught.value.message == (
        f"{made.database} is an MLflow database (MLflow schema revision "
        f"{_revision(made.database)}): {NOT_YET} "
        "Point labtrack at a new or labtrack-created database."
    )
    assert _digest(made.database) == before
    assert not Path(f"{made.database}-wal").exists()


def test_sql_store_refuses_it(made: MlflowStores) -> None:
    with pytest.raises(ConfigurationError, match=r"is an MLflow database \(MLflow schema"):
        SqlStore(f"sqlite:///{made.database}", "file:///unused")


@pytest.mark.parametrize("form", ["path", "relative", "file-uri", "file-relative"])
def test_mlflow_file_store_is_named(
    made: MlflowStores, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(made.mlruns.parent)
    uri = {
        "path": str(made.mlruns),
        "relative": "./mlruns",
        "file-uri": made.mlruns.as_uri(),
        "file-relative": "file:./mlruns",
    }[form]
    lt.set_tracking_uri(uri)
    with pytest.raises(ConfigurationError) as caught:
        lt.search_experiments()
    assert caught.value.message == (
        f"{uri} is MLflow's file store (an mlruns directory, {made.mlruns}): {NOT_YET} "
        "Use a database URL (sqlite:///labtrack.db, postgresql://..., mysql+pymysql://...) "
        "or a server URL (http://host:5000)."
    )


def test_file_store_by_its_experiments_not_only_its_name(made: MlflowStores) -> None:
    renamed = made.mlruns.rename(made.mlruns.with_name("tracking"))
    assert mlflow_file_store(str(renamed)) == str(renamed)
    assert mlflow_file_store(str(renamed.parent / "elsewhere")) is None
    assert mlflow_file_store("sqlite:///x.db") is None
    assert mlflow_file_store("http://host:5000") is None


def test_labtrack_schema_is_not_mistaken_for_mlflow(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'labtrack.db'}"
    SqlStore(uri, "file:///unused")
    with closing(sqlite3.connect(tmp_path / "labtrack.db")) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert not is_mlflow_schema(names)
