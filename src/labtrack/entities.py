"""The things labtrack tracks, as immutable values.

Names and attributes follow MLflow's entities (``run.info.run_id``,
``run.data.metrics["rmse"]``) so code written against MLflow reads the same.
labtrack adds metric summaries: for every (run, key) the latest value plus
min, max and count, kept up to date on write.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar


class RunStatus:
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    ALL = (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED)
    TERMINATED = (FINISHED, FAILED, KILLED)

    @classmethod
    def is_terminated(cls, status: str) -> bool:
        return status in cls.TERMINATED


class LifecycleStage:
    ACTIVE = "active"
    DELETED = "deleted"

    ALL = (ACTIVE, DELETED)


class ViewType:
    """Which lifecycle stages a search returns (MLflow's ViewType)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    _NAMES = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}

    @classmethod
    def parse(cls, value: int | str | None) -> int:
        if value is None:
            return cls.ACTIVE_ONLY
        if isinstance(value, str):
            key = value.upper()
            if key not in cls._NAMES:
                from labtrack.errors import InvalidParameterValue

                raise InvalidParameterValue(
                    f"Invalid view type {value!r}: expected ACTIVE_ONLY, DELETED_ONLY or ALL"
                )
            return cls._NAMES[key]
        if value not in (1, 2, 3):
            from labtrack.errors import InvalidParameterValue

            raise InvalidParameterValue(f"Invalid view type {value!r}")
        return value

    @classmethod
    def stages(cls, view_type: int) -> tuple[str, ...]:
        if view_type == cls.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE,)
        if view_type == cls.DELETED_ONLY:
            return (LifecycleStage.DELETED,)
        return LifecycleStage.ALL


class Metric(NamedTuple):
    """One point of a metric's history. ``timestamp`` is in milliseconds since the epoch.

    A named tuple rather than a dataclass: histories of millions of points are built
    from these, and a tuple costs a quarter of a frozen dataclass to create.
    """

    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True)
class ExperimentTag:
    key: str
    value: str


@dataclass(frozen=True)
class MetricSummary:
    """What a run's table shows for one metric, without reading its history."""

    key: str
    latest: float
    step: int
    timestamp: int
    min: float
    max: float
    count: int


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = LifecycleStage.ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = LifecycleStage.ACTIVE

    @property
    def run_uuid(self) -> str:
        """MLflow's deprecated name for ``run_id``."""
        return self.run_id


@dataclass(frozen=True)
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metric_summaries: dict[str, MetricSummary] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class InputTag:
    key: str
    value: str


@dataclass(frozen=True)
class DatasetInput:
    dataset: Dataset
    tags: tuple[InputTag, ...] = ()


@dataclass(frozen=True)
class RunInputs:
    dataset_inputs: tuple[DatasetInput, ...] = ()
    model_inputs: tuple[LoggedModelInput, ...] = ()


@dataclass(frozen=True)
class RunOutputs:
    """What a run produced: the logged models it recorded as outputs (MLflow 3)."""

    model_outputs: tuple[LoggedModelOutput, ...] = ()


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData = field(default_factory=RunData)
    inputs: RunInputs = field(default_factory=RunInputs)
    outputs: RunOutputs = field(default_factory=RunOutputs)


@dataclass(frozen=True)
class FileInfo:
    """An entry of an artifact listing. ``file_size`` is None for directories."""

    path: str
    is_dir: bool
    file_size: int | None = None


T = TypeVar("T")


class PagedList(list[T], Generic[T]):
    """A page of results; ``token`` fetches the next page and is None on the last one."""

    def __init__(self, items: Iterable[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token


def metric_value_sort_key(value: float) -> tuple[int, float]:
    """Order used to decide a metric's latest point among equal (step, timestamp): NaN lowest."""
    return (0, 0.0) if math.isnan(value) else (1, value)


def is_latest(candidate: Sequence[Any], current: Sequence[Any]) -> bool:
    """True when (step, timestamp, value) ``candidate`` supersedes ``current`` as latest."""
    cs, ct, cv = candidate
    s, t, v = current
    if (cs, ct) != (s, t):
        return bool((cs, ct) > (s, t))
    return metric_value_sort_key(cv) > metric_value_sort_key(v)


# -- logged models (MLflow 3: a model is an entity of its own, ``models:/m-<id>``) ---------
class LoggedModelStatus:
    """Whether a logged model's files are complete: PENDING until finalized READY or FAILED."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"

    ALL = (UNSPECIFIED, PENDING, READY, FAILED)
    FINAL = (READY, FAILED)


@dataclass(frozen=True)
class LoggedModelMetric:
    """A metric point of a run linked to a logged model, optionally measured on a dataset.

    ``run_id`` is None in a point being logged (the run is the one it is logged to).
    """

    key: str
    value: float
    timestamp: int
    step: int
    model_id: str
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True)
class LoggedModel:
    """A model logged to an experiment, with its tags, params and linked metrics."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: str = LoggedModelStatus.PENDING
    status_message: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    lifecycle_stage: str = LifecycleStage.ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: tuple[LoggedModelMetric, ...] = ()

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"


@dataclass(frozen=True)
class LoggedModelInput:
    """A logged model a run used (e.g. evaluated)."""

    model_id: str


@dataclass(frozen=True)
class LoggedModelOutput:
    """A logged model a run produced, at a step of the run."""

    model_id: str
    step: int = 0


@dataclass(frozen=True)
class LoggedModelOrderBy:
    """One order_by item of a logged model search (MLflow's ``OrderBy`` message).

    ``field_name`` is an attribute (``creation_timestamp``, ``name``...) or
    ``metrics.<key>``; for a metric, the dataset fields narrow which points count.
    """

    field_name: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True)
class LoggedModelDatasetFilter:
    """Restricts a logged model search's metric tests to points measured on one dataset."""

    dataset_name: str
    dataset_digest: str | None = None
