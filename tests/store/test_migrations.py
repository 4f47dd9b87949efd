"""Schema creation and upgrades: a new database and an upgraded old one end up the same."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from databases import BACKENDS, create_server_database, downgrade
from labtrack.errors import ConfigurationError
from labtrack.store.sql.engine import get_engine
from labtrack.store.sql.migrate import HEAD_REVISION, current_revision, upgrade
from labtrack.store.sql.schema import metadata
from labtrack.store.sql.store import SqlStore

SNAPSHOTS = Path(__file__).with_name("schemas")


def schema_differences(engine) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_new_database_matches_the_schema(sql_store) -> None:
    assert schema_differences(sql_store.engine) == []
    with sql_store.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION


# Migrations up to this one only added tables, so a server database at an earlier
# revision is the tables its SQLite snapshot names, as they were at this revision.
_TABLES_ONLY_ADDED_UNTIL = "0005"


def _old_database(backend: str, snapshot: Path, tmp_path: Path) -> str:
    """A database at the snapshot's revision, stamped so; returns its URL.

    On SQLite the snapshot itself is replayed. PostgreSQL and MySQL have no snapshots:
    today's schema is taken back to revision 0005 by the later migrations' downgrades
    (which change existing tables), and the tables the snapshot does not name are dropped
    (the migrations before 0005 only added tables).
    """
    revision = snapshot.name.split(".")[0]
    if backend == "sqlite":
        db = tmp_path / "old.db"
        con = sqlite3.connect(db)
        con.executescript(snapshot.read_text())
        con.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
        con.commit()
        con.close()
        return f"sqlite:///{db}"
    uri = create_server_database(backend, f"mig{revision}")
    names = set(re.findall(r"^CREATE TABLE (\w+)", snapshot.read_text(), re.MULTILINE))
    engine = create_engine(uri)
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": HEAD_REVISION})
        downgrade(conn, max(revision, _TABLES_ONLY_ADDED_UNTIL))
        for table in reversed(metadata.sorted_tables):
            if table.name not in names:
                table.drop(conn)
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()
    return uri


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("snapshot", sorted(SNAPSHOTS.glob("*.sqlite.sql")), ids=lambda p: p.name)
def test_every_old_schema_upgrades_to_the_current_one(
    tmp_path: Path, snapshot: Path, backend: str
) -> None:
    """A database created by an earlier labtrack is upgraded to exactly today's schema.

    Each release that changes the schema adds its SQLite schema here (sqlite3 .schema).
    """
    uri = _old_database(backend, snapshot, tmp_path)
    upgrade(get_engine(uri), uri)
    assert schema_differences(get_engine(uri)) == []
    with get_engine(uri).connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
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


@pytest.mark.parametrize("backend", BACKENDS)
def test_events_logged_before_0006_keep_who_made_them_as_a_claim(
    tmp_path: Path, backend: str
) -> None:
    uri = _old_database(backend, SNAPSHOTS / "0005.sqlite.sql", tmp_path)
    engine = create_engine(uri)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO registry_events (timestamp, user_id, action, model_name) "
                "VALUES (1, 'ana', 'model_created', 'churn')"
            )
        )
    engine.dispose()
    upgrade(get_engine(uri), uri)
    (event,) = SqlStore(uri, "file:///unused").get_registry_events("churn")
    assert (event.claimed_user, event.action) == ("ana", "model_created")
