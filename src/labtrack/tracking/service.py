"""The tracking service: every rule about what may be stored, over any store.

The Python client, the fluent API and the HTTP server all call this class, so
there is one implementation of each rule (key formats, lengths, limits, run
names, lifecycle checks that need no storage). Stores below it only store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any, Literal

from labtrack import validation as v
from labtrack._clock import now_ms
from labtrack._gc import paused_gc
from labtrack._tags import MLFLOW_RUN_NAME, MLFLOW_USER
from labtrack.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    LoggedModelDatasetFilter,
    LoggedModelInput,
    LoggedModelMetric,
    LoggedModelOrderBy,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from labtrack.errors import InvalidParameterValue, NotImplementedYet
from labtrack.search import check_filter_terms, check_order_by_count
from labtrack.store.base import LoggedModelStore, RegistryStore, TrackingStore
from labtrack.tracking._names import generate_run_name
from labtrack.tracking._registry_service import RegistryService

#: The most runs one heartbeat names (a process runs a few at a time).
MAX_HEARTBEAT_RUNS = 100


def run_user(tags: Mapping[str, str], user_id: str | None = None) -> str:
    """Who a new run is by: ``user_id`` when given, else its ``mlflow.user`` tag, else ""."""
    return user_id if user_id is not None else tags.get(MLFLOW_USER, "")


class TrackingService:
    """Validated operations on a :class:`~labtrack.store.base.TrackingStore`.

    The model registry's operations are on :attr:`registry`, over the same store.
    """

    def __init__(self, store: TrackingStore, *, truncate_long_values: bool = True) -> None:
        self.store = store
        self.truncate = truncate_long_values

    @cached_property
    def registry(self) -> RegistryService:
        """The registry's rules over this service's store (which must have a registry)."""
        if not isinstance(self.store, RegistryStore):
            raise NotImplementedYet(f"{type(self.store).__name__} has no model registry")
        # The rule that lists a version on its logged model runs where the data is: here
        # over a database, on the server behind a RestStore (which applies it itself).
        remote = getattr(self.store, "applies_rules_on_server", False)
        logged_models = self.store if isinstance(self.store, LoggedModelStore) else None
        return RegistryService(self.store, None if remote else logged_models)

    # -- experiments ---------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        name = v.validate_experiment_name(name)
        checked = [v.validate_experiment_tag(k, val) for k, val in (tags or {}).items()]
        if artifact_location is not None and not isinstance(artifact_location, str):
            raise InvalidParameterValue(
                f"Invalid artifact location {artifact_location!r}: it must be a string"
            )
        if artifact_location:
            # The URI rule of default artifact roots (tracking._stores) holds for explicit
            # locations too: a local path is kept as an absolute file: URI, not relative to
            # whichever directory a later reader runs in.
            from labtrack.artifacts import location_to_uri

            artifact_location = location_to_uri(artifact_location)
        return self.store.create_experiment(name, artifact_location or None, checked)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(v.validate_experiment_id(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(v.validate_experiment_name(name))

    def search_experiments(
        self,
        view_type: int | str | None = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        max_results = v.validate_max_results(
            max_results, v.MAX_RESULTS_SEARCH_EXPERIMENTS, "search_experiments"
        )
        return self.store.search_experiments(
            ViewType.parse(view_type), max_results, filter_string, _as_list(order_by), page_token
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(v.validate_experiment_id(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(v.validate_experiment_id(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.store.rename_experiment(
            v.validate_experiment_id(experiment_id), v.validate_experiment_name(new_name)
        )

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        key, text = v.validate_experiment_tag(key, value)
        self.store.set_experiment_tag(v.validate_experiment_id(experiment_id), key, text)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.store.delete_experiment_tag(
            v.validate_experiment_id(experiment_id), v.validate_key(key, "Experiment tag")
        )

    # -- runs ----------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        *,
        start_time: int | None = None,
        tags: Mapping[str, Any] | Iterable[RunTag] | None = None,
        run_name: str | None = None,
        user_id: str | None = None,
    ) -> Run:
        experiment_id = v.validate_experiment_id(experiment_id)
        tag_list = [v.validate_tag(t.key, t.value, truncate=self.truncate) for t in _tags(tags)]
        tag_names = {t.key: t.value for t in tag_list}
        if run_name is not None:
            run_name = v.validate_run_name(run_name)
            # As MLflow: an empty name or tag is no name, so it conflicts with nothing.
            if run_name and tag_names.get(MLFLOW_RUN_NAME) not in (None, "", run_name):
                raise InvalidParameterValue(
                    f"Both run_name ({run_name!r}) and the tag {MLFLOW_RUN_NAME} "
                    f"({tag_names[MLFLOW_RUN_NAME]!r}) were given, with different values"
                )
        name = run_name or tag_names.get(MLFLOW_RUN_NAME) or generate_run_name()
        user = run_user(tag_names, user_id)
        if start_time is not None:
            start_time = v.validate_timestamp(start_time, "start_time")
        else:
            start_time = now_ms()
        return self.store.create_run(experiment_id, user, start_time, tag_list, name)

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(v.validate_run_id(run_id))

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        if status is not None and status not in RunStatus.ALL:
            raise InvalidParameterValue(
                f"Invalid run status {status!r}: expected one of {', '.join(RunStatus.ALL)}"
            )
        if run_name is not None:
            v.validate_run_name(run_name)
        if end_time is not None:
            end_time = v.validate_timestamp(end_time, "end_time")
        return self.store.update_run_info(v.validate_run_id(run_id), status, end_time, run_name)

    def set_terminated(
        self, run_id: str, status: str = RunStatus.FINISHED, end_time: int | None = None
    ) -> RunInfo:
        if status not in RunStatus.TERMINATED:
            raise InvalidParameterValue(
                f"Invalid terminal status {status!r}: expected FINISHED, FAILED or KILLED"
            )
        return self.update_run(run_id, status, end_time if end_time is not None else now_ms())

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(v.validate_run_id(run_id))

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(v.validate_run_id(run_id))

    # -- logging -------------------------------------------------------------------
    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
    ) -> None:
        metric = v.validate_metric(
            key, value, now_ms() if timestamp is None else timestamp, step or 0
        )
        self.store.log_batch(v.validate_run_id(run_id), metrics=[metric])

    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        param = v.validate_param(key, value, truncate=self.truncate)
        self.store.log_batch(v.validate_run_id(run_id), params=[param])
        return value

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        tag = v.validate_tag(key, value, truncate=self.truncate)
        self.store.log_batch(v.validate_run_id(run_id), tags=[tag])

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(v.validate_run_id(run_id), v.validate_key(key, "Tag"))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        *,
        limits: Literal["mlflow", "bulk"] | None = None,
        request_id: str | None = None,
        heartbeat: bool = False,
    ) -> None:
        """Validate and store a batch. ``limits``: the per-request caps of MLflow's
        log-batch, or of labtrack's bulk endpoint (a server applies them; None: none);
        ``heartbeat`` also records that the run's process is alive."""
        if limits == "mlflow":
            v.validate_batch_limits(metrics, params, tags)
        elif limits == "bulk":
            keys = len({m.key for m in metrics})
            v.validate_bulk_limits(len(metrics), keys, len(params), len(tags))
        with paused_gc():
            checked_metrics = [
                v.validate_metric_point(m, path=f"metrics[{i}]") for i, m in enumerate(metrics)
            ]
        checked_params = [
            v.validate_param(p.key, p.value, truncate=self.truncate, path=f"params[{i}]")
            for i, p in enumerate(params)
        ]
        v.validate_param_keys_unique(checked_params)
        checked_tags = [
            v.validate_tag(t.key, t.value, truncate=self.truncate, path=f"tags[{i}]")
            for i, t in enumerate(tags)
        ]
        if limits == "bulk":
            v.validate_bulk_text(checked_params, checked_tags)
        if request_id is not None and not (
            isinstance(request_id, str) and 0 < len(request_id) <= 64
        ):
            raise InvalidParameterValue(f"Invalid request_id {request_id!r}: 1 to 64 characters")
        self.store.log_batch(
            v.validate_run_id(run_id),
            checked_metrics,
            checked_params,
            checked_tags,
            request_id,
            heartbeat=heartbeat,
        )

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """The processes running these runs are alive (see ``TrackingStore.heartbeat``)."""
        if len(run_ids) > MAX_HEARTBEAT_RUNS:
            raise InvalidParameterValue(
                f"A heartbeat names at most {MAX_HEARTBEAT_RUNS} runs, got {len(run_ids)}"
            )
        self.store.heartbeat([v.validate_run_id(r) for r in run_ids])

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        for item in datasets:
            ds = item.dataset
            if not ds.name or len(ds.name) > v.MAX_DATASET_NAME_SIZE:
                raise InvalidParameterValue(
                    f"Invalid dataset name {ds.name[:50]!r}: 1 to {v.MAX_DATASET_NAME_SIZE} "
                    "characters"
                )
            if not ds.digest or len(ds.digest) > v.MAX_DATASET_DIGEST_SIZE:
                raise InvalidParameterValue(
                    f"Invalid dataset digest {ds.digest!r}: 1 to {v.MAX_DATASET_DIGEST_SIZE} "
                    "characters"
                )
            for tag in item.tags:
                if not tag.key or len(tag.key) > v.MAX_INPUT_TAG_KEY_SIZE:
                    raise InvalidParameterValue(f"Invalid input tag key {tag.key!r}")
                if len(tag.value) > v.MAX_INPUT_TAG_VALUE_SIZE:
                    raise InvalidParameterValue(
                        f"Value of input tag {tag.key!r} is longer than "
                        f"{v.MAX_INPUT_TAG_VALUE_SIZE} characters"
                    )
        self.store.log_inputs(v.validate_run_id(run_id), datasets)

    # -- reading -------------------------------------------------------------------
    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        if max_results is not None:
            v.validate_max_results(max_results, 2**31 - 1, "get_metric_history")
        return self.store.get_metric_history(
            v.validate_run_id(run_id), v.validate_key(key, "Metric"), max_results, page_token
        )

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: int | str | None = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        return self.store.search_runs(
            *self._run_search(experiment_ids, filter_string, view_type, max_results, order_by),
            page_token,
        )

    def search_runs_in_pages(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: int | str | None = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        page_size: int = 2500,
    ) -> Iterator[PagedList[Run]]:
        """The page :meth:`search_runs` answers, in parts of at most ``page_size`` runs
        loaded one at a time (a server sends a large answer part by part instead of
        holding it whole); each part's ``token`` is the page's. The arguments are checked
        when the iterator is made, the filter when the first ``next()`` reads the first part."""
        search = self._run_search(experiment_ids, filter_string, view_type, max_results, order_by)
        in_pages = getattr(self.store, "search_runs_in_pages", None)
        if in_pages is not None:
            parts: Iterator[PagedList[Run]] = in_pages(*search, page_token, page_size)
            return parts

        def whole() -> Iterator[PagedList[Run]]:  # a store that cannot read in parts
            yield self.store.search_runs(*search, page_token)

        return whole()

    @staticmethod
    def _run_search(
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: int | str | None,
        max_results: int,
        order_by: Sequence[str] | None,
    ) -> tuple[list[str], str | None, int, int, list[str] | None]:
        """A run search's arguments, checked, in the store's order (page token aside)."""
        ids = v.validate_search_experiment_ids(experiment_ids)
        max_results = v.validate_max_results(max_results, v.MAX_RESULTS_SEARCH_RUNS, "search_runs")
        if filter_string is not None and not isinstance(filter_string, str):
            raise InvalidParameterValue(f"Invalid filter {filter_string!r}: it must be a string")
        return ids, filter_string, ViewType.parse(view_type), max_results, _as_list(order_by)

    def search_dataset_summaries(
        self, experiment_ids: Sequence[str]
    ) -> list[tuple[str, str, str, str | None]]:
        """(experiment id, name, digest, context) of the datasets the experiments' runs
        used (at most 1,000), as MLflow's ``experiments/search-datasets`` lists them."""
        search = getattr(self.store, "search_dataset_summaries", None)
        if search is None:
            raise NotImplementedYet(f"{type(self.store).__name__} cannot list datasets")
        ids = v.validate_search_experiment_ids(experiment_ids)
        found: list[tuple[str, str, str, str | None]] = search(ids)
        return found

    # -- logged models (MLflow 3) --------------------------------------------------------
    @property
    def _models(self) -> LoggedModelStore:
        if not isinstance(self.store, LoggedModelStore):
            raise NotImplementedYet(f"{type(self.store).__name__} does not store logged models")
        return self.store

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        *,
        source_run_id: str | None = None,
        model_type: str | None = None,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> LoggedModel:
        """A new PENDING model in an active experiment; a name is generated when not given."""
        experiment_id = v.validate_experiment_id(experiment_id)
        name = generate_run_name() if name is None else _model_name(name)
        if source_run_id is not None:
            source_run_id = _source_run_id(source_run_id)
        if model_type is not None:
            model_type = _bounded(model_type, "model_type", MAX_MODEL_TYPE_LENGTH)
        return self._models.create_logged_model(
            experiment_id,
            name,
            source_run_id or None,
            model_type or None,
            self._model_tags(tags or {}),
            self._model_params(params or {}),
        )

    def get_logged_model(self, model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
        return self._models.get_logged_model(v.validate_model_id(model_id), allow_deleted)

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        """Mark a model's files complete (READY) or failed (FAILED)."""
        if status not in LoggedModelStatus.FINAL:
            raise InvalidParameterValue(
                f"Invalid status {status!r} to finalize a logged model with: "
                f"expected {' or '.join(LoggedModelStatus.FINAL)}"
            )
        return self._models.finalize_logged_model(v.validate_model_id(model_id), status)

    def delete_logged_model(self, model_id: str) -> None:
        self._models.delete_logged_model(v.validate_model_id(model_id))

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, Any]) -> None:
        checked = self._model_tags(tags)
        self._models.set_logged_model_tags(v.validate_model_id(model_id), checked)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._models.delete_logged_model_tag(
            v.validate_model_id(model_id), v.validate_key(key, "Logged model tag")
        )

    def log_logged_model_params(self, model_id: str, params: Mapping[str, Any]) -> None:
        checked = self._model_params(params)
        self._models.log_logged_model_params(v.validate_model_id(model_id), checked)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[LoggedModelDatasetFilter | Mapping[str, Any]] | None = None,
        max_results: int = 100,
        order_by: Sequence[LoggedModelOrderBy | Mapping[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """Active models of the experiments matching ``filter_string`` (MLflow's grammar;
        see ``_logged_models.LOGGED_MODEL_SCHEMA``). ``datasets`` and ``order_by`` items
        are entities or MLflow's dicts (``{"field_name": "metrics.acc", "ascending": False}``).
        """
        ids = v.validate_search_experiment_ids(experiment_ids)
        max_results = v.validate_max_results(
            max_results, MAX_RESULTS_SEARCH_LOGGED_MODELS, "search_logged_models"
        )
        if filter_string is not None and not isinstance(filter_string, str):
            raise InvalidParameterValue(f"Invalid filter {filter_string!r}: it must be a string")
        check_filter_terms(len(datasets or ()), "datasets")
        check_order_by_count(len(order_by or ()))
        return self._models.search_logged_models(
            ids,
            filter_string or None,
            [_dataset_filter(d) for d in datasets or ()],
            max_results,
            [_model_order_by(o) for o in order_by or ()],
            page_token,
        )

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record logged models as outputs of a run, each at a step."""
        checked = [
            LoggedModelOutput(v.validate_model_id(m.model_id), _step(m.step)) for m in models
        ]
        self._models.log_outputs(v.validate_run_id(run_id), checked)

    def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        """Record logged models as inputs of a run (e.g. models it evaluated)."""
        checked = [LoggedModelInput(v.validate_model_id(m.model_id)) for m in models]
        self._models.log_model_inputs(v.validate_run_id(run_id), checked)

    def log_model_metrics(self, run_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        """Log metric points to a run, each linked to a logged model (and a dataset)."""
        self._models.log_model_metrics(
            v.validate_run_id(run_id),
            [_model_metric(m, f"metrics[{i}]") for i, m in enumerate(metrics)],
        )

    def _model_tags(self, tags: Mapping[str, Any]) -> dict[str, str]:
        if not isinstance(tags, Mapping):
            raise InvalidParameterValue(f"Invalid logged model tags {tags!r}: expected a mapping")
        checked = {}
        for key, value in tags.items():
            key = v.validate_key(key, "Logged model tag")
            checked[key] = _bounded(
                value if isinstance(value, str) else str(value),
                f"value of tag {key!r}",
                MAX_MODEL_TAG_VALUE_LENGTH,
            )
        return checked

    def _model_params(self, params: Mapping[str, Any]) -> dict[str, str]:
        if not isinstance(params, Mapping):
            raise InvalidParameterValue(
                f"Invalid logged model params {params!r}: expected a mapping"
            )
        checked = (v.validate_param(k, val, truncate=self.truncate) for k, val in params.items())
        return {p.key: p.value for p in checked}


MAX_MODEL_NAME_LENGTH = 500
MAX_MODEL_TYPE_LENGTH = 500
MAX_MODEL_TAG_VALUE_LENGTH = 100_000
MAX_RESULTS_SEARCH_LOGGED_MODELS = 50_000
_MODEL_NAME_FORBIDDEN = ("/", ":", ".", "%", '"', "'")


def _model_name(name: Any) -> str:
    """MLflow's rule: a non-empty name without / : . % or quotes."""
    if not isinstance(name, str) or not name or any(c in name for c in _MODEL_NAME_FORBIDDEN):
        raise InvalidParameterValue(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string "
            f"and cannot contain the following characters: {_MODEL_NAME_FORBIDDEN}"
        )
    return _bounded(name, "model name", MAX_MODEL_NAME_LENGTH)


def _source_run_id(run_id: Any) -> str:
    run_id = v.validate_run_id(run_id)
    if len(run_id) > 32:
        raise InvalidParameterValue(f"Invalid source run ID {run_id!r}: at most 32 characters")
    return run_id


def _step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, int) or not v.fits_int64(step):
        raise InvalidParameterValue(f"Invalid step {step!r}: it must be a 64-bit integer")
    return step


def _bounded(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidParameterValue(f"Invalid {what} {value!r}: it must be a string")
    if len(value) > limit:
        raise InvalidParameterValue(
            f"Invalid {what}: {len(value)} characters long; the limit is {limit}"
        )
    return value


def _optional_str(d: Mapping[str, Any], field: str) -> str | None:
    value = d.get(field)
    if value is not None and not isinstance(value, str):
        raise InvalidParameterValue(f"Invalid {field} {value!r}: it must be a string")
    return value or None


def _dataset_filter(d: LoggedModelDatasetFilter | Mapping[str, Any]) -> LoggedModelDatasetFilter:
    if isinstance(d, Mapping):
        name = _optional_str(d, "dataset_name")
        d = LoggedModelDatasetFilter(name or "", _optional_str(d, "dataset_digest"))
    if not isinstance(d, LoggedModelDatasetFilter) or not d.dataset_name:
        raise InvalidParameterValue("`dataset_name` in the `datasets` clause must be specified.")
    return d


def _model_order_by(o: LoggedModelOrderBy | Mapping[str, Any]) -> LoggedModelOrderBy:
    if isinstance(o, Mapping):
        ascending = o.get("ascending", True)
        if not isinstance(ascending, bool):
            raise InvalidParameterValue(f"Invalid ascending {ascending!r}: expected true or false")
        o = LoggedModelOrderBy(
            _optional_str(o, "field_name") or "",
            ascending,
            _optional_str(o, "dataset_name"),
            _optional_str(o, "dataset_digest"),
        )
    if not isinstance(o, LoggedModelOrderBy) or not o.field_name:
        raise InvalidParameterValue(f"Invalid order_by {o!r}: field_name must be given")
    if o.dataset_digest and not o.dataset_name:
        raise InvalidParameterValue(
            f"Invalid order_by {o.field_name!r}: dataset_digest is given without dataset_name"
        )
    return o


def _model_metric(m: LoggedModelMetric, path: str) -> LoggedModelMetric:
    point = v.validate_metric(m.key, m.value, m.timestamp, m.step, path=path)
    if (m.dataset_name is None) != (m.dataset_digest is None):
        raise InvalidParameterValue(
            f"Both dataset_name and dataset_digest must be provided if one is provided ({path})"
        )
    if m.dataset_name is not None:
        _bounded(m.dataset_name, "dataset_name", v.MAX_DATASET_NAME_SIZE)
        _bounded(m.dataset_digest, "dataset_digest", v.MAX_DATASET_DIGEST_SIZE)
    return LoggedModelMetric(
        key=point.key,
        value=point.value,
        timestamp=point.timestamp,
        step=point.step,
        model_id=v.validate_model_id(m.model_id),
        dataset_name=m.dataset_name,
        dataset_digest=m.dataset_digest,
    )


def _as_list(order_by: Sequence[str] | str | None) -> list[str] | None:
    if order_by is None:
        return None
    if isinstance(order_by, str):
        return [order_by]
    return list(order_by)


def _tags(tags: Mapping[str, Any] | Iterable[RunTag] | None) -> list[RunTag]:
    if tags is None:
        return []
    if isinstance(tags, Mapping):
        return [RunTag(str(k), val) for k, val in tags.items()]
    return list(tags)
