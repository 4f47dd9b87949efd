"""Tests of the rows a searched entity owns (its metrics, params, tags, datasets), and
the AND/OR structure of a filter over them (``compile_tree``).

A comparison on a run's metric is "the run has a row in metric_series with this key where
this holds" (:class:`Has`, an EXISTS); an IS NULL test is "it has no row with this key"
(:class:`Lacks`). Compiled one by one these compose with AND, OR and parentheses;
compiled together they can share subqueries, which matters for long filters.

The shape of an AND of many such tests: PostgreSQL turns each EXISTS
of a WHERE clause into a semi-join, and its planner's work grows much faster than the
number of joins (a filter of 100 metric comparisons took seconds to plan, 600 more than
ten minutes). So an AND keeps at most ``SEMI_JOINS`` EXISTS (which plan well and let
the database pick the most selective test first); the other tests of each table become
one correlated subquery that counts, per run, how many of them its rows pass, which
every database plans in time linear in the number of tests. IS NULL tests of one table
share one NOT EXISTS, and repeated comparisons are tested once. In an OR, the tests of
one table are one EXISTS of a row that passes any of them (SQLite's time for an OR of N
EXISTS grew with N squared). Long ANDs, ORs and sums are nested as balanced trees, within
SQLite's limit on expression depth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import case, exists, func, literal, literal_column, select, true
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, ColumnElement, Grouping

from labtrack.search import And, Comparison, Node, Or

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
        return _balanced(operators.and_, terms) if terms else true()

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
    return _balanced(operators.and_, plain)


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
    return _balanced(operators.or_, plain)


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
        passing = [
            _balanced(operators.and_, [rows.key == key, *conditions])
            for key, conditions in by_key.items()
        ]
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
    """``terms`` joined by ``op`` (``operators.and_``, ``or_``, ``add``) pairwise, as a
    balanced tree in parentheses: SQLite refuses expressions nested over 1,000 deep, as a
    flat ``a AND b AND c ...`` of that many terms is."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    left, right = _balanced(op, terms[:middle]), _balanced(op, terms[middle:])
    return BinaryExpression(Grouping(left), Grouping(right), op, type_=left.type)
