"""Databases for tests: SQLite files, and per-worker databases on PostgreSQL and MySQL.

PostgreSQL and MySQL/MariaDB are used when their URLs are set
(``LABTRACK_TEST_POSTGRES_URL``, ``LABTRACK_TEST_MYSQL_URL``; ``.ci/run`` sets
both); a test needing one is skipped, with that reason, when it is not.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

BACKENDS = ("sqlite", "postgresql", "mysql")
_ENV = {"postgresql": "LABTRACK_TEST_POSTGRES_URL", "mysql": "LABTRACK_TEST_MYSQL_URL"}
_server_dbs: dict[str, str] = {}


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def server_database_url(backend: str) -> str:
    """A database of this worker's own on the PostgreSQL or MySQL server (skips if unset)."""
    if backend in _server_dbs:
        return _server_dbs[backend]
    base = os.environ.get(_ENV[backend])
    if not base:
        pytest.skip(f"{_ENV[backend]} is not set: no {backend} server to test against")
    import sqlalchemy

    from labtrack.store.sql.engine import normalize_db_url

    url = sqlalchemy.engine.make_url(normalize_db_url(base))
    name = f"labtrack_test_{_worker()}"
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if backend == "postgresql":
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        else:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
            conn.exec_driver_sql(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
    admin.dispose()
    _server_dbs[backend] = url.set(database=name).render_as_string(hide_password=False)
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
