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

from labtrack._tags import LABTRACK_CRASHED


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

    @property
    def crashed(self) -> bool:
        """Whether the run's process died without ending it: it stopped sending heartbeats,
        so the store marked it KILLED with the ``labtrack.crashed`` tag."""
        return (
            self.info.status == RunStatus.KILLED and self.data.tags.get(LABTRACK_CRASHED) == "true"
        )


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


# -- model registry ------------------------------------------------------------------
class ModelVersionStage:
    """The legacy stages of a model version (MLflow's; aliases are the modern way to promote).

    Input is case-insensitive (``"production"``); stored and returned canonical
    (``"Production"``). A new version is in stage ``"None"`` (the string).
    """

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    ALL = (NONE, STAGING, PRODUCTION, ARCHIVED)
    ACTIVE = (STAGING, PRODUCTION)
    """The stages ``archive_existing_versions`` may be used with."""

    @classmethod
    def canonical(cls, stage: str) -> str:
        """``stage`` spelled canonically; InvalidParameterValue for an unknown stage."""
        found = None
        if isinstance(stage, str):
            found = {s.lower(): s for s in cls.ALL}.get(stage.lower())
        if found is None:
            from labtrack.errors import InvalidParameterValue

            raise InvalidParameterValue(
                f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(cls.ALL)}."
            )
        return found


