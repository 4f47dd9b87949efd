"""The one interface every tracking store implements (SQL databases, a server over HTTP).

Stores do storage: they trust that the tracking service above them has
validated keys, values and limits. They do enforce what only storage can:
existence, uniqueness, param immutability and lifecycle state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from labtrack.entities import (
    DatasetInput,
    Experiment,
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
    RunInfo,
    RunTag,
)


@runtime_checkable
class TrackingStore(Protocol):
    # -- experiments ---------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[tuple[str, str]] = (),
    ) -> str: ...

    def get_experiment(self, experiment_id: str) -> Experiment: ...

    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    def search_experiments(
        self,
        view_type: int,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> PagedList[Experiment]: ...

    def delete_experiment(self, experiment_id: str) -> None: ...

    def restore_experiment(self, experiment_id: str) -> None: ...

    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    # -- runs ----------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str,
    ) -> Run: ...

    def get_run(self, run_id: str) -> Run: ...

    def update_run_info(
        self,
        run_id: str,
        status: str | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo: ...

    def delete_run(self, run_id: str) -> None: ...

    def restore_run(self, run_id: str) -> None: ...

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        request_id: str | None = None,
        heartbeat: bool = False,
    ) -> None:
        """Write everything or nothing. No size limit: stores chunk as they need.

        A batch sent again with the same ``request_id`` (a retry) is applied once.
        ``heartbeat`` also records that the run's process is alive (:meth:`heartbeat`)."""
        ...

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """The processes running these runs are alive. A RUNNING run that has had
        heartbeats and then none for ``heartbeat_timeout`` is marked crashed (KILLED,
        tag ``labtrack.crashed``) when runs are next read; one that never had any is
        not. A store that cannot keep heartbeats (an MLflow server) ignores them."""
        ...

    def delete_tag(self, run_id: str, key: str) -> None: ...

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]: ...

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: int,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> PagedList[Run]: ...

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None: ...


@runtime_checkable
class LoggedModelStore(Protocol):
    """MLflow 3 logged models: what SqlStore and RestStore add to :class:`TrackingStore`.

    Model ids, names, tags and params arrive validated by the tracking service; a
    missing (or deleted) model is ``ResourceDoesNotExist``.
    """

    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None = None,
        model_type: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> LoggedModel: ...

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel: ...

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel: ...

    def delete_logged_model(self, model_id: str) -> None: ...

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None: ...

    def delete_logged_model_tag(self, model_id: str, key: str) -> None: ...

    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None: ...

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[LoggedModelDatasetFilter] = (),
        max_results: int = 100,
        order_by: Sequence[LoggedModelOrderBy] = (),
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]: ...

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None: ...

    def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None: ...

    def log_model_metrics(self, run_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        """Log points to the run's history and link each to its model, all or nothing."""
        ...


@runtime_checkable
class RegistryStore(Protocol):
    """The model registry: what SqlStore and RestStore add to :class:`TrackingStore`.

    Names, versions (ints >= 1), stages (canonical), aliases and tags arrive validated by
    the tracking service. Every change is recorded in the registry's event log in the
    same transaction, as claimed by ``user`` (the event's ``claimed_user``); a RestStore's
    server takes the claim from the request instead, so it ignores the argument.
    """

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str],
        description: str | None,
        user: str,
    ) -> RegisteredModel: ...

    def get_registered_model(self, name: str) -> RegisteredModel: ...

    def rename_registered_model(self, name: str, new_name: str, user: str) -> RegisteredModel: ...

    def update_registered_model(
        self, name: str, description: str | None, user: str
    ) -> RegisteredModel: ...

    def delete_registered_model(self, name: str, user: str) -> None: ...

    def search_registered_models(
        self,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> PagedList[RegisteredModel]: ...

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None
    ) -> list[ModelVersion]: ...

    def set_registered_model_tag(self, name: str, key: str, value: str, user: str) -> None: ...

    def delete_registered_model_tag(self, name: str, key: str, user: str) -> None: ...

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
    ) -> ModelVersion: ...

    def get_model_version(self, name: str, version: int) -> ModelVersion: ...

    def update_model_version(
        self, name: str, version: int, description: str | None, user: str
    ) -> ModelVersion: ...

    def transition_model_version_stage(
        self, name: str, version: int, stage: str, archive_existing_versions: bool, user: str
    ) -> ModelVersion: ...

    def delete_model_version(self, name: str, version: int, user: str) -> None: ...

    def get_model_version_download_uri(self, name: str, version: int) -> str: ...

    def search_model_versions(
        self,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> PagedList[ModelVersion]: ...

    def set_model_version_tag(
        self, name: str, version: int, key: str, value: str, user: str
    ) -> None: ...

    def delete_model_version_tag(self, name: str, version: int, key: str, user: str) -> None: ...

    def set_registered_model_alias(
        self, name: str, alias: str, version: int, user: str
    ) -> None: ...

    def delete_registered_model_alias(self, name: str, alias: str, user: str) -> None: ...

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    def get_registry_events(
        self,
        name: str | None = None,
        actions: Sequence[str] = (),
        start_time: int | None = None,
        end_time: int | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> PagedList[RegistryEvent]:
        """Events oldest first; ``name`` follows the model's renames back (see the log's docs);
        ``start_time`` is inclusive and ``end_time`` exclusive, in ms since the epoch."""
        ...
