"""How driver and SQLAlchemy errors become labtrack errors at the store boundary
(``labtrack.store.sql.engine.translate_errors``), caused for real on each database.

SQLite always; PostgreSQL and MySQL when their URLs are set (tests/databases.py).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from databases import BACKENDS, fresh_database
from labtrack.errors import (
    ConfigurationError,
    InternalError,
    InvalidParameterValue,
    QueryTimeout,
    TemporarilyUnavailable,
)
from labtrack.store.sql.engine import WriteConflict, get_engine, translate_errors

SERVER_BACKENDS = tuple(b for b in BACKENDS if b != "sqlite")


@contextlib.contextmanager
def _engine_on(backend: str, tmp_path: Path) -> Iterator[Any]:
    with fresh_database(backend, tmp_path) as uri:
        engine = get_engine(uri)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t_engine (k VARCHAR(10) PRIMARY KEY, n INTEGER)")
        yield engine
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE t_engine")


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A table on each database."""
    with _engine_on(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture(params=SERVER_BACKENDS)
def server_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A table on each database server (SQLite checks no column type and has no connection
    to lose)."""
    with _engine_on(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Any]:
    """A table on SQLite, the one database that leaves integers beyond 64 bits to the driver
    (the servers report them as a DataError, as any value a column cannot hold)."""
    with _engine_on("sqlite", tmp_path) as engine:
        yield engine


def test_a_unique_violation_is_a_write_conflict(engine: Any) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t_engine (k, n) VALUES ('a', 1)")
    with (
        pytest.raises(
            WriteConflict, match=r"^Conflicting write to the tracking database: "
        ) as info,
        translate_errors(),
        engine.begin() as conn,
    ):
        conn.exec_driver_sql("INSERT INTO t_engine (k, n) VALUES ('a', 2)")
    assert isinstance(info.value, InternalError)
    assert isinstance(info.value.__cause__, sqlalchemy.exc.IntegrityError)


def test_an_unknown_table_is_an_internal_error_naming_the_database(engine: Any) -> None:
    with (
        pytest.raises(InternalError, match=r"^Database error in the run store: ") as info,
        translate_errors("the run store"),
        engine.connect() as conn,
    ):
        conn.exec_driver_sql("SELECT * FROM t_no_such_table")
    assert type(info.value) is InternalError
    assert "t_no_such_table" in info.value.message
    assert "\n" not in info.value.message  # the first line of the driver's message only


def test_a_value_the_column_cannot_hold_is_refused(server_engine: Any) -> None:
    engine = server_engine
    with (
        pytest.raises(InvalidParameterValue, match=r"^Value rejected by the tracking database: "),
        translate_errors(),
        engine.begin() as conn,
    ):
        conn.exec_driver_sql("INSERT INTO t_engine (k, n) VALUES ('an overlong key', 1)")


def test_an_integer_beyond_64_bits_is_refused(sqlite_engine: Any) -> None:
    engine = sqlite_engine
    with (
        pytest.raises(
            InvalidParameterValue,
            match=re.escape(
                "A number is too large for the tracking database: integers must fit in 64 bits"
            ),
        ),
        translate_errors(),
        engine.begin() as conn,
    ):
        conn.execute(sqlalchemy.text("INSERT INTO t_engine (k, n) VALUES ('a', :n)"), {"n": 2**64})


def test_labtrack_errors_pass_through_unchanged() -> None:
    error = ConfigurationError("mine")
    with pytest.raises(ConfigurationError, match=r"^mine$") as info, translate_errors():
        raise error
    assert info.value is error


def test_a_database_locked_by_another_writer_is_temporarily_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = get_engine(f"sqlite:///{path}", busy_timeout=0.05)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
    try:
        with (
            pytest.raises(
                TemporarilyUnavailable,
                match=r"^The tracking database stayed locked by another writer: database is locked",
            ),
            translate_errors(),
            engine.connect().execution_options(labtrack_write=True) as conn,
            conn.begin(),
        ):
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()


def test_a_database_that_cannot_be_opened_is_temporarily_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()
    engine = get_engine(f"sqlite:///{tmp_path / 'a-directory.db'}")
    with (
        pytest.raises(
            TemporarilyUnavailable,
            match=r"^Cannot connect to the tracking database: unable to open database file",
        ),
        translate_errors(),
        engine.connect(),
    ):
        pass


@pytest.mark.parametrize(
    ("backend", "env"),
    [("postgresql", "LABTRACK_TEST_POSTGRES_URL"), ("mysql", "LABTRACK_TEST_MYSQL_URL")],
)
def test_a_server_that_refuses_connections_is_temporarily_unavailable(
    backend: str, env: str
) -> None:
    import os

    if not os.environ.get(env):
        pytest.skip(f"{env} is not set: no {backend} driver setup to test against")
    from livesrv import free_port

    scheme = "postgresql" if backend == "postgresql" else "mysql+pymysql"
    engine = get_engine(f"{scheme}://user@127.0.0.1:{free_port()}/db")
    with (
        pytest.raises(TemporarilyUnavailable, match=r"^Cannot connect to the tracking database: "),
        translate_errors(),
        engine.connect(),
    ):
        pass
    engine.dispose()


def test_a_connection_lost_mid_session_is_temporarily_unavailable(server_engine: Any) -> None:
    engine = server_engine
    with engine.connect() as victim:
        if engine.dialect.name == "postgresql":
            pid = victim.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            kill = f"SELECT pg_terminate_backend({pid})"
        else:
            pid = victim.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
            kill = f"KILL {pid}"
        victim.commit()
        with engine.connect() as killer:
            killer.exec_driver_sql(kill)
        with (
            pytest.raises(
                TemporarilyUnavailable, match=r"^Lost the connection to the tracking database: "
            ),
            translate_errors(),
        ):
            victim.exec_driver_sql("SELECT 1")


# -- the statement timeout ---------------------------------------------------------------
SLOW_QUERIES = {
    "postgresql": "SELECT pg_sleep(30)",
    "mysql": "SELECT SLEEP(30)",
    # Counts for tens of seconds, unless the progress handler stops it.
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
    "WHERE i < 30000000) SELECT max(i) FROM n",
}
CONNECTION_ID = {
    "postgresql": "SELECT pg_backend_pid()",
    "mysql": "SELECT CONNECTION_ID()",
    "sqlite": "SELECT 1",
}


def _connection_identity(conn: Any) -> tuple[Any, int]:
    """What the database calls this connection, and the driver connection object's id."""
    name = CONNECTION_ID[conn.dialect.name]
    return conn.exec_driver_sql(name).scalar(), id(conn.connection.dbapi_connection)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_statement_past_the_timeout_is_stopped_and_its_connection_reused(
    backend: str, tmp_path: Path
) -> None:
    with fresh_database(backend, tmp_path) as uri:
        engine = get_engine(uri, statement_timeout=0.2)
        engine.dispose()  # one connection, used again below
        with engine.connect() as conn:
            before = _connection_identity(conn)
            conn.rollback()
        started = time.monotonic()
        with (
            pytest.raises(
                QueryTimeout,
                match=re.escape("The query took longer than 0.2 s, the statement timeout of"),
            ) as info,
            translate_errors(statement_timeout=0.2),
            engine.connect() as conn,
        ):
            conn.exec_driver_sql(SLOW_QUERIES[engine.dialect.name]).all()
        assert time.monotonic() - started < 10
        assert info.value.get_http_status_code() == 400
        assert info.value.error_code == "DEADLINE_EXCEEDED"
        # The connection went back to the pool, usable: the next statement runs on it.
        with engine.connect() as conn:
            assert _connection_identity(conn) == before
            assert conn.exec_driver_sql("SELECT 41 + 1").scalar() == 42
        assert isinstance(engine.pool, sqlalchemy.pool.QueuePool)
        assert engine.pool.checkedin() == 1
        engine.dispose()


def test_postgresql_jit_is_off(tmp_path: Path) -> None:
    """PostgreSQL compiled a long filter for far longer than the query ran (see engine.py)."""
    with fresh_database("postgresql", tmp_path) as uri, get_engine(uri).connect() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
