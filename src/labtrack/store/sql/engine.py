"""Engines for the databases labtrack stores runs in, and the error boundary around them.

- URLs use MLflow's schemes: ``sqlite:///path.db``, ``postgresql://`` (psycopg 3),
  ``mysql://`` / ``mysql+pymysql://`` (PyMySQL; also MariaDB).
- SQLite is opened in WAL mode with a busy timeout, and every write transaction
  starts with ``BEGIN IMMEDIATE``: a writer takes the write lock up front and
  waits for it (up to the timeout) instead of failing with "database is locked"
  when it later tries to upgrade a read snapshot another process has outdated.
- One engine per URL per process; a forked child gets fresh connections.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtrack.errors import (
    ConfigurationError,
    InternalError,
    InvalidParameterValue,
    LabtrackError,
    TemporarilyUnavailable,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

_ENGINES: dict[tuple[str, float], Engine] = {}
_LOCK = threading.Lock()

DB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")


def is_database_uri(uri: str) -> bool:
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    return scheme in DB_SCHEMES


def normalize_db_url(uri: str) -> str:
    """Map MLflow-style database URLs onto the drivers labtrack uses."""
    from labtrack.store._mlflow_stores import refuse_mlflow_file_store

    scheme, sep, rest = uri.partition("://")
    if not sep:
        refuse_mlflow_file_store(uri)
        raise ConfigurationError(f"Not a database URL: {uri!r}")
    base, _, driver = scheme.lower().partition("+")
    if base in ("postgresql", "postgres"):
        return f"postgresql+{driver or 'psycopg'}://{rest}"
    if base in ("mysql", "mariadb"):
        return f"{base}+{driver or 'pymysql'}://{rest}"
    if base == "sqlite":
        return f"sqlite://{rest}"
    refuse_mlflow_file_store(uri)
    raise ConfigurationError(
        f"Unsupported database URL {uri!r}: use sqlite:///path.db, postgresql://... or "
        "mysql+pymysql://..."
    )


def sqlite_path(uri: str) -> str | None:
    """The file behind a sqlite URL, or None for an in-memory database."""
    from sqlalchemy.engine import make_url

    url = make_url(normalize_db_url(uri))
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return os.path.abspath(database)


def get_engine(uri: str, *, busy_timeout: float = 60.0) -> Engine:
    """The shared engine for ``uri`` (created on first use)."""
    key = (uri, busy_timeout)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _create_engine(uri, busy_timeout)
            _ENGINES[key] = engine
        return engine


def _create_engine(uri: str, busy_timeout: float) -> Engine:
    import sqlalchemy
    from sqlalchemy import event

    url = normalize_db_url(uri)
    backend = url.split(":", 1)[0].split("+", 1)[0]
    try:
        if backend == "sqlite":
            path = sqlite_path(uri)
            if path is not None:
                parent = os.path.dirname(path)
                if parent and not os.path.isdir(parent):
                    raise ConfigurationError(
                        f"Cannot open {uri!r}: the directory {parent!r} does not exist"
                    )
                _refuse_mlflow_sqlite(path)
            engine = sqlalchemy.create_engine(
                url,
                connect_args={"timeout": busy_timeout, "check_same_thread": False},
                poolclass=sqlalchemy.pool.StaticPool if path is None else None,
            )
            _configure_sqlite(engine, busy_timeout)
        elif backend == "postgresql":
            engine = sqlalchemy.create_engine(
                url,
                pool_pre_ping=True,
                pool_size=5,
                max_overflow=10,
                connect_args={"connect_timeout": 10},
            )
        else:
            engine = sqlalchemy.create_engine(
                url,
                pool_pre_ping=True,
                pool_recycle=3600,
                pool_size=5,
                max_overflow=10,
                connect_args={"connect_timeout": 10, "charset": "utf8mb4"},
            )

            @event.listens_for(engine, "connect")
            def _mysql_session(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                # Experiment 0 ("Default") is inserted with an explicit id of 0.
                cur.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
                cur.close()

    except ModuleNotFoundError as exc:
        extra = "postgres" if backend == "postgresql" else "mysql"
        raise ConfigurationError(
            f"The database driver for {backend} is not installed ({exc.name}); "
            f"install it with: pip install 'labtrack[{extra}]'"
        ) from exc
    except sqlalchemy.exc.ArgumentError as exc:
        raise ConfigurationError(f"Invalid database URL {uri!r}: {exc}") from exc
    return engine


def _refuse_mlflow_sqlite(path: str) -> None:
    """Refuse a SQLite file MLflow made before labtrack's connection settings (WAL mode is
    written into the file) touch it: it is opened read-only, and only its table names are
    read."""
    import sqlite3

    from labtrack.store._mlflow_stores import refuse_mlflow_schema

    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return  # not readable as a database: the engine's own error names the problem
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}

        def stamped() -> str | None:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            return row[0] if row else None

        refuse_mlflow_schema(path, names, stamped)
    except sqlite3.Error:
        return
    finally:
        conn.close()


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to issue.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("labtrack_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _reset_after_fork() -> None:
    # Connections must not be shared across a fork; the child opens its own.
    for engine in _ENGINES.values():
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


# How the drivers say that a connection could not be made at all.
_CONNECT_FAILURES = (
    "could not connect",  # psycopg 2
    "connection failed",  # psycopg 3
    "Connection refused",
    "Can't connect",  # PyMySQL
    "Unknown database",
    "Access denied",
    "password authentication failed",
    "does not exist",  # PostgreSQL: database "x" does not exist
    "unable to open database file",  # SQLite
)


class WriteConflict(InternalError):
    """A unique key was taken by a concurrent write. Store code catches this and retries
    or reports what it means (e.g. "already exists"); it never reaches a user as is."""


@contextlib.contextmanager
def translate_errors(what: str = "the tracking database") -> Iterator[None]:
    """Turn driver and SQLAlchemy errors into labtrack errors at the store boundary."""
    import sqlalchemy.exc as sa_exc

    try:
        yield
    except LabtrackError:
        raise
    except sa_exc.IntegrityError as exc:
        raise WriteConflict(f"Conflicting write to {what}: {_first_line(exc.orig)}") from exc
    except sa_exc.OperationalError as exc:
        message = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
        if "database is locked" in message:
            raise TemporarilyUnavailable(
                f"{what[0].upper()}{what[1:]} stayed locked by another writer: {message}"
            ) from exc
        if any(marker in message for marker in _CONNECT_FAILURES):
            raise TemporarilyUnavailable(f"Cannot connect to {what}: {message}") from exc
        if "connection" in message.lower() or "server closed" in message:
            raise TemporarilyUnavailable(f"Lost the connection to {what}: {message}") from exc
        raise InternalError(f"Database error in {what}: {message}") from exc
    except sa_exc.DataError as exc:
        raise InvalidParameterValue(f"Value rejected by {what}: {_first_line(exc.orig)}") from exc
    except OverflowError as exc:  # SQLite's driver, for an int beyond 64 bits
        raise InvalidParameterValue(
            f"A number is too large for {what}: integers must fit in 64 bits"
        ) from exc
    except (sa_exc.InterfaceError, sa_exc.DisconnectionError) as exc:
        raise TemporarilyUnavailable(f"Lost the connection to {what}: {_first_line(exc)}") from exc
    except sa_exc.SQLAlchemyError as exc:
        raise InternalError(f"Database error in {what}: {_first_line(exc)}") from exc


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
