"""Tests for `labtrack db upgrade`."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from labtrack.store.sql.migrate import HEAD_REVISION
from labtrack.tracking.client import TrackingClient

from .conftest import Invoke


def test_creates_the_schema_of_a_fresh_sqlite_file(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    uri = f"sqlite:///{path}"
    result = invoke("db", "upgrade", "--tracking-uri", uri)
    assert result.stdout == f"{uri}: created schema at revision {HEAD_REVISION}\n"
    with closing(sqlite3.connect(path)) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD_REVISION,)
        ]
    assert {"experiments", "runs", "metrics", "params", "tags", "alembic_version"} <= tables

    again = invoke("db", "upgrade", "--tracking-uri", uri)
    assert again.stdout == f"{uri}: already at revision {HEAD_REVISION}\n"
    # The database is usable afterwards.
    assert TrackingClient(uri).get_experiment("0").name == "Default"


def test_current_database_is_left_alone(
    invoke: Invoke, db_uri: str, client: TrackingClient
) -> None:
    experiment_id = client.create_experiment("kept")
    result = invoke("db", "upgrade", "--tracking-uri", db_uri)
    assert result.stdout.endswith(f": already at revision {HEAD_REVISION}\n")
    assert client.get_experiment(experiment_id).name == "kept"


def test_uses_the_tracking_uri_setting(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("LABTRACK_TRACKING_URI", uri)
    assert invoke("db", "upgrade").stdout == f"{uri}: created schema at revision {HEAD_REVISION}\n"
    assert (tmp_path / "from-env.db").exists()


def test_hides_credentials(invoke: Invoke) -> None:
    uri = "postgresql://nobody:s3cret@127.0.0.1:1/x"
    result = invoke("db", "upgrade", "--tracking-uri", uri, exit_code=1)
    assert "s3cret" not in result.output
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("uri", ["http://localhost:5000", "ftp://x", "file:///tmp/x"])
def test_needs_a_database_url(invoke: Invoke, uri: str) -> None:
    result = invoke("db", "upgrade", "--tracking-uri", uri, exit_code=1)
    assert result.stderr == (
        "Error: labtrack db upgrade needs a database URL (sqlite:///labtrack.db, "
        f"postgresql://..., mysql+pymysql://...), not '{uri}'\n"
    )


def test_refuses_a_database_it_did_not_create(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "mlflow.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY)")
    result = invoke("db", "upgrade", "--tracking-uri", f"sqlite:///{path}", exit_code=1)
    assert result.stderr.startswith("Error: This database holds tables labtrack did not create")
