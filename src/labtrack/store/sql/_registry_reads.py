"""The model registry in the SQL store: reading entities, search, and the event log.

Registered models and versions are built with a fixed number of queries for any number
of them (tags, aliases, latest versions per stage in bulk). The writes are in
``_registry.py``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select

from labtrack._tags import MLFLOW_PROMPT_IS_PROMPT
from labtrack.entities import (
    ModelVersion,
    ModelVersionStage,
    RegisteredModel,
    RegistryAction,
    RegistryEvent,
)
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist
from labtrack.search import (
    MODEL_VERSION_SCHEMA,
    REGISTERED_MODEL_SCHEMA,
    Comparison,
    parse_filter,
    parse_order_by,
)
from labtrack.store.sql import schema as s
from labtrack.store.sql._registry import (
    VERSION_COLUMNS,
    alias_target,
    model_row,
    newest_version,
    version_row,
)
from labtrack.store.sql._row_tests import Has, Lacks, Rows, Test, compile_tree
from labtrack.store.sql._writes import chunks
from labtrack.store.sql.search_sql import _compare, keyed_test
from labtrack.validation import fits_int64

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.sql.elements import ColumnElement

# MLflow marks prompts with MLFLOW_PROMPT_IS_PROMPT; a model without it is not a prompt (MLflow's
# clients add ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every model search).

_rm = s.registered_models
_mv = s.model_versions
_rmt = s.registered_model_tags
_mvt = s.model_version_tags
_al = s.registered_model_aliases
_ev = s.registry_events


# -- entities ---------------------------------------------------------------------------
def version_by_alias(conn: Connection, name: str, alias: str) -> ModelVersion:
    """The version ``alias`` points to; ``latest`` (any case) is the newest version."""
    row = model_row(conn, name)
    if alias.lower() == "latest":
        newest = newest_version(conn, row.id)
        if newest is None:
            raise ResourceDoesNotExist(f"Latest version not found for model {name}.")
        return get_version(conn, name, newest)
    current = alias_target(conn, row.id, alias)
    if current is None:
        # MLflow answers INVALID_PARAMETER_VALUE here, and its clients expect that code.
        raise InvalidParameterValue(f"Registered model alias {alias} not found.")
    return get_version(conn, name, current[1])


def load_versions(conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
    """Versions (rows of ``VERSION_COLUMNS``) with their tags and aliases, in ``rows`` order."""
    pks = [row.id for row in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[int, list[str]] = defaultdict(list)
    for part in chunks(pks):
        for pk, key, value in conn.execute(
            select(_mvt.c.model_version_id, _mvt.c.key, _mvt.c.value).where(
                _mvt.c.model_version_id.in_(part)
            )
        ):
            tags[pk][key] = value
        for pk, alias in conn.execute(
            select(_al.c.model_version_id, _al.c.alias)
            .where(_al.c.model_version_id.in_(part))
            .order_by(_al.c.alias)
        ):
            aliases[pk].append(alias)
    return [
        ModelVersion(
            name=row.name,
            version=row.version,
            creation_timestamp=row.creation_time,
            last_updated_timestamp=row.last_updated_time,
            source=row.source,
            current_stage=row.current_stage,
            description=row.description,
            user_id=row.user_id,
            run_id=row.run_id,
            run_link=row.run_link,
            model_id=row.model_id,
            status=row.status,
            status_message=row.status_message,
            tags=tags[row.id],
            aliases=tuple(aliases[row.id]),
        )
        for row in rows
    ]


def get_version(conn: Connection, name: str, version: int) -> ModelVersion:
    return load_versions(conn, [version_row(conn, name, version)])[0]


def download_uri(conn: Connection, name: str, version: int) -> str:
    return str(version_row(conn, name, version).storage_location)


def _latest_rows(conn: Connection, model_pks: Sequence[int]) -> list[Any]:
    """The newest version in each stage of each model, by model then version."""
    found: list[Any] = []
    for part in chunks(list(model_pks)):
        newest = (
            select(
                _mv.c.registered_model_id,
                func.max(_mv.c.version).label("version"),
            )
            .where(_mv.c.registered_model_id.in_(part))
            .group_by(_mv.c.registered_model_id, _mv.c.current_stage)
            .subquery()
        )
        found.extend(
            conn.execute(
                select(*VERSION_COLUMNS)
                .join(_rm, _rm.c.id == _mv.c.registered_model_id)
                .join(
                    newest,
                    and_(
                        newest.c.registered_model_id == _mv.c.registered_model_id,
                        newest.c.version == _mv.c.version,
                    ),
                )
                .order_by(_mv.c.registered_model_id, _mv.c.version)
            ).all()
        )
    return found


def latest_versions(
    conn: Connection, name: str, stages: Sequence[str] | None
) -> list[ModelVersion]:
    """The newest version in each of ``stages`` (canonical; None or empty: every stage)."""
    row = model_row(conn, name)
    rows = _latest_rows(conn, [row.id])
    if stages:
        wanted = set(stages)
        rows = [r for r in rows if r.current_stage in wanted]
    return load_versions(conn, rows)


def load_models(conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
    """Registered models with tags, aliases and latest versions, in ``rows`` order."""
    pks = [row.id for row in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[int, dict[str, int]] = defaultdict(dict)
    for part in chunks(pks):
        for pk, key, value in conn.execute(
            select(_rmt.c.registered_model_id, _rmt.c.key, _rmt.c.value).where(
                _rmt.c.registered_model_id.in_(part)
            )
        ):
            tags[pk][key] = value
        for pk, alias, version in conn.execute(
            select(_al.c.registered_model_id, _al.c.alias, _mv.c.version)
            .join(_mv, _mv.c.id == _al.c.model_version_id)
            .where(_al.c.registered_model_id.in_(part))
            .order_by(_al.c.alias)
        ):
            aliases[pk][alias] = version
    latest: dict[int, list[ModelVersion]] = defaultdict(list)
    latest_rows = _latest_rows(conn, pks)
    for version_row_, version in zip(latest_rows, load_versions(conn, latest_rows), strict=True):
        latest[version_row_.registered_model_id].append(version)
    return [
        RegisteredModel(
            name=row.name,
            creation_timestamp=row.creation_time,
            last_updated_timestamp=row.last_updated_time,
            description=row.description,
            user_id=row.user_id,
            latest_versions=tuple(latest[row.id]),
            tags=tags[row.id],
            aliases=aliases[row.id],
        )
        for row in rows
    ]


def get_model(conn: Connection, name: str) -> RegisteredModel:
    return load_models(conn, [model_row(conn, name)])[0]


# -- search -----------------------------------------------------------------------------
def _tag_test(rows: Rows, table: Any, c: Comparison, dialect: str) -> Test:
    if (
        c.key == MLFLOW_PROMPT_IS_PROMPT
        and c.op in ("=", "!=")
        and (c.value == "false") == (c.op == "=")
    ):
        # As in MLflow, a model without the prompt tag counts as tagged 'false'.
        tagged = Has(rows, c.key, _compare(table.c.value, c.op, c.value, dialect))
        return or_(tagged.sql(), Lacks(rows, c.key).sql())
    return keyed_test(rows, table.c.value, c, dialect)


def _check_unique(items: Sequence[Any], order_by: Sequence[str]) -> None:
    keys = [item.key for item in items]
    if len(set(keys)) != len(keys):
        raise InvalidParameterValue(f"`order_by` contains duplicate fields: {list(order_by)}")


_MODEL_TAGS = Rows(_rmt, _rmt.c.registered_model_id == _rm.c.id, _rmt.c.key, unique=True)
_VERSION_TAGS = Rows(_mvt, _mvt.c.model_version_id == _mv.c.id, _mvt.c.key, unique=True)

_MODEL_COLUMNS = {
    "name": _rm.c.name,
    "creation_timestamp": _rm.c.creation_time,
    "last_updated_timestamp": _rm.c.last_updated_time,
}


def models_query(filter_string: str | None, order_by: Sequence[str] | None, dialect: str) -> Any:
    """A SELECT of ``registered_models`` rows, filtered and ordered (by name unless told);
    add offset/limit."""
    query = select(_rm)
    node = parse_filter(filter_string, REGISTERED_MODEL_SCHEMA)

    def leaf(c: Comparison) -> Test:
        if c.entity == "tag":
            return _tag_test(_MODEL_TAGS, _rmt, c, dialect)
        return _compare(_MODEL_COLUMNS[c.key], c.op, c.value, dialect)

    if node is not None:
        query = query.where(compile_tree(node, leaf))
    items = parse_order_by(order_by, REGISTERED_MODEL_SCHEMA)
    _check_unique(items, order_by or ())
    ordering = [
        _MODEL_COLUMNS[i.key].asc() if i.ascending else _MODEL_COLUMNS[i.key].desc() for i in items
    ]
    if not any(i.key == "name" for i in items):
        ordering.append(_rm.c.name.asc())
    return query.order_by(*ordering)


_VERSION_ATTRIBUTES = {
    "name": _rm.c.name,
    "version_number": _mv.c.version,
    "run_id": _mv.c.run_id,
    "source_path": _mv.c.source,
    "current_stage": _mv.c.current_stage,
    "model_id": _mv.c.model_id,
    "creation_timestamp": _mv.c.creation_time,
    "last_updated_timestamp": _mv.c.last_updated_time,
}
DEFAULT_VERSION_ORDER = ("last_updated_timestamp DESC", "name ASC", "version_number DESC")


def _version_value(c: Comparison) -> Any:
    value = c.value
    if c.key == "version_number":
        if isinstance(value, float):
            if not value.is_integer():
                raise InvalidParameterValue(
                    f"Invalid value for numeric attribute 'version_number': {value!r}"
                )
            if fits_int64(int(value)):  # beyond, no version has it: compare as the float
                value = int(value)
    elif c.key == "current_stage" and c.op in ("=", "!=", "IN", "NOT IN"):
        if isinstance(value, tuple):
            value = tuple(ModelVersionStage.canonical(v) for v in value)
        elif isinstance(value, str):
            value = ModelVersionStage.canonical(value)
    return value


def versions_query(filter_string: str | None, order_by: Sequence[str] | None, dialect: str) -> Any:
    """A SELECT of version rows (``VERSION_COLUMNS``), filtered and ordered; add offset/limit.

    As in MLflow: most recently updated first unless told otherwise, ties broken by
    name (ascending) then version (descending).
    """
    query = select(*VERSION_COLUMNS).join(_rm, _rm.c.id == _mv.c.registered_model_id)
    node = parse_filter(filter_string, MODEL_VERSION_SCHEMA)

    def leaf(c: Comparison) -> Test:
        if c.entity == "tag":
            return _tag_test(_VERSION_TAGS, _mvt, c, dialect)
        return _compare(_VERSION_ATTRIBUTES[c.key], c.op, _version_value(c), dialect)

    if node is not None:
        query = query.where(compile_tree(node, leaf))
    clauses = list(order_by) if order_by else list(DEFAULT_VERSION_ORDER)
    items = parse_order_by(clauses, MODEL_VERSION_SCHEMA)
    _check_unique(items, clauses)
    ordering = [
        _VERSION_ATTRIBUTES[i.key].asc() if i.ascending else _VERSION_ATTRIBUTES[i.key].desc()
        for i in items
    ]
    named = {i.key for i in items}
    if "name" not in named:
        ordering.append(_rm.c.name.asc())
    if "version_number" not in named:
        ordering.append(_mv.c.version.desc())
    return query.order_by(*ordering)


# -- the event log ----------------------------------------------------------------------
def _name_condition(conn: Connection, name: str) -> ColumnElement[bool]:
    """Events of the model (now or last) called ``name``: recorded under that name, the
    renames away from it, and, following renames back, those of its earlier names from
    before each rename."""
    terms: list[ColumnElement[bool]] = [
        _ev.c.model_name == name,
        and_(_ev.c.action == RegistryAction.MODEL_RENAMED, _ev.c.from_value == name),
    ]
    pending: list[tuple[str, int | None]] = [(name, None)]
    while pending:
        current, before = pending.pop()
        query = select(_ev.c.id, _ev.c.from_value).where(
            _ev.c.action == RegistryAction.MODEL_RENAMED, _ev.c.model_name == current
        )
        if before is not None:
            query = query.where(_ev.c.id < before)
        for rename_id, old_name in conn.execute(query):
            terms.append(and_(_ev.c.model_name == old_name, _ev.c.id < rename_id))
            pending.append((old_name, rename_id))
    return or_(*terms)


def events_query(
    conn: Connection,
    name: str | None,
    actions: Sequence[str],
    start_time: int | None,
    end_time: int | None,
    after: int,
) -> Any:
    """A SELECT of events, oldest first, after the event id ``after``; add a limit."""
    query = select(_ev).where(_ev.c.id > after)
    if name is not None:
        query = query.where(_name_condition(conn, name))
    if actions:
        query = query.where(_ev.c.action.in_(list(actions)))
    if start_time is not None:
        query = query.where(_ev.c.timestamp >= start_time)
    if end_time is not None:
        query = query.where(_ev.c.timestamp < end_time)
    return query.order_by(_ev.c.id)


def load_events(rows: Sequence[Any]) -> list[RegistryEvent]:
    return [
        RegistryEvent(
            event_id=row.id,
            timestamp=row.timestamp,
            claimed_user=row.claimed_user,
            action=row.action,
            name=row.model_name,
            version=row.version,
            from_value=row.from_value,
            to_value=row.to_value,
            details=json.loads(row.details) if row.details else {},
        )
        for row in rows
    ]
