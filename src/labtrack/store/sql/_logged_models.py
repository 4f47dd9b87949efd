"""Logged models (MLflow 3) in the SQL store: writes, reads and search.

Every function here runs inside a transaction the caller (``SqlStore``) opened, so
a model and its tags and params, or a batch of linked metrics and their run
history, are stored whole or not at all.

A metric point linked to a model is also a point of its run's history. MLflow's
clients send such points again when they log a model (every metric of the run at
the model's step, now naming the model); a point already in the run's history is
therefore linked without being added to the history a second time.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, insert, literal, or_, select, tuple_, update

from labtrack.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelDatasetFilter,
    LoggedModelInput,
    LoggedModelMetric,
    LoggedModelOrderBy,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
)
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist
from labtrack.search import (
    NUMBER,
    STRING,
    AttributeSpec,
    Comparison,
    EntitySpec,
    Node,
    SearchSchema,
    parse_filter,
)
from labtrack.store.sql import schema as s
from labtrack.store.sql._row_tests import Has, Rows, Test, compile_tree
from labtrack.store.sql._writes import ValueCodec, chunks, write_metrics
from labtrack.store.sql.search_sql import _compare, keyed_test
from labtrack.validation import fits_int64

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.sql.elements import ColumnElement

_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"})
_NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})

LOGGED_MODEL_SCHEMA = SearchSchema(
    name="logged model",
    entities=(
        EntitySpec("metric", ("metrics", "metric"), NUMBER, _NUMERIC_OPS),
        # IS [NOT] NULL on params and tags is a labtrack extension, as for runs.
        EntitySpec(
            "param", ("params", "param", "parameters", "parameter"), STRING, _STRING_OPS | _NULL_OPS
        ),
        EntitySpec("tag", ("tags", "tag"), STRING, _STRING_OPS | _NULL_OPS),
        EntitySpec(
            "attribute",
            ("attributes", "attribute", "attr"),
            attributes=(
                AttributeSpec("model_id", STRING, _STRING_OPS),
                AttributeSpec("name", STRING, _STRING_OPS),
                AttributeSpec("model_type", STRING, _STRING_OPS),
                AttributeSpec("status", STRING, _STRING_OPS),
                AttributeSpec("source_run_id", STRING, _STRING_OPS),
                AttributeSpec("experiment_id", STRING, frozenset({"=", "!=", "IN", "NOT IN"})),
                AttributeSpec("artifact_location", STRING, _STRING_OPS),
                AttributeSpec("status_message", STRING, _STRING_OPS),
                AttributeSpec(
                    "creation_timestamp",
                    NUMBER,
                    _NUMERIC_OPS,
                    aliases=("creation_timestamp_ms", "creation_time"),
                ),
                AttributeSpec(
                    "last_updated_timestamp",
                    NUMBER,
                    _NUMERIC_OPS,
                    aliases=("last_updated_timestamp_ms", "last_updated_time"),
                ),
            ),
        ),
    ),
    bare_entity="attribute",
)
"""Logged model search: ``search_logged_models(filter_string=...)``: MLflow's grammar
(attributes, ``metrics.``, ``params.``, ``tags.``) plus labtrack's OR and parentheses."""

_lm = s.logged_models
_ATTRIBUTES = {
    "model_id": _lm.c.model_id,
    "name": _lm.c.name,
    "model_type": _lm.c.model_type,
    "status": _lm.c.status,
    "source_run_id": _lm.c.source_run_id,
    "experiment_id": _lm.c.experiment_id,
    "artifact_location": _lm.c.artifact_location,
    "status_message": _lm.c.status_message,
    "creation_timestamp": _lm.c.creation_time,
    "last_updated_timestamp": _lm.c.last_updated_time,
}
_ATTRIBUTE_ALIASES = LOGGED_MODEL_SCHEMA.by_prefix["attributes"].by_alias
# MLflow's enum names of a status, accepted in filters beside labtrack's own names.
_STATUS_NAMES = {
    "LOGGED_MODEL_STATUS_UNSPECIFIED": LoggedModelStatus.UNSPECIFIED,
    "LOGGED_MODEL_PENDING": LoggedModelStatus.PENDING,
    "LOGGED_MODEL_READY": LoggedModelStatus.READY,
    "LOGGED_MODEL_UPLOAD_FAILED": LoggedModelStatus.FAILED,
}


