"""SqlStore: the tracking store on SQLite, PostgreSQL or MySQL/MariaDB."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update

from labtrack._clock import now_ms
from labtrack._gc import paused_gc
from labtrack._tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from labtrack.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    LoggedModel,
    LoggedModelDatasetFilter,
    LoggedModelInput,
    LoggedModelMetric,
    LoggedModelOrderBy,
    LoggedModelOutput,
    Metric,
    ModelVersion,
    PagedList,
    Param,
    RegisteredModel,
    RegistryEvent,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from labtrack.errors import (
    InvalidParameterValue,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    TemporarilyUnavailable,
)
from labtrack.store._paging import OffsetPage, PageAfter
from labtrack.store.sql import (
    _bulk,
    _heartbeats,
    _logged_models,
    _reads,
    _registry,
    _registry_reads,
    _writes,
)
from labtrack.store.sql import _statements as st
from labtrack.store.sql import schema as s
from labtrack.store.sql.engine import WriteConflict, get_engine, sqlite_path, translate_errors
from labtrack.store.sql.migrate import ensure_schema
from labtrack.validation import fits_int64

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from labtrack.store.sql._history_buckets import SeriesInfo
    from labtrack.store.sql._run_table import RunPage

logger = logging.getLogger(__name__)

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
_RETRIES = 3
#: The longest a store waits between two looks for runs whose heartbeat stopped.
_CRASH_CHECK_EVERY = 1.0


def _experiment_pk(experiment_id: str | int) -> int:
    try:
        pk = int(experiment_id)
    except (TypeError, ValueError):
        pk = None
    if pk is None:  # MLflow's words
        raise InvalidParameterValue(
            f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer."
        )
    if not fits_int64(pk):
        raise InvalidParameterValue(
            f"Invalid experiment ID {experiment_id!r}: experiment IDs are 64-bit integers"
        )
    return pk


def _row_id(row: Any) -> int:
    return int(row.id)


class SqlStore:
    """Runs, experiments and metrics in a relational database (see ``schema.py``)."""

    def __init__(
        self,
        db_uri: str,
        default_artifact_root: str,
        *,
        busy_timeout: float = 60.0,
        statement_timeout: float | None = None,
    ):
        """``statement_timeout``: seconds any one statement may run before it is stopped
        with :class:`~labtrack.errors.QueryTimeout` (None: no limit; the server sets one)."""
        self.db_uri = db_uri
        self.default_artifact_root = default_artifact_root.rstrip("/")
        self.statement_timeout = statement_timeout or None
        self.engine = get_engine(
            db_uri, busy_timeout=busy_timeout, statement_timeout=self.statement_timeout
        )
        self.dialect = self.engine.dialect.name
        self._codec = _writes.ValueCodec(self.dialect)
        self._ensure_schema(busy_timeout)
        self._ensure_default_experiment()
        self._last_crash_check = -math.inf  # time.monotonic() of the last look for crashed runs

    def _ensure_schema(self, busy_timeout: float) -> None:
        # Creating or upgrading the schema may take long, and waits for other processes
        # doing it: never under the statement timeout (but one in-memory SQLite database
        # is only reached through its own engine).
        in_memory = self.dialect == "sqlite" and sqlite_path(self.db_uri) is None
        if self.statement_timeout is None or in_memory:
            ensure_schema(self.engine, self.db_uri)
            return
        engine = get_engine(self.db_uri, busy_timeout=busy_timeout)
        ensure_schema(engine, self.db_uri)
        engine.dispose()  # its connections are not needed again

    # -- transactions ---------------------------------------------------------------
    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with (
            translate_errors(statement_timeout=self.statement_timeout),
            self.engine.connect() as conn,
        ):
            yield conn
            conn.rollback()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with (
            translate_errors(statement_timeout=self.statement_timeout),
            self.engine.connect() as conn,
        ):
            conn.execution_options(labtrack_write=True)
            with conn.begin():
                yield conn

    def _write_retrying(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` in a write transaction, again if a concurrent insert won."""
        for attempt in range(_RETRIES):
            try:
                with self._write() as conn:
                    return fn(conn, *args)
            except WriteConflict:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _ensure_default_experiment(self) -> None:
        with self._read() as conn:
            found = conn.execute(
                select(s.experiments.c.experiment_id).where(s.experiments.c.experiment_id == 0)
            ).first()
        if found:
            return
        with contextlib.suppress(WriteConflict), self._write() as conn:
            now = now_ms()
            conn.execute(
                insert(s.experiments).values(
                    experiment_id=0,
                    name=DEFAULT_EXPERIMENT_NAME,
                    artifact_location=f"{self.default_artifact_root}/0",
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    creation_time=now,
                    last_update_time=now,
                )
            )

    # -- experiments ----------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[tuple[str, str]] = (),
    ) -> str:
        e = s.experiments
        try:
            with self._write() as conn:
                existing = conn.execute(
                    select(e.c.lifecycle_stage).where(e.c.name == name)
                ).scalar()
                if existing is not None:
                    raise self._exists_error(name, existing)
                now = now_ms()
                result = conn.execute(
                    insert(e).values(
                        name=name,
                        artifact_location=artifact_location or "",
                        lifecycle_stage=LifecycleStage.ACTIVE,
                        creation_time=now,
                        last_update_time=now,
                    )
                )
                pk = result.inserted_primary_key[0]  # type: ignore[index]
                if not artifact_location:
                    conn.execute(
                        update(e)
                        .where(e.c.experiment_id == pk)
                        .values(artifact_location=f"{self.default_artifact_root}/{pk}")
                    )
                if tags:
                    conn.execute(
                        insert(s.experiment_tags),
                        [{"experiment_id": pk, "key": k, "value": v} for k, v in tags],
                    )
                return str(pk)
        except WriteConflict:
            raise ResourceAlreadyExists(f"Experiment '{name}' already exists") from None

    @staticmethod
    def _exists_error(name: str, stage: str) -> ResourceAlreadyExists:
        if stage == LifecycleStage.DELETED:
            return ResourceAlreadyExists(
                f"Experiment '{name}' already exists in deleted state. Restore it, or "
                "permanently delete it (labtrack gc) before creating a new one with this name."
            )
        return ResourceAlreadyExists(f"Experiment '{name}' already exists")

    def _experiment_rows(self, conn: Connection, rows: Sequence[Any]) -> list[Experiment]:
        tags: dict[int, dict[str, str]] = {row.experiment_id: {} for row in rows}
        et = s.experiment_tags
        for part in _writes.chunks(list(tags)):
            for pk, key, value in conn.execute(
                select(et.c.experiment_id, et.c.key, et.c.value).where(et.c.experiment_id.in_(part))
            ):
                tags[pk][key] = value
        return [
            Experiment(
                experiment_id=str(row.experiment_id),
                name=row.name,
                artifact_location=row.artifact_location,
                lifecycle_stage=row.lifecycle_stage,
                tags=tags[row.experiment_id],
                creation_time=row.creation_time,
                last_update_time=row.last_update_time,
            )
            for row in rows
        ]

    def get_experiment(self, experiment_id: str) -> Experiment:
        pk = _experiment_pk(experiment_id)
        with self._read() as conn:
            row = conn.execute(
                select(s.experiments).where(s.experiments.c.experiment_id == pk)
            ).first()
            if row is None:
                raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
            return self._experiment_rows(conn, [row])[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as conn:
            row = conn.execute(select(s.experiments).where(s.experiments.c.name == name)).first()
            return self._experiment_rows(conn, [row])[0] if row else None

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        from labtrack.store.sql.search_sql import experiment_query

        page = OffsetPage(page_token, max_results)
        query = experiment_query(view_type, filter_string, order_by, self.dialect)
        with self._read() as conn:
            rows, token = page.cut(conn.execute(query.offset(page.offset).limit(page.limit)).all())
            found = self._experiment_rows(conn, rows)
        return PagedList(found, token)

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        pk = _experiment_pk(experiment_id)
        with self._write() as conn:
            row = conn.execute(
                select(s.experiments.c.lifecycle_stage, s.experiments.c.name).where(
                    s.experiments.c.experiment_id == pk
                )
            ).first()
            if row is None:
                raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
            if pk == 0 and stage == LifecycleStage.DELETED:
                raise InvalidParameterValue("The default experiment (ID 0) cannot be deleted")
            if stage == LifecycleStage.ACTIVE and row.lifecycle_stage != LifecycleStage.DELETED:
                raise InvalidParameterValue(
                    f"Cannot restore experiment {experiment_id}: it is not deleted"
                )
            if stage == LifecycleStage.DELETED and row.lifecycle_stage == LifecycleStage.DELETED:
                raise InvalidParameterValue(
                    f"Experiment {experiment_id} ('{row.name}') is already deleted"
                )
            now = now_ms()
            conn.execute(
                update(s.experiments)
                .where(s.experiments.c.experiment_id == pk)
                .values(lifecycle_stage=stage, last_update_time=now)
            )
            # Deleting an experiment deletes its runs (softly), restoring brings them back.
            old = (
                LifecycleStage.ACTIVE if stage == LifecycleStage.DELETED else LifecycleStage.DELETED
            )
            conn.execute(
                update(s.runs)
                .where(s.runs.c.experiment_id == pk, s.runs.c.lifecycle_stage == old)
                .values(
                    lifecycle_stage=stage,
                    deleted_time=now if stage == LifecycleStage.DELETED else None,
                )
            )

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.ACTIVE)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        pk = _experiment_pk(experiment_id)
        e = s.experiments
        try:
            with self._write() as conn:
                row = conn.execute(
                    select(e.c.lifecycle_stage).where(e.c.experiment_id == pk)
                ).first()
                if row is None:
                    raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
                if row.lifecycle_stage != LifecycleStage.ACTIVE:
                    raise InvalidParameterValue(
                        f"Cannot rename a non-active experiment. Experiment {experiment_id} "
                        "is deleted."
                    )
                clash = conn.execute(
                    select(e.c.lifecycle_stage).where(e.c.name == new_name, e.c.experiment_id != pk)
                ).scalar()
                if clash is not None:
                    raise self._exists_error(new_name, clash)
                conn.execute(
                    update(e)
                    .where(e.c.experiment_id == pk)
                    .values(name=new_name, last_update_time=now_ms())
                )
        except WriteConflict:
            raise ResourceAlreadyExists(f"Experiment '{new_name}' already exists") from None

    def _active_experiment(self, conn: Connection, experiment_id: str) -> tuple[int, str]:
        """The key and artifact location of an active experiment."""
        pk = _experiment_pk(experiment_id)
        row = conn.execute(st.EXPERIMENT_STATE, {"experiment_pk": pk}).first()
        if row is None:
            raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
        if row.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The experiment {experiment_id} must be in the 'active' state. "
                f"Current state is {row.lifecycle_stage}."
            )
        return pk, row.artifact_location

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        et = s.experiment_tags
        with self._write() as conn:
            pk, _ = self._active_experiment(conn, experiment_id)
            updated = conn.execute(
                update(et).where(et.c.experiment_id == pk, et.c.key == key).values(value=value)
            ).rowcount
            if not updated:
                conn.execute(insert(et).values(experiment_id=pk, key=key, value=value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        et = s.experiment_tags
        with self._write() as conn:
            pk, _ = self._active_experiment(conn, experiment_id)
            deleted = conn.execute(
                delete(et).where(et.c.experiment_id == pk, et.c.key == key)
            ).rowcount
            if not deleted:
                raise ResourceDoesNotExist(
                    f"No tag with name: {key} in experiment with id {experiment_id}"
                )

    # -- runs -----------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str,
    ) -> Run:
        run_id = uuid.uuid4().hex
        tag_values = {t.key: t.value for t in tags}  # the last value of a repeated key wins
        tag_values[MLFLOW_RUN_NAME] = run_name
        parent = next((t.value for t in tags if t.key == MLFLOW_PARENT_RUN_ID), None)
        with self._write() as conn:
            pk, location = self._active_experiment(conn, experiment_id)
            artifact_uri = f"{location.rstrip('/')}/{run_id}/artifacts"
            values: dict[str, Any] = {
                "run_uuid": run_id,
                "experiment_id": pk,
                "name": run_name,
                "user_id": user_id,
                "status": RunStatus.RUNNING,
                "start_time": start_time,
                "end_time": None,
                "lifecycle_stage": LifecycleStage.ACTIVE,
                "artifact_uri": artifact_uri,
                "parent_run_uuid": parent,
            }
            run_pk = conn.execute(st.INSERT_RUN, values).inserted_primary_key[0]  # type: ignore[index]
            conn.execute(
                st.INSERT_TAGS,
                [{"run_id": run_pk, "key": k, "value": v} for k, v in tag_values.items()],
            )
        # A new run holds exactly what was just written: no need to read it back.
        info = RunInfo(
            run_id=run_id,
            experiment_id=str(pk),
            run_name=run_name,
            user_id=user_id,
            status=RunStatus.RUNNING,
            start_time=start_time,
            end_time=None,
            artifact_uri=artifact_uri,
            lifecycle_stage=LifecycleStage.ACTIVE,
        )
        return Run(info, RunData(tags=tag_values))

    def _run_row(self, conn: Connection, run_id: str) -> Any:
        row = conn.execute(st.RUN_BY_UUID, {"run_uuid": run_id}).first()
        if row is None:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        return row

    def _active_run_row(self, conn: Connection, run_id: str) -> Any:
        row = self._run_row(conn, run_id)
        if row.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValue(
                f"The run {run_id} must be in the 'active' state. "
                f"Current state is {row.lifecycle_stage}."
            )
        return row

    def search_dataset_summaries(
        self, experiment_ids: Sequence[str], limit: int = 1000
    ) -> list[tuple[str, str, str, str | None]]:
        """(experiment id, name, digest, context) of each dataset the experiments' runs
        used, once per context (the ``mlflow.data.context`` input tag; None without one),
        at most ``limit``: what MLflow's UI lists as an experiment's datasets."""
        from sqlalchemy import and_, select

        from labtrack._tags import MLFLOW_DATASET_CONTEXT

        pks = [_experiment_pk(e) for e in experiment_ids]
        d, i, t = s.datasets, s.run_inputs, s.input_tags
        query = (
            select(d.c.experiment_id, d.c.name, d.c.digest, t.c.value)
            .distinct()
            .select_from(d)
            .join(i, i.c.dataset_id == d.c.id)
            .outerjoin(t, and_(t.c.input_id == i.c.id, t.c.key == MLFLOW_DATASET_CONTEXT))
            .where(d.c.experiment_id.in_(pks))
            .order_by(d.c.experiment_id, d.c.name, d.c.digest, t.c.value)
            .limit(limit)
        )
        with self._read() as conn:
            return [(str(e), n, g, c) for e, n, g, c in conn.execute(query)]

    def _mark_crashed_runs(self) -> None:
        """Before reading runs: mark crashed the RUNNING runs whose heartbeat stopped more
        than ``heartbeat_timeout`` ago (``_heartbeats``). One indexed query, at most once a
        second (sooner for a shorter timeout); it writes only when it finds some."""
        from labtrack.config import settings

        timeout = float(settings.get("heartbeat_timeout"))
        now = time.monotonic()
        if now - self._last_crash_check < min(_CRASH_CHECK_EVERY, timeout / 4):
            return
        self._last_crash_check = now
        cutoff = now_ms() - int(timeout * 1000)
        with self._read() as conn:
            stale = _heartbeats.stale_runs(conn, cutoff)
        if not stale:
            return
        try:
            with self._write() as conn:
                for run_pk in stale:
                    _heartbeats.mark_crashed(conn, run_pk, cutoff)
        except TemporarilyUnavailable as exc:  # the read goes on; the next look marks them
            logger.warning("labtrack: could not mark %d crashed runs yet: %s", len(stale), exc)

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """The runs' processes are alive (an unknown run is ``ResourceDoesNotExist``; a run
        that has ended ignores it)."""
        if not run_ids:
            return
        now = now_ms()
        with self._write() as conn:
            for run_id in dict.fromkeys(run_ids):
                _heartbeats.beat(conn, self._run_row(conn, run_id).id, now)

    def get_run(self, run_id: str) -> Run:
        self._mark_crashed_runs()
        with self._read() as conn:
            return _reads.load_runs(conn, [self._run_row(conn, run_id)], self._codec)[0]

    def update_run_info(
        self,
        run_id: str,
        status: str | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        with self._write() as conn:
            row = self._active_run_row(conn, run_id)
            values: dict[str, Any] = {}
            if status is not None:
                values["status"] = status
                values.update(_heartbeats.forget(conn, row))
            if end_time is not None:
                values["end_time"] = end_time
            if run_name:
                values["name"] = run_name
                _writes.write_tags(conn, row.id, [RunTag(MLFLOW_RUN_NAME, run_name)])
            if values:
                conn.execute(st.UPDATE_RUN, {"run_pk": row.id, **values})
            info = _reads.run_info(row)
        return dataclasses.replace(
            info,
            status=values.get("status", info.status),
            end_time=values.get("end_time", info.end_time),
            run_name=values.get("name", info.run_name),
        )

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        with self._write() as conn:
            row = self._run_row(conn, run_id)
            conn.execute(
                update(s.runs)
                .where(s.runs.c.id == row.id)
                .values(
                    lifecycle_stage=stage,
                    deleted_time=now_ms() if stage == LifecycleStage.DELETED else None,
                )
            )

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        request_id: str | None = None,
        heartbeat: bool = False,
    ) -> None:
        """Store a batch atomically. With a ``request_id``, a batch already applied under
        that id (a client's retry) is not applied again. ``heartbeat``: also record that
        the run's process is alive (see :meth:`heartbeat`)."""
        if not (metrics or params or tags or heartbeat):
            with self._read() as conn:
                self._active_run_row(conn, run_id)
            return
        self._write_retrying(self._log_batch, run_id, metrics, params, tags, request_id, heartbeat)

    def _log_batch(
        self,
        conn: Connection,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
        request_id: str | None,
        heartbeat: bool,
    ) -> None:
        run_pk = self._active_run_row(conn, run_id).id
        if request_id is not None and not _writes.claim_request(conn, request_id):
            return
        if heartbeat:
            _heartbeats.beat(conn, run_pk, now_ms())
        if params:
            _writes.write_params(conn, run_pk, run_id, params)
        if tags:
            _writes.write_tags(conn, run_pk, tags)
        if metrics:
            _writes.write_metrics(conn, run_pk, metrics, self._codec)

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._write() as conn:
            run_pk = self._active_run_row(conn, run_id).id
            deleted = conn.execute(
                delete(s.tags).where(s.tags.c.run_id == run_pk, s.tags.c.key == key)
            ).rowcount
            if not deleted:
                raise ResourceDoesNotExist(f"No tag with name: {key} in run with id {run_id}")

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        page = OffsetPage(page_token, max_results)
        with self._read() as conn:
            run_pk = self._run_row(conn, run_id).id
            series = conn.execute(
                select(s.metric_series.c.id).where(
                    s.metric_series.c.run_id == run_pk, s.metric_series.c.key == key
                )
            ).scalar()
            if series is None:
                return PagedList([], None)
            m = s.metrics
            query = (
                select(m.c.step, m.c.timestamp, m.c.value)
                .where(m.c.series_id == series)
                .order_by(m.c.step, m.c.timestamp, m.c.id)
            )
            if page.limit is not None:
                query = query.limit(page.limit)
            if page.offset:
                query = query.offset(page.offset)
            rows, token = page.cut(_bulk.fetch_all(conn, query))
        decode = self._codec.decode
        new = tuple.__new__
        with paused_gc():
            if self._codec.finite_only:
                points = [new(Metric, (key, decode(v), ts, st)) for st, ts, v in rows]
            else:
                nan = math.nan
                points = [new(Metric, (key, nan if v is None else v, ts, st)) for st, ts, v in rows]
        return PagedList(points, token)

    def get_metric_history_columns(
        self, run_id: str, key: str
    ) -> tuple[list[int], list[int], list[float]]:
        """A metric's whole history as (steps, timestamps, values) lists: no per-point objects."""
        with self._read() as conn:
            run_pk = self._run_row(conn, run_id).id
            m, ms = s.metrics, s.metric_series
            rows = _bulk.fetch_all(
                conn,
                select(m.c.step, m.c.timestamp, m.c.value)
                .join(ms, ms.c.id == m.c.series_id)
                .where(ms.c.run_id == run_pk, ms.c.key == key)
                .order_by(m.c.step, m.c.timestamp, m.c.id),
            )
        if not rows:
            return [], [], []
        steps, stamps, values = (list(col) for col in zip(*rows, strict=True))
        decode = self._codec.decode
        return steps, stamps, [decode(v) for v in values]

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        from labtrack.store.sql.search_sql import run_query

        page = OffsetPage(page_token, max_results)
        pks = [_experiment_pk(e) for e in experiment_ids]
        if not pks:
            return PagedList([], None)
        query = run_query(pks, view_type, filter_string, order_by, self._codec)
        self._mark_crashed_runs()
        with self._read() as conn:
            rows, token = page.cut(conn.execute(query.offset(page.offset).limit(page.limit)).all())
            found = _reads.load_runs(conn, rows, self._codec)
        return PagedList(found, token)

    def search_runs_in_pages(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: int,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
        page_size: int,
    ) -> Iterator[PagedList[Run]]:
        """:meth:`search_runs`'s page in parts of ``page_size`` runs, each with the page's
        token. The search is one query (one order, whatever changes meanwhile); each part's
        params, tags and metrics are loaded when the caller asks for that part."""
        from labtrack.store.sql.search_sql import run_query

        page = OffsetPage(page_token, max_results)
        pks = [_experiment_pk(e) for e in experiment_ids]
        if not pks:
            yield PagedList([], None)
            return
        query = run_query(pks, view_type, filter_string, order_by, self._codec)
        with self._read() as conn:
            rows, token = page.cut(conn.execute(query.offset(page.offset).limit(page.limit)).all())
        for start in range(0, max(len(rows), 1), page_size):
            part = rows[start : start + page_size]
            with self._read() as conn:
                found = _reads.load_runs(conn, part, self._codec)
            yield PagedList(found, token)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        if datasets:
            self._write_retrying(self._log_inputs, run_id, datasets)

    def _log_inputs(self, conn: Connection, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        row = self._active_run_row(conn, run_id)
        d, ri = s.datasets, s.run_inputs
        for item in datasets:
            ds = item.dataset
            dataset_pk = conn.execute(
                select(d.c.id).where(
                    d.c.experiment_id == row.experiment_id,
                    d.c.name == ds.name,
                    d.c.digest == ds.digest,
                )
            ).scalar()
            if dataset_pk is None:
                dataset_pk = conn.execute(
                    insert(d).values(
                        experiment_id=row.experiment_id,
                        name=ds.name,
                        digest=ds.digest,
                        source_type=ds.source_type,
                        source=ds.source,
                        schema=ds.schema,
                        profile=ds.profile,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            input_pk = conn.execute(
                select(ri.c.id).where(ri.c.run_id == row.id, ri.c.dataset_id == dataset_pk)
            ).scalar()
            if input_pk is not None:
                continue  # logging the same dataset to a run twice is a no-op, as in MLflow
            input_pk = conn.execute(
                insert(ri).values(run_id=row.id, dataset_id=dataset_pk)
            ).inserted_primary_key[0]  # type: ignore[index]
            if item.tags:
                conn.execute(
                    insert(s.input_tags),
                    [{"input_id": input_pk, "key": t.key, "value": t.value} for t in item.tags],
                )

    # -- logged models (MLflow 3; the work is in _logged_models.py) ---------------------
    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None = None,
        model_type: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> LoggedModel:
        with self._write() as conn:
            experiment = self._active_experiment(conn, experiment_id)
            return _logged_models.create(
                conn,
                experiment,
                name,
                source_run_id,
                model_type,
                tags or {},
                params or {},
                now_ms(),
            )

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        with self._read() as conn:
            row = _logged_models.model_row(conn, model_id, allow_deleted=allow_deleted)
            return _logged_models.load(conn, [row], self._codec)[0]

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        with self._write() as conn:
            _logged_models.finalize(conn, model_id, status, now_ms())
        return self.get_logged_model(model_id)

    def delete_logged_model(self, model_id: str) -> None:
        with self._write() as conn:
            _logged_models.delete_model(conn, model_id, now_ms())

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        self._write_retrying(_logged_models.set_tags, model_id, tags, now_ms())

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        with self._write() as conn:
            _logged_models.delete_tag(conn, model_id, key, now_ms())

    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        self._write_retrying(_logged_models.log_params, model_id, params, now_ms())

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[LoggedModelDatasetFilter] = (),
        max_results: int = 100,
        order_by: Sequence[LoggedModelOrderBy] = (),
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        page = OffsetPage(page_token, max_results)
        pks = [_experiment_pk(e) for e in experiment_ids]
        if not pks:
            return PagedList([], None)
        query = _logged_models.search_query(pks, filter_string, datasets, order_by, self._codec)
        with self._read() as conn:
            rows, token = page.cut(conn.execute(query.offset(page.offset).limit(page.limit)).all())
            found = _logged_models.load(conn, rows, self._codec)
        return PagedList(found, token)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record logged models as outputs of a run (at a step)."""
        self._write_to_run(run_id, _logged_models.log_outputs, models)

    def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        """Record logged models as inputs of a run."""
        self._write_to_run(run_id, _logged_models.log_inputs, models)

    def log_model_metrics(self, run_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        """Log metric points to a run and link each to its logged model, atomically."""
        self._write_to_run(run_id, _logged_models.log_metrics, metrics, self._codec)

    def _write_to_run(self, run_id: str, fn: Any, *args: Any) -> None:
        """``fn(conn, run_key, *args)`` in a write transaction, on an active run."""
        self._write_retrying(lambda conn: fn(conn, self._active_run_row(conn, run_id).id, *args))

    # -- model registry (writes in _registry.py, reads in _registry_reads.py) ------------------
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str],
        description: str | None,
        user: str,
    ) -> RegisteredModel:
        try:
            with self._write() as conn:
                _registry.create_model(conn, name, tags, description, user, now_ms())
                return _registry_reads.get_model(conn, name)
        except WriteConflict:  # created by a concurrent request
            raise _registry.model_exists(name) from None

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._read() as conn:
            return _registry_reads.get_model(conn, name)

    def rename_registered_model(self, name: str, new_name: str, user: str) -> RegisteredModel:
        try:
            with self._write() as conn:
                _registry.rename_model(conn, name, new_name, user, now_ms())
                return _registry_reads.get_model(conn, new_name)
        except WriteConflict:
            raise _registry.model_exists(new_name) from None

    def update_registered_model(
        self, name: str, description: str | None, user: str
    ) -> RegisteredModel:
        with self._write() as conn:
            _registry.update_model(conn, name, description, user, now_ms())
            return _registry_reads.get_model(conn, name)

    def delete_registered_model(self, name: str, user: str) -> None:
        with self._write() as conn:
            _registry.delete_model(conn, name, user, now_ms())

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        page = OffsetPage(page_token, max_results)
        query = _registry_reads.models_query(filter_string, order_by, self.dialect)
        with self._read() as conn:
            rows, token = page.cut(conn.execute(query.offset(page.offset).limit(page.limit)).all())
            found = _registry_reads.load_models(conn, rows)
        return PagedList(found, token)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None) -> list[ModelVersion]:
        with self._read() as conn:
            return _registry_reads.latest_versions(conn, name, stages)

    def set_registered_model_tag(self, name: str, key: str, value: str, user: str) -> None:
        self._write_retrying(_registry.set_model_tag, name, key, value, user, now_ms())

    def delete_registered_model_tag(self, name: str, key: str, user: str) -> None:
        with self._write() as conn:
            _registry.delete_model_tag(conn, name, key, user, now_ms())

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        tags: Mapping[str, str],
        run_link: str | None,
        description: str | None,
        model_id: str | None,
        user: str,
    ) -> ModelVersion:
        with self._write() as conn:
            version = _registry.create_version(
                conn, name, source, run_id, tags, run_link, description, model_id, user, now_ms()
            )
            return _registry_reads.get_version(conn, name, version)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with self._read() as conn:
            return _registry_reads.get_version(conn, name, version)

    def update_model_version(
        self, name: str, version: int, description: str | None, user: str
    ) -> ModelVersion:
        with self._write() as conn:
            _registry.update_version(conn, name, version, description, user, now_ms())
            return _registry_reads.get_version(conn, name, version)

    def transition_model_version_stage(
        self, name: str, version: int, stage: str, archive_existing_versions: bool, user: str
    ) -> ModelVersion:
        with self._write() as conn:
            _registry.transition_stage(
                conn, name, version, stage, archive_existing_versions, user, now_ms()
            )
            return _registry_reads.get_version(conn, name, version)

    def delete_model_version(self, name: str, version: int, user: str) -> None:
        with self._write() as conn:
            _registry.delete_version(conn, name, version, user, now_ms())

    def get_model_version_download_uri(self, name: str, version: int) -> str:
        with self._read() as conn:
            return _registry_reads.download_uri(conn, name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        page = OffsetPage(page_token, max_results)
        query = _registry_reads.versions_query(filter_string, order_by, self.dialect)
        with self._read() as conn:
            rows, token = page.cut(conn.execute(query.offset(page.offset).limit(page.limit)).all())
            found = _registry_reads.load_versions(conn, rows)
        return PagedList(found, token)

    def set_model_version_tag(
        self, name: str, version: int, key: str, value: str, user: str
    ) -> None:
        self._write_retrying(_registry.set_version_tag, name, version, key, value, user, now_ms())

    def delete_model_version_tag(self, name: str, version: int, key: str, user: str) -> None:
        with self._write() as conn:
            _registry.delete_version_tag(conn, name, version, key, user, now_ms())

    def set_registered_model_alias(self, name: str, alias: str, version: int, user: str) -> None:
        self._write_retrying(_registry.set_alias, name, alias, version, user, now_ms())

    def delete_registered_model_alias(self, name: str, alias: str, user: str) -> None:
        with self._write() as conn:
            _registry.delete_alias(conn, name, alias, user, now_ms())

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self._read() as conn:
            return _registry_reads.version_by_alias(conn, name, alias)

    def get_registry_events(
        self,
        name: str | None = None,
        actions: Sequence[str] = (),
        start_time: int | None = None,
        end_time: int | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> PagedList[RegistryEvent]:
        """The registry's event log, oldest first (see ``_registry_reads.events_query``)."""
        page = PageAfter(page_token, max_results)
        with self._read() as conn:
            query = _registry_reads.events_query(
                conn, name, actions, start_time, end_time, page.after
            )
            rows, token = page.cut(conn.execute(query.limit(page.limit)).all(), key=_row_id)
        return PagedList(_registry_reads.load_events(rows), token)

    # -- housekeeping -----------------------------------------------------------------
    def count_metric_points(self, run_id: str | None = None) -> int:
        """How many metric points are stored (for one run, or all): used by tests and benches."""
        with self._read() as conn:
            query = select(func.count()).select_from(s.metrics)
            if run_id is not None:
                run_pk = self._run_row(conn, run_id).id
                query = query.join(
                    s.metric_series, s.metric_series.c.id == s.metrics.c.series_id
                ).where(s.metric_series.c.run_id == run_pk)
            return int(conn.execute(query).scalar_one())

    # -- the web UI's run table (_run_table.py) -----------------------------------------
    def search_run_page(
        self,
        experiment_ids: Sequence[int],
        view_type: int,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        offset: int,
        limit: int,
        nested: bool = False,
    ) -> RunPage:
        """One page of runs of the experiments (by primary key) and how many there are in all.

        With ``nested``, only top-level runs: those without a parent, or whose parent the
        same search does not find.
        """
        from labtrack.store.sql import _run_table

        self._mark_crashed_runs()
        with self._read() as conn:
            return _run_table.run_page(
                conn,
                self._codec,
                experiment_ids,
                view_type,
                filter_string,
                order_by,
                offset,
                limit,
                nested,
            )

    def search_child_runs(
        self,
        parent_id: str,
        experiment_ids: Sequence[int],
        view_type: int,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        limit: int,
    ) -> list[Run]:
        """The first ``limit`` runs under ``parent_id`` that the search finds."""
        from labtrack.store.sql import _run_table

        self._mark_crashed_runs()
        with self._read() as conn:
            return _run_table.child_runs(
                conn,
                self._codec,
                parent_id,
                experiment_ids,
                view_type,
                filter_string,
                order_by,
                limit,
            )

    def count_child_runs(
        self,
        run_ids: Sequence[str],
        experiment_ids: Sequence[int],
        view_type: int,
        filter_string: str | None,
    ) -> dict[str, int]:
        """How many runs the search finds under each of ``run_ids`` (only those with any)."""
        from labtrack.store.sql import _run_table

        with self._read() as conn:
            return _run_table.child_counts(
                conn, self._codec, run_ids, experiment_ids, view_type, filter_string
            )

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Runs in the order given (unknown ids are left out)."""
        from labtrack.store.sql import _run_table

        self._mark_crashed_runs()
        with self._read() as conn:
            return _run_table.runs_by_id(conn, self._codec, run_ids)

    def get_parent_run_ids(self, run_ids: Sequence[str]) -> dict[str, str]:
        """``{run id: parent run id}`` of those of ``run_ids`` that have a parent."""
        from labtrack.store.sql import _run_table

        with self._read() as conn:
            return _run_table.parent_ids(conn, run_ids)

    def list_run_keys(
        self, experiment_ids: Sequence[int], view_type: int, sample: int | None = 1000
    ) -> dict[str, list[str]]:
        """Metric, param and tag keys of the newest ``sample`` runs (all runs when None)."""
        from labtrack.store.sql import _run_table

        with self._read() as conn:
            return _run_table.known_keys(conn, experiment_ids, view_type, sample)

    def get_experiment_activity(self, experiment_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(active runs, newest run start) per experiment primary key."""
        from labtrack.store.sql import _run_table

        with self._read() as conn:
            return _run_table.experiment_activity(conn, experiment_ids)

    # -- the web UI's metric charts (_history_buckets.py) ---------------------------------
    def get_metric_series(self, run_id: str, key: str) -> SeriesInfo | None:
        """The series ``key`` of a run (id, point count, step range); None if not logged."""
        from labtrack.store.sql import _history_buckets

        with self._read() as conn:
            return _history_buckets.series_info(conn, run_id, key)

    def count_series_points(self, series_id: int, lo: int, hi: int) -> int:
        """How many points of the series have ``lo <= step <= hi``."""
        from labtrack.store.sql import _history_buckets

        with self._read() as conn:
            return _history_buckets.count_points(conn, series_id, lo, hi)

    def get_series_points(self, series_id: int, lo: int, hi: int) -> dict[str, list[Any]]:
        """Every point of the series with ``lo <= step <= hi``, as columns."""
        from labtrack.store.sql import _history_buckets

        with self._read() as conn:
            return _history_buckets.points(conn, self._codec, series_id, lo, hi)

    def get_series_buckets(self, series_id: int, lo: int, hi: int, n: int) -> dict[str, list[Any]]:
        """The points with ``lo <= step <= hi`` downsampled into ``n`` buckets of equal step
        width, as columns (see ``_history_buckets.buckets``)."""
        from labtrack.store.sql import _history_buckets

        with self._read() as conn:
            return _history_buckets.buckets(conn, self._codec, series_id, lo, hi, n)
