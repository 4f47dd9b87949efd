"""Compile parsed searches (``labtrack.search``) into SQLAlchemy queries.

User input only ever becomes bound parameters. Each comparison on a metric,
param, tag or dataset is a test of the rows that hold them (:class:`Has`,
:class:`Lacks`), keyed by the run; that composes with AND, OR and parentheses and
lets every lookup use a primary or unique key. Sorting by a metric, param or tag
joins its row once. NaN (stored as NULL) and missing values sort last in both
directions.

The shape of an AND of many such tests (``compile_tree``): PostgreSQL turns each EXISTS
of a WHERE clause into a semi-join, and its planner's work grows much faster than the
number of joins (a filter of 100 metric comparisons took seconds to plan, 600 more than
ten minutes). So an AND keeps at most ``SEMI_JOINS`` EXISTS (which plan well and let
the database pick the most selective test first); the other tests of each table become
one correlated subquery that counts, per run, how many of them its rows pass, which
every database plans in time linear in the number of tests. IS NULL tests of one table
share one NOT EXISTS, and repeated comparisons are tested once. In an OR, the tests of
one table are one EXISTS of a row that passes any of them (SQLite's time for an OR of N
EXISTS grew with N squared). Long sums and ORs are nested as balanced trees, within
SQLite's limit on expression depth.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import and_, case, exists, func, literal, literal_column, or_, select, true
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, ColumnElement, Grouping

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


# -- tests of the rows an entity owns (metrics, params, tags, datasets) ----------------
#: At most this many EXISTS per AND (semi-joins on PostgreSQL); see the module docstring.
SEMI_JOINS = 4


@dataclass(frozen=True, eq=False)
class Rows:
    """The rows of a table (or join) that belong to the entity searched: ``owner``
    correlates a row with it; ``key`` is the column naming what a row holds (None for
    rows without a key); ``unique``: an entity has at most one row per key. Tests of one
    ``Rows`` instance may share a subquery."""

    source: Any
    owner: ColumnElement[bool]
    key: Any = None
    unique: bool = False

    def select(self, *columns: Any) -> Any:
        return select(*(columns or (literal(1),))).select_from(self.source).where(self.owner)


@dataclass(frozen=True, eq=False)
class Has:
    """The entity has a row in ``rows`` (with ``key``, when given) where ``condition``
    holds (when given): an EXISTS."""

    rows: Rows
    key: str | None = None
    condition: ColumnElement[bool] | None = None

    def row_test(self) -> ColumnElement[bool]:
        terms = [] if self.key is None else [self.rows.key == self.key]
        if self.condition is not None:
            terms.append(self.condition)
        return and_(*terms) if terms else true()

    def sql(self) -> ColumnElement[bool]:
        return exists(self.rows.select().where(self.row_test()))


@dataclass(frozen=True, eq=False)
class Lacks:
    """The entity has no row in ``rows`` with ``key``: a NOT EXISTS."""

    rows: Rows
    key: str

    def sql(self) -> ColumnElement[bool]:
        return ~exists(self.rows.select().where(self.rows.key == self.key))


Test: TypeAlias = "ColumnElement[bool] | Has | Lacks"


def compile_tree(node: Node, leaf: Callable[[Comparison], Test]) -> ColumnElement[bool]:
    """The AND/OR structure of a parsed filter as SQL, with ``leaf`` compiling comparisons.

    ``leaf`` gives SQL, or a :class:`Has` / :class:`Lacks` test, which an AND groups by
    table (see the module docstring).
    """
    return _sql(_compile(node, leaf))


def _compile(node: Node, leaf: Callable[[Comparison], Test]) -> Test:
    if isinstance(node, And):
        return _all_of([_compile(n, leaf) for n in dict.fromkeys(node.operands)])
    if isinstance(node, Or):
        return _any_of([_compile(n, leaf) for n in dict.fromkeys(node.operands)])
    return leaf(node)


def _sql(test: Test) -> ColumnElement[bool]:
    return test.sql() if isinstance(test, Has | Lacks) else test


def _all_of(tests: list[Test]) -> ColumnElement[bool]:
    plain: list[ColumnElement[bool]] = []
    has: list[Has] = []
    lacks: dict[Rows, list[str]] = {}
    for test in tests:
        if isinstance(test, Has):
            has.append(test)
        elif isinstance(test, Lacks):
            lacks.setdefault(test.rows, []).append(test.key)
        else:
            plain.append(test)
    for rows, keys in lacks.items():
        plain.append(~exists(rows.select().where(rows.key.in_(keys))))
    budget = max(0, SEMI_JOINS - len(lacks))
    plain.extend(test.sql() for test in has[:budget])
    rest: dict[Rows, list[Has]] = {}
    for test in has[budget:]:
        rest.setdefault(test.rows, []).append(test)
    plain.extend(_all_exist(rows, group) for rows, group in rest.items())
    return and_(*plain)


def _any_of(tests: list[Test]) -> ColumnElement[bool]:
    """An OR: the tests of one table's rows are one EXISTS of a row passing any of them."""
    plain: list[ColumnElement[bool]] = []
    has: dict[Rows, list[Has]] = {}
    for test in tests:
        if isinstance(test, Has):
            has.setdefault(test.rows, []).append(test)
        else:
            plain.append(_sql(test))
    for rows, group in has.items():
        if len(group) == 1:
            plain.append(group[0].sql())
        else:
            any_row = _balanced(operators.or_, [test.row_test() for test in group])
            plain.append(exists(_of_keys(rows, group, rows.select().where(any_row))))
    return or_(*plain)


def _all_exist(rows: Rows, tests: list[Has]) -> ColumnElement[bool]:
    """Each of ``tests`` holds for some row of ``rows``, in one correlated subquery.

    With one row per key, it counts the keys whose row passes all of that key's tests
    (one row matches one key's tests at most). Otherwise it sums, over the tests, whether
    any row passes it (NULL, so false, when there are no rows at all)."""
    if len(tests) == 1:
        return tests[0].sql()
    if rows.unique and all(test.key is not None for test in tests):
        by_key: dict[str | None, list[ColumnElement[bool]]] = {}
        for test in tests:
            conditions = by_key.setdefault(test.key, [])
            if test.condition is not None:
                conditions.append(test.condition)
        passing = [and_(rows.key == key, *conditions) for key, conditions in by_key.items()]
        counted = rows.select(func.count()).where(_balanced(operators.or_, passing))
        return _of_keys(rows, tests, counted).scalar_subquery() == len(by_key)
    one: Any = literal_column("1")
    zero: Any = literal_column("0")
    passed = [func.max(case((test.row_test(), one), else_=zero)) for test in tests]
    query = _of_keys(rows, tests, rows.select(_balanced(operators.add, passed)))
    return query.scalar_subquery() == len(tests)


def _of_keys(rows: Rows, tests: list[Has], query: Any) -> Any:
    """``query`` of ``rows`` narrowed to the rows of the keys ``tests`` name, when all do."""
    if rows.key is None or any(test.key is None for test in tests):
        return query
    return query.where(rows.key.in_(sorted({str(test.key) for test in tests})))


def _balanced(op: Any, terms: list[Any]) -> Any:
    """``terms`` joined by ``op`` (``operators.add``, ``operators.or_``) pairwise, as a
    balanced tree in parentheses: SQLite refuses expressions nested over 1,000 deep, as a
    flat ``a + b + c ...`` of that many terms is."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    left, right = _balanced(op, terms[:middle]), _balanced(op, terms[middle:])
    return BinaryExpression(Grouping(left), Grouping(right), op, type_=left.type)


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