def new_model_id() -> str:
    """A new model id in MLflow's form: ``m-`` and 32 hex digits."""
    return f"m-{uuid.uuid4().hex}"


def not_found(model_id: str) -> ResourceDoesNotExist:
    return ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found.")


# -- rows -------------------------------------------------------------------------------
def model_row(conn: Connection, model_id: str, *, allow_deleted: bool = False) -> Any:
    """The ``logged_models`` row of ``model_id``; a deleted one only with ``allow_deleted``."""
    row = conn.execute(select(_lm).where(_lm.c.model_id == model_id)).first()
    if row is None or (not allow_deleted and row.lifecycle_stage != LifecycleStage.ACTIVE):
        raise not_found(model_id)
    return row


def model_keys(conn: Connection, model_ids: Iterable[str]) -> dict[str, int]:
    """The integer keys of active models by model id; a missing or deleted one is an error."""
    wanted = list(dict.fromkeys(model_ids))
    found: dict[str, int] = {}
    for part in chunks(wanted):
        for pk, model_id in conn.execute(
            select(_lm.c.id, _lm.c.model_id).where(
                _lm.c.model_id.in_(part), _lm.c.lifecycle_stage == LifecycleStage.ACTIVE
            )
        ):
            found[model_id] = pk
    for model_id in wanted:
        if model_id not in found:
            raise not_found(model_id)
    return found


def touch(conn: Connection, pk: int, now: int, **values: Any) -> None:
    """Update a model's row (``values``) and its last-updated time."""
    conn.execute(update(_lm).where(_lm.c.id == pk).values(last_updated_time=now, **values))


# -- writes -----------------------------------------------------------------------------
def create(
    conn: Connection,
    experiment: tuple[int, str],
    name: str,
    source_run_id: str | None,
    model_type: str | None,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    now: int,
) -> LoggedModel:
    """Insert a PENDING model into ``experiment`` (its key and artifact location)."""
    experiment_pk, location = experiment
    model_id = new_model_id()
    artifact_location = f"{location.rstrip('/')}/models/{model_id}/artifacts"
    values = {
        "model_id": model_id,
        "experiment_id": experiment_pk,
        "name": name,
        "artifact_location": artifact_location,
        "creation_time": now,
        "last_updated_time": now,
        "status": LoggedModelStatus.PENDING,
        "status_message": None,
        "model_type": model_type,
        "source_run_id": source_run_id,
        "lifecycle_stage": LifecycleStage.ACTIVE,
    }
    pk = conn.execute(insert(_lm).values(**values)).inserted_primary_key[0]  # type: ignore[index]
    if tags:
        conn.execute(
            insert(s.logged_model_tags),
            [{"logged_model_id": pk, "key": k, "value": v} for k, v in tags.items()],
        )
    if params:
        conn.execute(
            insert(s.logged_model_params),
            [{"logged_model_id": pk, "key": k, "value": v} for k, v in params.items()],
        )
    return LoggedModel(
        model_id=model_id,
        experiment_id=str(experiment_pk),
        name=name,
        artifact_location=artifact_location,
        creation_timestamp=now,
        last_updated_timestamp=now,
        model_type=model_type,
        source_run_id=source_run_id,
        tags=dict(tags),
        params=dict(params),
    )


def finalize(conn: Connection, model_id: str, status: str, now: int) -> None:
    touch(conn, model_row(conn, model_id).id, now, status=status)


def delete_model(conn: Connection, model_id: str, now: int) -> None:
    """Mark a model deleted (again is a no-op, so a retried request succeeds)."""
    row = model_row(conn, model_id, allow_deleted=True)
    if row.lifecycle_stage != LifecycleStage.DELETED:
        touch(conn, row.id, now, lifecycle_stage=LifecycleStage.DELETED)


