"""Databases for tests: SQLite files, and per-worker databases on PostgreSQL and MySQL.

PostgreSQL and MySQL/MariaDB are used when their URLs are set
(``LABTRACK_TEST_POSTGRES_URL``, ``LABTRACK_TEST_MYSQL_URL``; ``.ci/run`` sets
both); a test needing one is skipped, with that reason, when it is not.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BACKENDS = ("sqlite", "postgresql", "mysql")
_ENV = {"postgresql": "LABTRACK_TEST_POSTGRES_URL", "mysql": "LABTRACK_TEST_MYSQL_URL"}
_server_dbs: dict[str, str] = {}


def _session() -> str:
    """Unique to this test session (shared by its xdist workers), so that two sessions on
    one machine (a developer's and CI's) never use each other's databases."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))[:10]


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def create_server_database(backend: str, purpose: str) -> str:
    """A new, empty database of this session and worker on the PostgreSQL or MySQL server
    (the test is skipped if that server's URL is unset); dropped when the process exits."""
    base = os.environ.get(_ENV[backend])
    if not base:
        pytest.skip(f"{_ENV[backend]} is not set: no {backend} server to test against")
    import sqlalchemy

    from labtrack.store.sql.engine import normalize_db_url

    url = sqlalchemy.engine.make_url(normalize_db_url(base))
    name = f"lt_{purpose}_{_session()}_{_worker()}"
    quoted = f'"{name}"' if backend == "postgresql" else f"`{name}`"
    drop = f"DROP DATABASE IF EXISTS {quoted}" + (
        " WITH (FORCE)" if backend == "postgresql" else ""
    )
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(drop)
        if backend == "postgresql":
            conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
        else:
            conn.exec_driver_sql(
                f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
    admin.dispose()

    def _drop() -> None:
        from labtrack.store.sql import engine as lt_engine

        for engine in lt_engine._ENGINES.values():
            engine.dispose()
        cleanup = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with cleanup.connect() as conn:
                conn.exec_driver_sql(drop)
        except sqlalchemy.exc.SQLAlchemyError:
            pass  # the server went away: nothing left to clean
        finally:
            cleanup.dispose()

    atexit.register(_drop)
    return url.set(database=name).render_as_string(hide_password=False)


def server_database_url(backend: str) -> str:
    """This worker's database for the store tests (created once per session)."""
    if backend not in _server_dbs:
        _server_dbs[backend] = create_server_database(backend, "test")
    return _server_dbs[backend]


def _empty_tables(uri: str) -> None:
    from sqlalchemy import inspect

    from labtrack.store.sql.engine import get_engine
    from labtrack.store.sql.schema import metadata

    engine = get_engine(uri)
    with engine.begin() as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@contextlib.contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database URL with no labtrack data in it."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'labtrack.db'}"
        return
    uri = server_database_url(backend)
    _empty_tables(uri)
    yield uri
    _empty_tables(uri)


def downgrade(conn: Any, revision: str) -> None:
    """Take a database at labtrack's newest schema back to ``revision`` by the migrations'
    downgrades (the migrations that change existing tables have one; those before 0005
    only add tables, which a test drops itself)."""
    from alembic import command
    from alembic.config import Config

    from labtrack.store.sql import migrate

    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__file__).with_name("migrations")))
    config.attributes["connection"] = conn
    command.downgrade(config, revision)
