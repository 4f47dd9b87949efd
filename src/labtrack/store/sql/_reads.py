"""Building Run entities from rows: a fixed number of queries for any number of runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, exists, literal, select, union_all

from labtrack.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    MetricSummary,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from labtrack.store.sql import schema as s
from labtrack.store.sql._logged_models import load_run_models
from labtrack.store.sql._writes import ValueCodec, chunks

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.sql.elements import BindParameter


def run_info(row: Any) -> RunInfo:
    return RunInfo(
        run_id=row.run_uuid,
        experiment_id=str(row.experiment_id),
        run_name=row.name,
        user_id=row.user_id,
        status=row.status,
        start_time=row.start_time,
        end_time=row.end_time,
        artifact_uri=row.artifact_uri,
        lifecycle_stage=row.lifecycle_stage,
    )


_PKS: BindParameter[Any] = bindparam("pks", expanding=True)
_ms = s.metric_series
# Built once: a query built per call costs more than its execution on a small run.
_PARAMS_AND_TAGS = union_all(
    select(literal(0).label("kind"), s.params.c.run_id, s.params.c.key, s.params.c.value).where(
        s.params.c.run_id.in_(_PKS)
    ),
    select(literal(1).label("kind"), s.tags.c.run_id, s.tags.c.key, s.tags.c.value).where(
        s.tags.c.run_id.in_(_PKS)
    ),
)
_SUMMARIES = select(
    _ms.c.run_id,
    _ms.c.key,
    _ms.c.latest_value,
    _ms.c.latest_step,
    _ms.c.latest_timestamp,
    _ms.c.min_value,
    _ms.c.max_value,
    _ms.c.count,
).where(_ms.c.run_id.in_(_PKS))
# Whether any of the runs has dataset inputs, model inputs or model outputs: most runs have
# none, and one probe is cheaper than the three queries that would find nothing.
_HAS_INPUTS_OR_MODELS = select(
    exists().where(s.run_inputs.c.run_id.in_(_PKS)),
    exists().where(s.run_model_inputs.c.run_id.in_(_PKS)),
    exists().where(s.run_model_outputs.c.run_id.in_(_PKS)),
)


def load_runs(conn: Connection, rows: Sequence[Any], codec: ValueCodec) -> list[Run]:
    """Runs with their params, tags, metric summaries and dataset inputs, in ``rows`` order."""
    pks = [row.id for row in rows]
    params: dict[int, dict[str, str]] = defaultdict(dict)
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    summaries: dict[int, dict[str, MetricSummary]] = defaultdict(dict)
    inputs: dict[int, list[DatasetInput]] = defaultdict(list)
    model_inputs: dict[int, tuple[LoggedModelInput, ...]] = {}
    model_outputs: dict[int, tuple[LoggedModelOutput, ...]] = {}
    decode = codec.decode
    for part in chunks(pks):
        bound = {"pks": list(part)}
        for kind, pk, key, value in conn.execute(_PARAMS_AND_TAGS, bound):
            (tags if kind else params)[pk][key] = value
        for pk, key, latest, step, ts, mn, mx, count in conn.execute(_SUMMARIES, bound):
            summaries[pk][key] = MetricSummary(
                key, decode(latest), step, ts, decode(mn), decode(mx), count
            )
        has_inputs, has_model_inputs, has_model_outputs = conn.execute(
            _HAS_INPUTS_OR_MODELS, bound
        ).one()
        if has_inputs:
            _load_inputs(conn, part, inputs)
        if has_model_inputs or has_model_outputs:
            found_inputs, found_outputs = load_run_models(conn, part)
            model_inputs.update(found_inputs)
            model_outputs.update(found_outputs)
    return [
        Run(
            info=run_info(row),
            data=RunData(
                metrics={k: m.latest for k, m in summaries[row.id].items()},
                params=params[row.id],
                tags=tags[row.id],
                metric_summaries=summaries[row.id],
            ),
            inputs=RunInputs(tuple(inputs[row.id]), model_inputs.get(row.id, ())),
            outputs=RunOutputs(model_outputs.get(row.id, ())),
        )
        for row in rows
    ]


def _load_inputs(conn: Connection, pks: Sequence[int], into: dict[int, list[DatasetInput]]) -> None:
    ri, d = s.run_inputs, s.datasets
    found = conn.execute(
        select(
            ri.c.id,
            ri.c.run_id,
            d.c.name,
            d.c.digest,
            d.c.source_type,
            d.c.source,
            d.c.schema,
            d.c.profile,
        )
        .join(d, d.c.id == ri.c.dataset_id)
        .where(ri.c.run_id.in_(pks))
        .order_by(ri.c.id)
    ).all()
    if not found:
        return
    input_tags: dict[int, list[InputTag]] = defaultdict(list)
    for part in chunks([row.id for row in found]):
        for input_id, key, value in conn.execute(
            select(s.input_tags.c.input_id, s.input_tags.c.key, s.input_tags.c.value).where(
                s.input_tags.c.input_id.in_(part)
            )
        ):
            input_tags[input_id].append(InputTag(key, value))
    for row in found:
        dataset = Dataset(
            row.name, row.digest, row.source_type, row.source, row.schema, row.profile
        )
        into[row.run_id].append(DatasetInput(dataset, tuple(input_tags[row.id])))
