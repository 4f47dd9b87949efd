"""The statements of the hot paths (logging, creating and ending runs), built once.

Building a SQLAlchemy statement with literal values, and computing its cache key,
costs more than running it on SQLite; these take their values as bound parameters
(``IN`` lists as expanding parameters), so each is built and compiled once.
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update

from labtrack.store.sql import schema as s

_ms = s.metric_series

RUN_COLUMNS = (
    s.runs.c.id,
    s.runs.c.run_uuid,
    s.runs.c.experiment_id,
    s.runs.c.name,
    s.runs.c.user_id,
    s.runs.c.status,
    s.runs.c.start_time,
    s.runs.c.end_time,
    s.runs.c.artifact_uri,
    s.runs.c.lifecycle_stage,
    s.runs.c.last_heartbeat_time,
)

RUN_BY_UUID = select(*RUN_COLUMNS).where(s.runs.c.run_uuid == bindparam("run_uuid"))
EXPERIMENT_STATE = select(s.experiments.c.lifecycle_stage, s.experiments.c.artifact_location).where(
    s.experiments.c.experiment_id == bindparam("experiment_pk")
)

INSERT_RUN = insert(s.runs)
# SET columns come from the execution parameters: {"run_pk": ..., "status": ..., ...}
UPDATE_RUN = update(s.runs).where(s.runs.c.id == bindparam("run_pk"))

INSERT_PARAMS = insert(s.params)
PARAMS_OF_RUN = select(s.params.c.key, s.params.c.value).where(
    s.params.c.run_id == bindparam("run_pk"), s.params.c.key.in_(bindparam("keys", expanding=True))
)
INSERT_TAGS = insert(s.tags)
TAGS_OF_RUN = select(s.tags.c.key, s.tags.c.value).where(
    s.tags.c.run_id == bindparam("run_pk"), s.tags.c.key.in_(bindparam("keys", expanding=True))
)
UPDATE_TAG = update(s.tags).where(
    s.tags.c.run_id == bindparam("run_pk"), s.tags.c.key == bindparam("tag_key")
)

SERIES_OF_RUN = select(
    _ms.c.id,
    _ms.c.key,
    _ms.c.latest_step,
    _ms.c.latest_timestamp,
    _ms.c.latest_value,
    _ms.c.min_value,
    _ms.c.max_value,
    _ms.c.count,
).where(_ms.c.run_id == bindparam("run_pk"), _ms.c.key.in_(bindparam("keys", expanding=True)))
SERIES_OF_RUN_LOCKED = SERIES_OF_RUN.with_for_update()
INSERT_SERIES = insert(_ms)
UPDATE_SERIES = update(_ms).where(_ms.c.id == bindparam("series_pk"))
