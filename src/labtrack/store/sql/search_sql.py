"""Compile parsed searches (``labtrack.search``) into SQLAlchemy queries.

User input only ever becomes bound parameters. Each comparison on a metric,
param, tag or dataset is an EXISTS over the table that holds it, keyed by the
run; that composes with AND, OR and parentheses and lets every lookup use a
primary or unique key. Sorting by a metric, param or tag joins its row once.
NaN (stored as NULL) and missing values sort last in both directions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from labtrack._tags import MLFLOW_DATASET_CONTEXT
from labtrack.entities import ViewType
from labtrack.errors import InvalidParameterValue
from labtrack.search import (
    And,
    Comparison,
    Node,
    Or,
    OrderBy,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from labtrack.store.sql import schema as s
from labtrack.store.sql._statements import RUN_COLUMNS
from labtrack.store.sql._writes import ValueCodec

_RUN_ATTRIBUTES = {
    "run_id": s.runs.c.run_uuid,
    "run_name": s.runs.c.name,
    "user_id": s.runs.c.user_id,
    "status": s.runs.c.status,
    "artifact_uri": s.runs.c.artifact_uri,
    "start_time": s.runs.c.start_time,
    "end_time": s.runs.c.end_time,
    "lifecycle_stage": s.runs.c.lifecycle_stage,
    "experiment_id": s.runs.c.experiment_id,
}
_AGGREGATES = {
    "latest": s.metric_series.c.latest_value,
    "min": s.metric_series.c.min_value,
    "max": s.metric_series.c.max_value,
    "count": s.metric_series.c.count,
}
_EXPERIMENT_ATTRIBUTES = {
    "name": s.experiments.c.name,
    "experiment_id": s.experiments.c.experiment_id,
    "creation_time": s.experiments.c.creation_time,
    "last_update_time": s.experiments.c.last_update_time,
    "lifecycle_stage": s.experiments.c.lifecycle_stage,
}


# -- comparison operators ------------------------------------------------------------
def _glob_pattern(like: str) -> str:
    """A LIKE pattern (``%``, ``_``, backslash escapes) as a case-sensitive SQLite GLOB pattern."""
    out = []
    chars = iter(like)
    for ch in chars:
        if ch == "\\":
            ch = next(chars, "\\")
            out.append(f"[{ch}]" if ch in "*?[" else ch)
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)


def _compare(column: Any, op: str, value: Any, dialect: str) -> ColumnElement[bool]:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    # LIKE patterns: % and _ are wildcards, a backslash makes the next character literal,
    # on every backend (PostgreSQL and MySQL do this by default; SQLite is told to).
    if op == "LIKE":
        if dialect == "sqlite":  # SQLite's LIKE ignores case; GLOB does not
            return column.op("GLOB")(_glob_pattern(value))
        return column.like(value, escape="\\")
    if op == "ILIKE":
        if dialect == "postgresql":
            return column.ilike(value, escape="\\")
        return func.lower(column).like(func.lower(literal(value)), escape="\\")
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    raise InvalidParameterValue(f"Unsupported operator {op!r}")


def compile_tree(
    node: Node, leaf: Callable[[Comparison], ColumnElement[bool]]
) -> ColumnElement[bool]:
    """The AND/OR structure of a parsed filter as SQL, with ``leaf`` compiling comparisons."""
    if isinstance(node, And):
        return and_(*(compile_tree(n, leaf) for n in node.operands))
    if isinstance(node, Or):
        return or_(*(compile_tree(n, leaf) for n in node.operands))
    return leaf(node)


class _RunFilterCompiler:
    def __init__(self, codec: ValueCodec) -> None:
        self.dialect = codec.dialect
        self.codec = codec

    def compile(self, node: Node) -> ColumnElement[bool]:
        return compile_tree(node, lambda c: getattr(self, f"_{c.entity}")(c))

    def _metric(self, c: Comparison) -> ColumnElement[bool]:
        ms = s.metric_series
        column = _AGGREGATES[c.aggregate]
        value = c.value
        if isinstance(value, float) and math.isinf(value) and c.aggregate != "count":
            value = self.codec.encode(value)  # 1e999 parses as infinity; MySQL stores +-DBL_MAX
        cond = _compare(column, c.op, value, self.dialect)
        if c.op == "!=":
            # NaN is stored as NULL. As in IEEE arithmetic (and MLflow), NaN equals nothing
            # and orders with nothing, so it matches "!=" and no other comparison.
            cond = or_(cond, column.is_(None))
        return exists().where(ms.c.run_id == s.runs.c.id, ms.c.key == c.key, cond)

    def _keyed(self, table: Any, c: Comparison) -> ColumnElement[bool]:
        row_of_run = and_(table.c.run_id == s.runs.c.id, table.c.key == c.key)
        if c.op == "IS NULL":
            return ~exists().where(row_of_run)
        if c.op == "IS NOT NULL":
            return exists().where(row_of_run)
        return exists().where(row_of_run, _compare(table.c.value, c.op, c.value, self.dialect))

    def _param(self, c: Comparison) -> ColumnElement[bool]:
        return self._keyed(s.params, c)

    def _tag(self, c: Comparison) -> ColumnElement[bool]:
        return self._keyed(s.tags, c)

    def _attribute(self, c: Comparison) -> ColumnElement[bool]:
        column = _RUN_ATTRIBUTES.get(c.key)
        if column is None:
            raise InvalidParameterValue(f"Cannot search by attribute {c.key!r}")
        if c.op == "IS NULL":
            return column.is_(None)
        if c.op == "IS NOT NULL":
            return column.is_not(None)
        return _compare(column, c.op, c.value, self.dialect)

    def _dataset(self, c: Comparison) -> ColumnElement[bool]:
        ri, d, it = s.run_inputs, s.datasets, s.input_tags
        base = select(literal(1)).select_from(ri.join(d, d.c.id == ri.c.dataset_id))
        if c.key == "context":
            base = base.join(it, and_(it.c.input_id == ri.c.id, it.c.key == MLFLOW_DATASET_CONTEXT))
            column = it.c.value
        else:
            column = d.c.name if c.key == "name" else d.c.digest
        return exists(
            base.where(ri.c.run_id == s.runs.c.id, _compare(column, c.op, c.value, self.dialect))
        )


def _nulls_last(column: Any, ascending: bool) -> list[Any]:
    """Order by ``column`` with NULLs last whatever the direction, on every backend."""
    return [column.is_(None), column.asc() if ascending else column.desc()]


def run_query(
    experiment_ids: Sequence[int],
    view_type: int,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    codec: ValueCodec,
) -> Any:
    """A SELECT of run rows (``RUN_COLUMNS``), filtered and ordered; add offset/limit.

    As in MLflow, ties are broken by start time (newest first) and then run id.
    """
    query = select(*RUN_COLUMNS).where(
        s.runs.c.experiment_id.in_(list(experiment_ids)),
        s.runs.c.lifecycle_stage.in_(ViewType.stages(view_type)),
    )
    node = parse_run_filter(filter_string)
    if node is not None:
        query = query.where(_RunFilterCompiler(codec).compile(node))
    ordering: list[Any] = []
    items = parse_run_order_by(order_by)
    for i, item in enumerate(items):
        query, terms = _order_term(query, item, i)
        ordering.extend(terms)
    if not any(i.entity == "attribute" and i.key == "start_time" for i in items):
        ordering.extend(_nulls_last(s.runs.c.start_time, ascending=False))
    ordering.append(s.runs.c.run_uuid.asc())
    return query.order_by(*ordering)


def _order_term(query: Any, item: OrderBy, index: int) -> tuple[Any, list[Any]]:
    if item.entity == "attribute":
        column = _RUN_ATTRIBUTES.get(item.key)
        if column is None:
            raise InvalidParameterValue(f"Cannot order by attribute {item.key!r}")
        return query, _nulls_last(column, item.ascending)
    if item.entity == "metric":
        ms = s.metric_series.alias(f"order_{index}")
        query = query.outerjoin(ms, and_(ms.c.run_id == s.runs.c.id, ms.c.key == item.key))
        column = ms.c[_AGGREGATES[item.aggregate].name]
        # Missing metric last, then NaN (NULL), then by value.
        return query, [ms.c.id.is_(None), *_nulls_last(column, item.ascending)]
    table = {"param": s.params, "tag": s.tags}.get(item.entity)
    if table is None:
        raise InvalidParameterValue(f"Cannot order runs by {item.entity} {item.key!r}")
    alias = table.alias(f"order_{index}")
    query = query.outerjoin(alias, and_(alias.c.run_id == s.runs.c.id, alias.c.key == item.key))
    return query, _nulls_last(alias.c.value, item.ascending)


def experiment_query(
    view_type: int, filter_string: str | None, order_by: Sequence[str] | None, dialect: str = ""
) -> Any:
    e, et = s.experiments, s.experiment_tags
    query = select(e).where(e.c.lifecycle_stage.in_(ViewType.stages(view_type)))
    node = parse_experiment_filter(filter_string)

    def comparison(n: Comparison) -> ColumnElement[bool]:
        if n.entity == "tag":
            row = and_(et.c.experiment_id == e.c.experiment_id, et.c.key == n.key)
            if n.op == "IS NULL":
                return ~exists().where(row)
            if n.op == "IS NOT NULL":
                return exists().where(row)
            return exists().where(row, _compare(et.c.value, n.op, n.value, dialect))
        column = _EXPERIMENT_ATTRIBUTES.get(n.key)
        if column is None:
            raise InvalidParameterValue(f"Cannot search experiments by {n.key!r}")
        return _compare(column, n.op, n.value, dialect)

    if node is not None:
        query = query.where(compile_tree(node, comparison))
    ordering: list[Any] = []
    for item in parse_experiment_order_by(order_by):
        column = _EXPERIMENT_ATTRIBUTES.get(item.key)
        if column is None:
            raise InvalidParameterValue(f"Cannot order experiments by {item.key!r}")
        ordering.extend(_nulls_last(column, item.ascending))
    if not order_by:
        ordering.append(e.c.creation_time.desc())
    ordering.append(e.c.experiment_id.asc())
    return query.order_by(*ordering)