class ModelVersionStatus:
    """MLflow's registration states. labtrack versions are READY as soon as they exist."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"

    ALL = (PENDING_REGISTRATION, FAILED_REGISTRATION, READY)


@dataclass(frozen=True)
class RegisteredModelTag:
    key: str
    value: str


@dataclass(frozen=True)
class ModelVersionTag:
    key: str
    value: str


@dataclass(frozen=True)
class RegisteredModelAlias:
    """A named pointer (``champion``) to one version of a registered model."""

    alias: str
    version: int


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model: where its files are and what produced them.

    ``version`` is an int (MLflow's REST client gives strings; labtrack accepts both
    wherever a version is passed in). ``source`` is the location as registered;
    ``get_model_version_download_uri`` gives the resolved location of the files.
    """

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    source: str
    current_stage: str = ModelVersionStage.NONE
    description: str | None = None
    user_id: str | None = None
    run_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    status: str = ModelVersionStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def model_uri(self) -> str:
        """``models:/<name>/<version>``: how to load this version."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class RegisteredModel:
    """A named model in the registry, with its newest version in each stage and its aliases."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    user_id: str | None = None
    latest_versions: tuple[ModelVersion, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    """Alias -> version number."""


class RegistryAction:
    """What a :class:`RegistryEvent` records. ``from_value`` / ``to_value`` hold what changed."""

    MODEL_CREATED = "model_created"
    MODEL_RENAMED = "model_renamed"  # from old name to new name
    MODEL_DESCRIPTION_UPDATED = "model_description_updated"  # from old to new description
    MODEL_DELETED = "model_deleted"  # details: versions deleted with it
    MODEL_TAG_SET = "model_tag_set"  # details: key; from old value (None: new tag) to new
    MODEL_TAG_DELETED = "model_tag_deleted"  # details: key; from old value
    VERSION_CREATED = "version_created"  # to the source; details: run_id, model_id...
    VERSION_DESCRIPTION_UPDATED = "version_description_updated"
    VERSION_DELETED = "version_deleted"  # from its stage; details: aliases removed with it
    VERSION_TAG_SET = "version_tag_set"
    VERSION_TAG_DELETED = "version_tag_deleted"
    STAGE_TRANSITIONED = "stage_transitioned"  # from old stage to new stage
    ALIAS_SET = "alias_set"  # details: alias; to the version
    ALIAS_MOVED = "alias_moved"  # details: alias; from the old version to the new one
    ALIAS_DELETED = "alias_deleted"  # details: alias; from the version it pointed to

    ALL = (
        MODEL_CREATED,
        MODEL_RENAMED,
        MODEL_DESCRIPTION_UPDATED,
        MODEL_DELETED,
        MODEL_TAG_SET,
        MODEL_TAG_DELETED,
        VERSION_CREATED,
        VERSION_DESCRIPTION_UPDATED,
        VERSION_DELETED,
        VERSION_TAG_SET,
        VERSION_TAG_DELETED,
        STAGE_TRANSITIONED,
        ALIAS_SET,
        ALIAS_MOVED,
        ALIAS_DELETED,
    )


@dataclass(frozen=True)
class RegistryEvent:
    """One change to the registry, from its append-only event log.

    ``name`` is the registered model's name when the change was made (events of a
    renamed model keep the old name; the ``model_renamed`` event links the two).
    ``version`` is the version the change concerns, if any; ``timestamp`` is in
    milliseconds since the epoch; ``claimed_user`` is who the client said made the change
    (a server's ``X-Labtrack-User`` header, the local user in embedded mode; "unknown"
    when none was given): a claim nobody checked, since the server does not yet
    authenticate users.
    """

    event_id: int
    timestamp: int
    claimed_user: str
    action: str
    name: str
    version: int | None = None
    from_value: str | None = None
    to_value: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersionLineage:
    """Where a model version came from: the run that produced it (with its params,
    metrics and tags), the logged model it was registered from, and the datasets the
    run used. Each is None (or empty) when not recorded or no longer there."""

    model_version: ModelVersion
    run: Run | None = None
    logged_model: LoggedModel | None = None
    datasets: tuple[DatasetInput, ...] = ()


@dataclass(frozen=True)
class ModelUri:
    """A parsed ``models:/`` URI. Exactly one way of naming a model is set:

    - ``models:/m-<id>``: ``model_id`` (a logged model);
    - ``models:/<name>/<version>``: ``name`` and ``version``;
    - ``models:/<name>/<stage>``: ``name`` and ``stage`` (the newest version in it);
    - ``models:/<name>@<alias>``: ``name`` and ``alias``;
    - ``models:/<name>/latest``: only ``name`` (the newest version of all).
    """

    name: str | None = None
    version: int | None = None
    stage: str | None = None
    alias: str | None = None
    model_id: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelUri:
        from labtrack.errors import InvalidParameterValue

        bad = InvalidParameterValue(
            f"Not a proper models:/ URI: {uri}. Models URIs must be of the form "
            "'models:/name/suffix' or 'models:/name@alias' where suffix is a version, stage, "
            "or the string 'latest' and where alias is a registered model alias, or "
            "'models:/<model_id>' for a logged model."
        )
        if (
            not isinstance(uri, str)
            or not uri.startswith("models:/")
            or uri.startswith("models://")
        ):
            raise bad
        parts = uri[len("models:/") :].split("/")
        if len(parts) > 2 or not parts[0].strip():
            raise bad
        if len(parts) == 2:
            name, suffix = parts
            if not suffix.strip():
                raise bad
            if suffix.isascii() and suffix.isdigit():
                return cls(name=name, version=int(suffix))
            if suffix.lower() == "latest":
                return cls(name=name)
            return cls(name=name, stage=ModelVersionStage.canonical(suffix))
        if "@" in parts[0]:
            name, _, alias = parts[0].rpartition("@")
            if not name or not alias.strip():
                raise bad
            return cls(name=name, alias=alias)
        return cls(model_id=parts[0])


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` as (run id, path within the run's artifacts; "" for the root)."""
    from labtrack.errors import InvalidParameterValue

    if not isinstance(uri, str) or not uri.startswith("runs:/") or uri.startswith("runs://"):
        raise InvalidParameterValue(
            f"Not a proper runs:/ URI: {uri!r}. Expected 'runs:/<run_id>/<path>'."
        )
    run_id, _, path = uri[len("runs:/") :].partition("/")
    if not run_id:
        raise InvalidParameterValue(
            f"Not a proper runs:/ URI: {uri!r}. Expected 'runs:/<run_id>/<path>'."
        )
    return run_id, path.strip("/")


@dataclass(frozen=True)
class Webhook:
    """A registry webhook: ``url`` receives a signed POST for each of its ``events``
    (MLflow's "entity.action" names, e.g. ``model_version.created``) while its status is
    ACTIVE. ``has_secret`` says whether deliveries are signed; the secret itself is never
    part of the entity (the store keeps it encrypted)."""

    webhook_id: str
    name: str
    url: str
    events: tuple[str, ...]
    status: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    has_secret: bool = False


@dataclass(frozen=True)
class WebhookTestResult:
    """What a test delivery got back: the receiver's status and body, or why it failed."""

    success: bool
    response_status: int | None = None
    response_body: str | None = None
    error_message: str | None = None
