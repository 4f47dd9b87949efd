"""Bring a database to the schema this labtrack expects, on first use or by ``labtrack db upgrade``.

Checking costs one small query; Alembic is imported only when there is work to do.
Several processes may open a new database at once: schema changes run under a
lock (a file lock beside a SQLite file, an advisory lock on PostgreSQL, a named
lock on MySQL), and whoever gets the lock second finds the work done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from labtrack.errors import ConfigurationError
from labtrack.store._mlflow_stores import refuse_mlflow_schema
from labtrack.store.sql.engine import translate_errors

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

HEAD_REVISION = "0006"
_MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x6C6162747261636B  # "labtrack" as a 64-bit PostgreSQL advisory lock key


def current_revision(conn: Connection) -> str | None:
    """The stamped revision, or None when the database has no labtrack schema."""
    from sqlalchemy import inspect

    names = set(inspect(conn).get_table_names())
    refuse_mlflow_schema(_database_name(conn), names, lambda: _stamped(conn))
    if "alembic_version" not in names:
        if names & {"experiments", "runs", "metrics"}:
            raise ConfigurationError(
                "This database holds tables labtrack did not create (an MLflow database?). "
                "Point labtrack at a new or labtrack-created database."
            )
        return None
    return _stamped(conn)


def _stamped(conn: Connection) -> str | None:
    """The revision in the database's ``alembic_version`` table (which must exist)."""
    from sqlalchemy import text

    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


def _database_name(conn: Connection) -> str:
    """The database as the user named it: a SQLite file's path, else the URL sans password."""
    url = conn.engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        return url.database
    return url.render_as_string(hide_password=True)


def ensure_schema(engine: Engine, db_uri: str) -> None:
    """Create or upgrade the schema if needed; cheap when it is already current."""
    with translate_errors(), engine.connect() as conn:
        revision = current_revision(conn)
        conn.rollback()
    if revision == HEAD_REVISION:
        return
    upgrade(engine, db_uri)


def upgrade(engine: Engine, db_uri: str) -> str:
    """Create or upgrade the schema to the newest revision; returns what was done."""
    with translate_errors(), _migration_lock(engine, db_uri), engine.begin() as conn:
        revision = current_revision(conn)
        if revision == HEAD_REVISION:
            return f"already at revision {HEAD_REVISION}"
        if revision is None:
            from labtrack.store.sql.schema import metadata

            metadata.create_all(conn)
            _alembic_command(conn, "stamp")
            return f"created schema at revision {HEAD_REVISION}"
        if not _is_known(revision):
            raise ConfigurationError(
                f"The database schema is at revision {revision}, which this labtrack "
                f"(schema {HEAD_REVISION}) does not know: upgrade labtrack."
            )
        _alembic_command(conn, "upgrade")
        return f"upgraded schema from revision {revision} to {HEAD_REVISION}"


def _is_known(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    return revision in {s.revision for s in ScriptDirectory(str(_MIGRATIONS_DIR)).walk_revisions()}


def _alembic_command(conn: Connection, command: str) -> None:
    from alembic import command as alembic_command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    if command == "stamp":
        alembic_command.stamp(config, "head")
    else:
        alembic_command.upgrade(config, "head")


@contextlib.contextmanager
def _migration_lock(engine: Engine, db_uri: str) -> Iterator[None]:
    from sqlalchemy import text

    from labtrack.store.sql.engine import sqlite_path

    backend = engine.dialect.name
    if backend == "sqlite":
        path = sqlite_path(db_uri)
        if path is None:
            yield
            return
        import fcntl

        # A separate file (never the database itself: closing another descriptor of the
        # database would drop SQLite's own POSIX locks). It stays, like -wal and -shm.
        with open(path + "-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
        return
    with engine.connect() as lock_conn:
        if backend == "postgresql":
            lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            unlock = text("SELECT pg_advisory_unlock(:k)")
        else:
            lock_conn.execute(text("SELECT GET_LOCK('labtrack_migrate', 120)"))
            unlock = text("SELECT RELEASE_LOCK('labtrack_migrate')")
        lock_conn.commit()
        try:
            yield
        finally:
            lock_conn.execute(unlock, {"k": _LOCK_KEY} if backend == "postgresql" else {})
            lock_conn.commit()
