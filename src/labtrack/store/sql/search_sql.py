"""Compile parsed searches (``labtrack.search``) into SQLAlchemy queries.

User input only ever becomes bound parameters. Each comparison on a metric,
param, tag or dataset is a test of the rows that hold them (``_row_tests``: an
EXISTS, or one subquery shared by many tests), keyed by the run; that composes with
AND, OR and parentheses and lets every lookup use a primary or unique key. Sorting
by a metric, param or tag joins its row once. NaN (stored as NULL) and missing
values sort last in both directions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from labtrack._tags import MLFLOW_DATASET_CONTEXT
from labtrack.entities import ViewType
from labtrack.errors import InvalidParameterValue
from labtrack.search import (
    Comparison,
    Node,
    OrderBy,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from labtrack.store.sql import schema as s
from labtrack.store.sql._row_tests import Has, Lacks, Rows, Test, compile_tree
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


_RUN_METRICS = Rows(
    s.metric_series, s.metric_series.c.run_id == s.runs.c.id, s.metric_series.c.key, unique=True
)
_RUN_PARAMS = Rows(s.params, s.params.c.run_id == s.runs.c.id, s.params.c.key, unique=True)
_RUN_TAGS = Rows(s.tags, s.tags.c.run_id == s.runs.c.id, s.tags.c.key, unique=True)
_RUN_DATASETS = Rows(
    s.run_inputs.join(s.datasets, s.datasets.c.id == s.run_inputs.c.dataset_id),
    s.run_inputs.c.run_id == s.runs.c.id,
)
_RUN_DATASET_CONTEXTS = Rows(
    s.run_inputs.join(s.datasets, s.datasets.c.id == s.run_inputs.c.dataset_id).join(
        s.input_tags,
        and_(
            s.input_tags.c.input_id == s.run_inputs.c.id,
            s.input_tags.c.key == MLFLOW_DATASET_CONTEXT,
        ),
    ),
    s.run_inputs.c.run_id == s.runs.c.id,
)


def keyed_test(rows: Rows, column: Any, c: Comparison, dialect: str) -> Test:
    """A comparison on a key-value table (params, tags): its row, or its absence."""
    if c.op == "IS NULL":
        return Lacks(rows, c.key)
    if c.op == "IS NOT NULL":
        return Has(rows, c.key)
    return Has(rows, c.key, _compare(column, c.op, c.value, dialect))


class _RunFilterCompiler:
    def __init__(self, codec: ValueCodec) -> None:
        self.dialect = codec.dialect
        self.codec = codec

    def compile(self, node: Node) -> ColumnElement[bool]:
        return compile_tree(node, lambda c: getattr(self, f"_{c.entity}")(c))

    def _metric(self, c: Comparison) -> Test:
        column = _AGGREGATES[c.aggregate]
        value = c.value
        if isinstance(value, float) and math.isinf(value) and c.aggregate != "count":
            value = self.codec.encode(value)  # 1e999 parses as infinity; MySQL stores +-DBL_MAX
        cond = _compare(column, c.op, value, self.dialect)
        if c.op == "!=":
            # NaN is stored as NULL. As in IEEE arithmetic (and MLflow), NaN equals nothing
            # and orders with nothing, so it matches "!=" and no other comparison.
            cond = or_(cond, column.is_(None))
        return Has(_RUN_METRICS, c.key, cond)

    def _param(self, c: Comparison) -> Test:
        return keyed_test(_RUN_PARAMS, s.params.c.value, c, self.dialect)

    def _tag(self, c: Comparison) -> Test:
        return keyed_test(_RUN_TAGS, s.tags.c.value, c, self.dialect)

    def _attribute(self, c: Comparison) -> ColumnElement[bool]:
        column = _RUN_ATTRIBUTES.get(c.key)
        if column is None:
            raise InvalidParameterValue(f"Cannot search by attribute {c.key!r}")
        if c.op == "IS NULL":
            return column.is_(None)
        if c.op == "IS NOT NULL":
            return column.is_not(None)
        return _compare(column, c.op, c.value, self.dialect)

    def _dataset(self, c: Comparison) -> Test:
        if c.key == "context":
            rows, column = _RUN_DATASET_CONTEXTS, s.input_tags.c.value
        else:
            rows = _RUN_DATASETS
            column = s.datasets.c.name if c.key == "name" else s.datasets.c.digest
        return Has(rows, None, _compare(column, c.op, c.value, self.dialect))


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

    tags = Rows(et, et.c.experiment_id == e.c.experiment_id, et.c.key, unique=True)

    def comparison(n: Comparison) -> Test:
        if n.entity == "tag":
            return keyed_test(tags, et.c.value, n, dialect)
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