def set_tags(conn: Connection, model_id: str, tags: Mapping[str, str], now: int) -> None:
    """Insert or overwrite tags."""
    pk = model_row(conn, model_id).id
    touch(conn, pk, now)
    t = s.logged_model_tags
    existing = _existing_values(conn, t, pk, tags)
    new_rows = [
        {"logged_model_id": pk, "key": k, "value": v} for k, v in tags.items() if k not in existing
    ]
    if new_rows:
        conn.execute(insert(t), new_rows)
    for key, value in tags.items():
        if key in existing and existing[key] != value:
            conn.execute(
                update(t).where(t.c.logged_model_id == pk, t.c.key == key).values(value=value)
            )


def _existing_values(conn: Connection, table: Any, pk: int, keys: Iterable[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in chunks(list(keys)):
        found.update(
            conn.execute(
                select(table.c.key, table.c.value).where(
                    table.c.logged_model_id == pk, table.c.key.in_(part)
                )
            ).all()
        )
    return found


def delete_tag(conn: Connection, model_id: str, key: str, now: int) -> None:
    pk = model_row(conn, model_id).id
    touch(conn, pk, now)
    t = s.logged_model_tags
    deleted = conn.execute(delete(t).where(t.c.logged_model_id == pk, t.c.key == key)).rowcount
    if not deleted:
        raise ResourceDoesNotExist(f"No tag with key {key!r} found for model with ID {model_id!r}.")


def log_params(conn: Connection, model_id: str, params: Mapping[str, str], now: int) -> None:
    """Add params. As for runs they are immutable: the same value again is a no-op."""
    pk = model_row(conn, model_id).id
    touch(conn, pk, now)
    p = s.logged_model_params
    existing = _existing_values(conn, p, pk, params)
    for key, value in params.items():
        old = existing.get(key)
        if old is not None and old != value:
            raise InvalidParameterValue(
                f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{old}' for logged model ID='{model_id}'. Attempted logging "
                f"new value '{value}'."
            )
    new_rows = [
        {"logged_model_id": pk, "key": k, "value": v}
        for k, v in params.items()
        if k not in existing
    ]
    if new_rows:
        conn.execute(insert(p), new_rows)


def log_outputs(conn: Connection, run_pk: int, outputs: Sequence[LoggedModelOutput]) -> None:
    """Record models as outputs of a run; an output recorded before is kept once."""
    keys = model_keys(conn, (o.model_id for o in outputs))
    ro = s.run_model_outputs
    existing = {
        tuple(row)
        for row in conn.execute(
            select(ro.c.logged_model_id, ro.c.step).where(
                ro.c.run_id == run_pk, ro.c.logged_model_id.in_(list(keys.values()))
            )
        )
    }
    rows = {(keys[o.model_id], o.step) for o in outputs} - existing
    if rows:
        conn.execute(
            insert(ro), [{"run_id": run_pk, "logged_model_id": m, "step": st} for m, st in rows]
        )


def log_inputs(conn: Connection, run_pk: int, inputs: Sequence[LoggedModelInput]) -> None:
    """Record models as inputs of a run; an input recorded before is kept once."""
    keys = model_keys(conn, (i.model_id for i in inputs))
    ri = s.run_model_inputs
    existing = set(
        conn.execute(
            select(ri.c.logged_model_id).where(
                ri.c.run_id == run_pk, ri.c.logged_model_id.in_(list(keys.values()))
            )
        ).scalars()
    )
    new = set(keys.values()) - existing
    if new:
        conn.execute(insert(ri), [{"run_id": run_pk, "logged_model_id": m} for m in new])


def log_metrics(
    conn: Connection, run_pk: int, metrics: Sequence[LoggedModelMetric], codec: ValueCodec
) -> None:
    """Add points to the run's history (unless there already) and link them to their models."""
    keys = model_keys(conn, (m.model_id for m in metrics))
    encode = codec.encode
    history = _history_points(conn, run_pk, metrics, codec)
    new_points: dict[tuple[str, int, int, float | None], Metric] = {}
    for m in metrics:
        ident = (m.key, m.step, m.timestamp, encode(m.value))
        if ident not in history:
            new_points.setdefault(ident, Metric(m.key, m.value, m.timestamp, m.step))
    if new_points:
        write_metrics(conn, run_pk, list(new_points.values()), codec)

    lmm = s.logged_model_metrics
    linked: set[tuple[Any, ...]] = set()
    for part in chunks(list({m.key for m in metrics})):
        linked.update(
            tuple(row)
            for row in conn.execute(
                select(
                    lmm.c.logged_model_id,
                    lmm.c.key,
                    lmm.c.step,
                    lmm.c.timestamp,
                    lmm.c.value,
                    lmm.c.dataset_name,
                    lmm.c.dataset_digest,
                ).where(
                    lmm.c.run_id == run_pk,
                    lmm.c.logged_model_id.in_(list(keys.values())),
                    lmm.c.key.in_(part),
                )
            )
        )
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for m in metrics:
        value = encode(m.value)
        pk = keys[m.model_id]
        link = (pk, m.key, m.step, m.timestamp, value, m.dataset_name, m.dataset_digest)
        if link not in linked:
            rows.setdefault(
                link,
                {
                    "logged_model_id": pk,
                    "run_id": run_pk,
                    "key": m.key,
                    "step": m.step,
                    "timestamp": m.timestamp,
                    "value": value,
                    "dataset_name": m.dataset_name,
                    "dataset_digest": m.dataset_digest,
                },
            )
    if rows:
        conn.execute(insert(lmm), list(rows.values()))


def _history_points(
    conn: Connection, run_pk: int, metrics: Sequence[LoggedModelMetric], codec: ValueCodec
) -> set[tuple[str, int, int, float | None]]:
    """Which of the (key, step, timestamp, stored value) of ``metrics`` the run already has."""
    ms, mp = s.metric_series, s.metrics
    wanted = list({(m.key, m.step) for m in metrics})
    found: set[tuple[str, int, int, float | None]] = set()
    for part in chunks(wanted):
        query = (
            select(ms.c.key, mp.c.step, mp.c.timestamp, mp.c.value)
            .join(ms, ms.c.id == mp.c.series_id)
            .where(ms.c.run_id == run_pk, tuple_(ms.c.key, mp.c.step).in_(list(part)))
        )
        found.update(tuple(row) for row in conn.execute(query))
    return found


# -- reads ------------------------------------------------------------------------------
def load(conn: Connection, rows: Sequence[Any], codec: ValueCodec) -> list[LoggedModel]:
    """Models with their tags, params and linked metrics, in ``rows`` order."""
    pks = [row.id for row in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    params: dict[int, dict[str, str]] = defaultdict(dict)
    metrics: dict[int, list[LoggedModelMetric]] = defaultdict(list)
    ids = {row.id: row.model_id for row in rows}
    t, p, lmm = s.logged_model_tags, s.logged_model_params, s.logged_model_metrics
    decode = codec.decode
    for part in chunks(pks):
        for pk, key, value in conn.execute(
            select(t.c.logged_model_id, t.c.key, t.c.value).where(t.c.logged_model_id.in_(part))
        ):
            tags[pk][key] = value
        for pk, key, value in conn.execute(
            select(p.c.logged_model_id, p.c.key, p.c.value).where(p.c.logged_model_id.in_(part))
        ):
            params[pk][key] = value
        for row in conn.execute(
            select(
                lmm.c.logged_model_id,
                lmm.c.key,
                lmm.c.value,
                lmm.c.timestamp,
                lmm.c.step,
                s.runs.c.run_uuid,
                lmm.c.dataset_name,
                lmm.c.dataset_digest,
            )
            .join(s.runs, s.runs.c.id == lmm.c.run_id)
            .where(lmm.c.logged_model_id.in_(part))
            .order_by(lmm.c.id)
        ):
            metrics[row.logged_model_id].append(
                LoggedModelMetric(
                    key=row.key,
                    value=decode(row.value),
                    timestamp=row.timestamp,
                    step=row.step,
                    model_id=ids[row.logged_model_id],
                    run_id=row.run_uuid,
                    dataset_name=row.dataset_name,
                    dataset_digest=row.dataset_digest,
                )
            )
    return [
        LoggedModel(
            model_id=row.model_id,
            experiment_id=str(row.experiment_id),
            name=row.name,
            artifact_location=row.artifact_location,
            creation_timestamp=row.creation_time,
            last_updated_timestamp=row.last_updated_time,
            status=row.status,
            status_message=row.status_message,
            model_type=row.model_type,
            source_run_id=row.source_run_id,
            lifecycle_stage=row.lifecycle_stage,
            tags=tags[row.id],
            params=params[row.id],
            metrics=tuple(metrics[row.id]),
        )
        for row in rows
    ]


def load_run_models(
    conn: Connection, run_pks: Sequence[int]
) -> tuple[dict[int, tuple[LoggedModelInput, ...]], dict[int, tuple[LoggedModelOutput, ...]]]:
    """The model inputs and model outputs of runs, by run key."""
    inputs: dict[int, list[LoggedModelInput]] = defaultdict(list)
    outputs: dict[int, list[LoggedModelOutput]] = defaultdict(list)
    ri, ro = s.run_model_inputs, s.run_model_outputs
    for part in chunks(run_pks):
        for run_pk, model_id in conn.execute(
            select(ri.c.run_id, _lm.c.model_id)
            .join(_lm, _lm.c.id == ri.c.logged_model_id)
            .where(ri.c.run_id.in_(part))
            .order_by(_lm.c.id)
        ):
            inputs[run_pk].append(LoggedModelInput(model_id))
        for run_pk, model_id, step in conn.execute(
            select(ro.c.run_id, _lm.c.model_id, ro.c.step)
            .join(_lm, _lm.c.id == ro.c.logged_model_id)
            .where(ro.c.run_id.in_(part))
            .order_by(ro.c.step, _lm.c.id)
        ):
            outputs[run_pk].append(LoggedModelOutput(model_id, step))
    return (
        {pk: tuple(items) for pk, items in inputs.items()},
        {pk: tuple(items) for pk, items in outputs.items()},
    )


# -- search -----------------------------------------------------------------------------
def search_query(
    experiment_pks: Sequence[int],
    filter_string: str | None,
    datasets: Sequence[LoggedModelDatasetFilter],
    order_by: Sequence[LoggedModelOrderBy],
    codec: ValueCodec,
) -> Any:
    """A SELECT of active ``logged_models`` rows, filtered and ordered; add offset/limit.

    As in MLflow, ``datasets`` narrows every metric test to points measured on one of
    them (and, with no metric test, keeps the models with any such point); results are
    newest first unless ordered by creation time, then by model id.
    """
    query = select(_lm).where(
        _lm.c.experiment_id.in_(list(experiment_pks)),
        _lm.c.lifecycle_stage == LifecycleStage.ACTIVE,
    )
    compiler = _FilterCompiler(codec, _dataset_condition(datasets))
    node = parse_filter(filter_string, LOGGED_MODEL_SCHEMA)
    if node is not None:
        query = query.where(compiler.compile(node))
    if datasets and not compiler.tested_metrics:
        query = query.where(compiler.metric_exists())
    ordering: list[Any] = []
    named: set[str] = set()
    for index, item in enumerate(order_by):
        name, column = _order_column(item, index)
        named.add(name)
        # Missing values (and NaN, stored as NULL) last in both directions.
        ordering.extend([column.is_(None), column.asc() if item.ascending else column.desc()])
    if "creation_timestamp" not in named:
        ordering.append(_lm.c.creation_time.desc())
    if "model_id" not in named:
        ordering.append(_lm.c.model_id.asc())
    return query.order_by(*ordering)


def _dataset_condition(
    datasets: Sequence[LoggedModelDatasetFilter], table: Any = s.logged_model_metrics
) -> ColumnElement[bool] | None:
    if not datasets:
        return None
    terms = []
    for d in datasets:
        term = table.c.dataset_name == d.dataset_name
        if d.dataset_digest:
            term = and_(term, table.c.dataset_digest == d.dataset_digest)
        terms.append(term)
    return or_(*terms)


_MODEL_PARAMS = Rows(
    s.logged_model_params,
    s.logged_model_params.c.logged_model_id == _lm.c.id,
    s.logged_model_params.c.key,
    unique=True,
)
_MODEL_TAGS = Rows(
    s.logged_model_tags,
    s.logged_model_tags.c.logged_model_id == _lm.c.id,
    s.logged_model_tags.c.key,
    unique=True,
)


class _FilterCompiler:
    def __init__(self, codec: ValueCodec, datasets: ColumnElement[bool] | None) -> None:
        self.codec = codec
        self.tested_metrics = False
        lmm = s.logged_model_metrics
        owner = lmm.c.logged_model_id == _lm.c.id
        # A model's metric points, only those measured on the datasets when given.
        self.metrics = Rows(lmm, owner if datasets is None else and_(owner, datasets), lmm.c.key)

    def compile(self, node: Node) -> ColumnElement[bool]:
        return compile_tree(node, lambda c: getattr(self, f"_{c.entity}")(c))

    def metric_exists(self) -> ColumnElement[bool]:
        return Has(self.metrics).sql()

    def _metric(self, c: Comparison) -> Test:
        self.tested_metrics = True
        lmm = s.logged_model_metrics
        value = self.codec.encode(c.value) if isinstance(c.value, float) else c.value
        # NaN values are stored as NULL, so no comparison matches them.
        return Has(self.metrics, c.key, _compare(lmm.c.value, c.op, value, self.codec.dialect))

    def _param(self, c: Comparison) -> Test:
        return keyed_test(_MODEL_PARAMS, s.logged_model_params.c.value, c, self.codec.dialect)

    def _tag(self, c: Comparison) -> Test:
        return keyed_test(_MODEL_TAGS, s.logged_model_tags.c.value, c, self.codec.dialect)

    def _attribute(self, c: Comparison) -> ColumnElement[bool]:
        column = _ATTRIBUTES[c.key]
        value: Any = c.value
        if c.key == "experiment_id":
            value = _experiment_keys(value)
            if c.op in ("=", "!=") and not value:
                return literal(c.op == "!=")
            if c.op in ("=", "!="):
                value = value[0]
        elif c.key == "status":
            value = _status(value)
        return _compare(column, c.op, value, self.codec.dialect)


def _experiment_keys(value: Any) -> Any:
    """Experiment ids as the integers they are stored as (ids that are not integers match none)."""
    items = value if isinstance(value, tuple) else (value,)
    keys = [
        int(v)
        for v in items
        if isinstance(v, str) and v.isascii() and v.strip().lstrip("-").isdigit()
    ]
    return [k for k in keys if fits_int64(k)]


def _status(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_STATUS_NAMES.get(v, v) for v in value)
    return _STATUS_NAMES.get(value, value)


def _order_column(item: LoggedModelOrderBy, index: int) -> tuple[str, Any]:
    """What an order_by item sorts on: (its canonical name, a column expression)."""
    entity, dot, key = item.field_name.partition(".")
    if dot and entity in ("metrics", "metric"):
        lmm = s.logged_model_metrics.alias(f"order_{index}")
        conditions = [lmm.c.logged_model_id == _lm.c.id, lmm.c.key == key]
        if item.dataset_name:
            conditions.append(lmm.c.dataset_name == item.dataset_name)
        if item.dataset_digest:
            conditions.append(lmm.c.dataset_digest == item.dataset_digest)
        # The model's latest point of the metric: newest timestamp, then largest step.
        latest = (
            select(lmm.c.value)
            .where(*conditions)
            .order_by(lmm.c.timestamp.desc(), lmm.c.step.desc(), lmm.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        return f"metrics.{key}", latest
    if item.dataset_name or item.dataset_digest:
        raise InvalidParameterValue(
            f"Invalid order by {item.field_name!r}: dataset_name and dataset_digest may only be "
            "given when ordering by a metric"
        )
    if not dot:
        spec = _ATTRIBUTE_ALIASES.get(item.field_name)
    elif entity in ("attributes", "attribute", "attr"):
        spec = _ATTRIBUTE_ALIASES.get(key)
    else:
        spec = None
    if spec is None:
        raise InvalidParameterValue(
            f"Invalid order by field name: {item.field_name!r}. Order by an attribute "
            f"({', '.join(_ATTRIBUTES)}) or a metric (metrics.<key>)."
        )
    return spec.name, _ATTRIBUTES[spec.name]
