"""The two bulk paths, straight through the database driver: metric history in and out.

SQLAlchemy's per-row processing costs more than the database work when a row is
four numbers; these functions hand plain tuples to the driver instead (COPY on
PostgreSQL, executemany elsewhere) inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from labtrack._gc import paused_gc

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_COLUMNS = "series_id, step, timestamp, value"


def insert_metric_rows(
    conn: Connection, rows: Sequence[tuple[int, int, int, float | None]]
) -> None:
    """Append (series_id, step, timestamp, value) rows to the metrics table."""
    if not rows:
        return
    dbapi_conn = conn.connection.driver_connection
    assert dbapi_conn is not None
    dialect = conn.dialect.name
    if dialect == "postgresql":
        with dbapi_conn.cursor() as cur, cur.copy(f"COPY metrics ({_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO metrics ({_COLUMNS}) VALUES ({marker}, {marker}, {marker}, {marker})"
    cur = dbapi_conn.cursor()
    try:
        cur.executemany(sql, rows)
    finally:
        cur.close()


def fetch_all(conn: Connection, statement: Any) -> list[tuple[Any, ...]]:
    """Run a SELECT and return plain tuples from the driver."""
    compiled = statement.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    if compiled.positional:
        args: Any = tuple(params[name] for name in compiled.positiontup)
    else:
        args = params
    dbapi_conn = conn.connection.driver_connection
    assert dbapi_conn is not None
    cur = dbapi_conn.cursor()
    try:
        with paused_gc():
            cur.execute(str(compiled), args)
            return list(cur.fetchall())
    finally:
        cur.close()
