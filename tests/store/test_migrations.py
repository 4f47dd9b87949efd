"""Schema creation and upgrades: a new database and an upgraded old one end up the same."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from labtrack.errors import ConfigurationError
from labtrack.store.sql.engine import get_engine
from labtrack.store.sql.migrate import HEAD_REVISION, current_revision, upgrade
from labtrack.store.sql.schema import metadata
from labtrack.store.sql.store import SqlStore

SNAPSHOTS = Path(__file__).with_name("schemas")


def schema_differences(engine) -> list:  # type: ignore[no-untyped-def]
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        return list(compare_metadata(context, metadata))


def test_new_database_matches_the_schema(sql_store) -> None:  # type: ignore[no-untyped-def]
    assert schema_differences(sql_store.engine) == []
    with sql_store.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION


@pytest.mark.parametrize("snapshot", sorted(SNAPSHOTS.glob("*.sqlite.sql")), ids=lambda p: p.name)
def test_every_old_schema_upgrades_to_the_current_one(tmp_path: Path, snapshot: Path) -> None:
    """A database created by an earlier labtrack is upgraded to exactly today's schema.

    Each release that changes the schema adds its SQLite schema here (sqlite3 .schema).
    """
    db = tmp_path / "old.db"
    revision = snapshot.name.split(".")[0]
    con = sqlite3.connect(db)
    con.executescript(snapshot.read_text())
    con.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    con.commit()
    con.close()
    uri = f"sqlite:///{db}"
    upgrade(get_engine(uri), uri)
    assert schema_differences(get_engine(uri)) == []
    SqlStore(uri, "file:///unused").create_experiment("works")


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(ConfigurationError, match="did not create"):
        SqlStore(f"sqlite:///{db}", "file:///unused")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    SqlStore(uri, "file:///unused")
    with get_engine(uri).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigurationError, match="upgrade labtrack"):
        upgrade(get_engine(uri), uri)
