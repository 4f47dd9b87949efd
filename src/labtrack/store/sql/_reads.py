"""Building Run entities from rows: a fixed number of queries for any number of runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labtrack.entities import (
    Dataset,
    DatasetInput,
    InputTag,
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


def load_runs(conn: Connection, rows: Sequence[Any], codec: ValueCodec) -> list[Run]:
    """Runs with their params, tags, metric summaries and dataset inputs, in ``rows`` order."""
    pks = [row.id for row in rows]
    params: dict[int, dict[str, str]] = defaultdict(dict)
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    summaries: dict[int, dict[str, MetricSummary]] = defaultdict(dict)
    inputs: dict[int, list[DatasetInput]] = defaultdict(list)
    decode = codec.decode
    ms = s.metric_series
    for part in chunks(pks):
        for pk, key, value in conn.execute(
            select(s.params.c.run_id, s.params.c.key, s.params.c.value).where(
                s.params.c.run_id.in_(part)
            )
        ):
            params[pk][key] = value
        for pk, key, value in conn.execute(
            select(s.tags.c.run_id, s.tags.c.key, s.tags.c.value).where(s.tags.c.run_id.in_(part))
        ):
            tags[pk][key] = value
        for pk, key, latest, step, ts, mn, mx, count in conn.execute(
            select(
                ms.c.run_id,
                ms.c.key,
                ms.c.latest_value,
                ms.c.latest_step,
                ms.c.latest_timestamp,
                ms.c.min_value,
                ms.c.max_value,
                ms.c.count,
            ).where(ms.c.run_id.in_(part))
        ):
            summaries[pk][key] = MetricSummary(
                key, decode(latest), step, ts, decode(mn), decode(mx), count
            )
        _load_inputs(conn, part, inputs)
    model_inputs, model_outputs = load_run_models(conn, pks)
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
