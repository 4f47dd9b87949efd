"""Engines for the databases labtrack stores runs in, and the error boundary around them.

- URLs use MLflow's schemes: ``sqlite:///path.db``, ``postgresql://`` (psycopg 3),
  ``mysql://`` / ``mysql+pymysql://`` (PyMySQL; also MariaDB).
- SQLite is opened in WAL mode with a busy timeout, and every write transaction
  starts with ``BEGIN IMMEDIATE``: a writer takes the write lock up front and
  waits for it (up to the timeout) instead of failing with "database is locked"
  when it later tries to upgrade a read snapshot another process has outdated.
- A statement timeout, when given (the server gives one: ``server_statement_timeout``),
  stops any statement that runs longer, so no request holds a database connection
  past it: PostgreSQL's ``statement_timeout`` and MariaDB's ``max_statement_time`` (MySQL's
  ``max_execution_time``, which only limits SELECTs) for the session, and on SQLite a
  progress handler that aborts the statement at its deadline. The statement fails with
  :class:`~labtrack.errors.QueryTimeout`; the connection stays usable.
- PostgreSQL's JIT compilation is off: labtrack's queries are short, and JIT compiled a
  long search filter for far longer than the query then ran (27 s for an OR of 300
  pairs of metric and param comparisons, which answers in 0.05 s without it).
- One engine per URL per process; a forked child gets fresh connections.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtrack.errors import (
    ConfigurationError,
    InternalError,
    InvalidParameterValue,
    LabtrackError,
    QueryTimeout,
    TemporarilyUnavailable,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

_ENGINES: dict[tuple[str, float, float | None], Engine] = {}
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


def get_engine(
    uri: str, *, busy_timeout: float = 60.0, statement_timeout: float | None = None
) -> Engine:
    """The shared engine for ``uri`` (created on first use). ``statement_timeout``: the
    seconds any one statement may run (None: no limit)."""
    key = (uri, busy_timeout, statement_timeout or None)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _create_engine(uri, busy_timeout, statement_timeout or None)
            _ENGINES[key] = engine
        return engine


def _create_engine(uri: str, busy_timeout: float, statement_timeout: float | None) -> Engine:
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
            if statement_timeout is not None:
                _limit_sqlite_statements(engine, statement_timeout)
        elif backend == "postgresql":
            engine = sqlalchemy.create_engine(
                url,
                pool_pre_ping=True,
                pool_size=5,
                max_overflow=10,
                connect_args={"connect_timeout": 10},
            )

            @event.listens_for(engine, "connect")
            def _postgresql_session(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("SET jit = off")
                if statement_timeout is not None:
                    cur.execute(f"SET statement_timeout = {_milliseconds(statement_timeout)}")
                cur.close()
                dbapi_conn.commit()  # the settings hold for the session
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
                if statement_timeout is not None:
                    if "mariadb" in dbapi_conn.get_server_info().lower():
                        cur.execute(f"SET SESSION max_statement_time = {statement_timeout:.3f}")
                    else:  # MySQL limits SELECT statements only
                        ms = _milliseconds(statement_timeout)
                        cur.execute(f"SET SESSION max_execution_time = {ms}")
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


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class _Deadline:
    """When the statement running on one SQLite connection must stop (monotonic seconds)."""

    __slots__ = ("at", "expired")

    def __init__(self) -> None:
        self.at = float("inf")
        self.expired = False


# SQLite calls the progress handler every this many virtual machine instructions (well
# under a millisecond of work), so a statement stops within a few ms of its deadline.
_PROGRESS_STEPS = 10_000


def _limit_sqlite_statements(engine: Engine, seconds: float) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        deadline = record.info["labtrack_deadline"] = _Deadline()

        def past_deadline() -> int:
            if time.monotonic() < deadline.at:
                return 0
            deadline.expired = True
            return 1  # SQLite stops the statement: "interrupted"

        dbapi_conn.set_progress_handler(past_deadline, _PROGRESS_STEPS)

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Connection, *_args: Any) -> None:
        deadline = conn.info.get("labtrack_deadline")
        if deadline is not None:
            deadline.at = time.monotonic() + seconds
            deadline.expired = False


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


# How the drivers refuse a statement too large to run. The search limits (the
# search_max_* settings) keep requests well inside these.
_TOO_LARGE = (
    "number of parameters must be between",  # psycopg: at most 65,535 bound values
    "too many SQL variables",  # SQLite
    "Expression tree is too large",  # SQLite: expressions nest at most 1,000 deep
)


class WriteConflict(InternalError):
    """A unique key was taken by a concurrent write. Store code catches this and retries
    or reports what it means (e.g. "already exists"); it never reaches a user as is."""


@contextlib.contextmanager
def translate_errors(
    what: str = "the tracking database", statement_timeout: float | None = None
) -> Iterator[None]:
    """Turn driver and SQLAlchemy errors into labtrack errors at the store boundary.

    ``statement_timeout``: the limit the statements run under (named in the error of a
    statement that exceeds it)."""
    import sqlalchemy.exc as sa_exc

    try:
        yield
    except LabtrackError:
        raise
    except sa_exc.DBAPIError as exc:
        if exc.orig is not None and is_statement_timeout(exc.orig):
            limit = f"{statement_timeout:g} s" if statement_timeout else "its time limit"
            raise QueryTimeout(
                f"The query took longer than {limit}, the statement timeout of {what}, and "
                "was stopped: narrow the search (fewer experiments or a shorter filter), or "
                "ask the server's operator to raise LABTRACK_SERVER_STATEMENT_TIMEOUT"
            ) from exc
        raise _driver_error(exc, what) from exc
    except OverflowError as exc:  # SQLite's driver, for an int beyond 64 bits
        raise InvalidParameterValue(
            f"A number is too large for {what}: integers must fit in 64 bits"
        ) from exc
    except sa_exc.DisconnectionError as exc:
        raise TemporarilyUnavailable(f"Lost the connection to {what}: {_first_line(exc)}") from exc
    except sa_exc.SQLAlchemyError as exc:
        raise InternalError(f"Database error in {what}: {_first_line(exc)}") from exc


def is_statement_timeout(error: BaseException) -> bool:
    """True when a driver's error says that a statement ran past the statement timeout."""
    if getattr(error, "sqlstate", None) == "57014":  # PostgreSQL's query_canceled
        return "statement timeout" in str(error)
    code = error.args[0] if error.args else None
    if code in (1969, 3024):  # MariaDB's max_statement_time, MySQL's max_execution_time
        return True
    # SQLite, stopped by the progress handler (the only thing that interrupts it here).
    return type(error).__module__ == "sqlite3" and str(error) == "interrupted"


def _driver_error(exc: Any, what: str) -> LabtrackError:
    import sqlalchemy.exc as sa_exc

    if isinstance(exc, sa_exc.IntegrityError):
        return WriteConflict(f"Conflicting write to {what}: {_first_line(exc.orig)}")
    if isinstance(exc, sa_exc.OperationalError):
        message = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
        if "database is locked" in message:
            return TemporarilyUnavailable(
                f"{what[0].upper()}{what[1:]} stayed locked by another writer: {message}"
            )
        if any(marker in message for marker in _CONNECT_FAILURES):
            return TemporarilyUnavailable(f"Cannot connect to {what}: {message}")
        if any(marker in message for marker in _TOO_LARGE):
            return InvalidParameterValue(
                f"The request is too large for {what} ({message}): ask for less at a time"
            )
        if "connection" in message.lower() or "server closed" in message:
            return TemporarilyUnavailable(f"Lost the connection to {what}: {message}")
        return InternalError(f"Database error in {what}: {message}")
    if isinstance(exc, sa_exc.DataError):
        return InvalidParameterValue(f"Value rejected by {what}: {_first_line(exc.orig)}")
    if isinstance(exc, sa_exc.InterfaceError):
        return TemporarilyUnavailable(f"Lost the connection to {what}: {_first_line(exc)}")
    return InternalError(f"Database error in {what}: {_first_line(exc)}")


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
