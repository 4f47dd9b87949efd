"""RestStore: the tracking store of a labtrack (or MLflow) server, over its REST API.

Against a labtrack server, batches go through the columnar bulk endpoint (no
1,000-item cap; a request id makes retries safe) and metric histories come back
as columns. Against an MLflow server the same calls use MLflow's endpoints
(log-batch in MLflow-sized chunks, paged get-history), so the labtrack client
works with both.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from labtrack import _protocol as wire
from labtrack._gc import paused_gc
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
    ViewType,
)
from labtrack.errors import EndpointNotFound, NotImplementedYet, ResourceDoesNotExist
from labtrack.validation import (
    MAX_BATCH_LOG_REQUEST_SIZE,
    MAX_BULK_METRIC_KEYS,
    MAX_BULK_METRIC_POINTS,
    MAX_BULK_PARAMS,
    MAX_BULK_TAGS,
    MAX_BULK_TEXT,
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_RESULTS_METRIC_HISTORY,
)

if TYPE_CHECKING:
    import httpx

    from labtrack._http import HttpClient

API = "/api/2.0/mlflow"
LABTRACK_API = "/api/2.0/labtrack"
HEARTBEATS = "runs/heartbeat"  # the endpoint, and the capability of servers that have it
_VIEW_NAMES = {
    ViewType.ACTIVE_ONLY: "ACTIVE_ONLY",
    ViewType.DELETED_ONLY: "DELETED_ONLY",
    ViewType.ALL: "ALL",
}


class RestStore:
    """A :class:`~labtrack.store.base.TrackingStore` backed by a tracking server."""

    #: The server applies the rules that write more than one thing (a new model version
    #: listed on its logged model), as MLflow's server does; the client must not repeat them.
    applies_rules_on_server = True

    def __init__(self, uri: str, *, transport: httpx.BaseTransport | None = None) -> None:
        from labtrack._http import HttpClient, client_for

        self.uri = uri.rstrip("/")
        if transport is not None:
            self.http: HttpClient = HttpClient(self.uri, transport=transport, backoff=0.01)
        else:
            self.http = client_for(self.uri)
        self._capabilities: frozenset[str] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RestStore({self.uri!r})"

    @property
    def capabilities(self) -> frozenset[str]:
        """What labtrack extensions the server has (none for an MLflow server)."""
        if self._capabilities is None:
            with self._lock:
                if self._capabilities is None:
                    try:
                        info = self.http.json("GET", f"{LABTRACK_API}/server-info")
                        found = frozenset(info.get("capabilities", ()))
                    except (ResourceDoesNotExist, EndpointNotFound):  # an MLflow server
                        found = frozenset()
                    self._capabilities = found
        return self._capabilities

    def _call(
        self, method: str, endpoint: str, idempotent: bool | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self.http.json(method, f"{API}/{endpoint}", idempotent=idempotent, **kwargs)

    # -- experiments ---------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[tuple[str, str]] = (),
    ) -> str:
        body: dict[str, Any] = {"name": name, "tags": [{"key": k, "value": v} for k, v in tags]}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self._call("POST", "experiments/create", json=body)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        data = self._call("GET", "experiments/get", params={"experiment_id": experiment_id})
        return wire.experiment_from_json(data["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self._call("GET", "experiments/get-by-name", params={"experiment_name": name})
        except ResourceDoesNotExist:
            return None
        return wire.experiment_from_json(data["experiment"])

    def search_experiments(
        self,
        view_type: int,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> PagedList[Experiment]:
        body: dict[str, Any] = {"view_type": _VIEW_NAMES[view_type], "max_results": max_results}
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        data = self._call("POST", "experiments/search", idempotent=True, json=body)
        return PagedList(
            [wire.experiment_from_json(e) for e in data.get("experiments", ())],
            data.get("next_page_token") or None,
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("POST", "experiments/delete", json={"experiment_id": experiment_id})

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", "experiments/restore", json={"experiment_id": experiment_id})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._call(
            "POST",
            "experiments/update",
            idempotent=True,
            json={"experiment_id": experiment_id, "new_name": new_name},
        )

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._call(
            "POST",
            "experiments/set-experiment-tag",
            idempotent=True,
            json={"experiment_id": experiment_id, "key": key, "value": value},
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._call(
            "POST",
            "experiments/delete-experiment-tag",
            json={"experiment_id": experiment_id, "key": key},
        )

    # -- runs ----------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str,
    ) -> Run:
        body = {
            "experiment_id": experiment_id,
            "user_id": user_id,
            "start_time": start_time,
            "run_name": run_name,
            "tags": [{"key": t.key, "value": t.value} for t in tags],
        }
        return wire.run_from_json(self._call("POST", "runs/create", json=body)["run"])

    def get_run(self, run_id: str) -> Run:
        return wire.run_from_json(self._call("GET", "runs/get", params={"run_id": run_id})["run"])

    def update_run_info(
        self,
        run_id: str,
        status: str | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        body: dict[str, Any] = {"run_id": run_id}
        if status is not None:
            body["status"] = status
        if end_time is not None:
            body["end_time"] = end_time
        if run_name:
            body["run_name"] = run_name
        data = self._call("POST", "runs/update", idempotent=True, json=body)
        return wire.run_info_from_json(data["run_info"])

    def delete_run(self, run_id: str) -> None:
        self._call("POST", "runs/delete", idempotent=True, json={"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self._call("POST", "runs/restore", idempotent=True, json={"run_id": run_id})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        request_id: str | None = None,
        heartbeat: bool = False,
    ) -> None:
        """Send a batch. To a labtrack server: columnar, in chunks of 200k points, each
        with a request id so a retry is applied once, and the heartbeat with the first.
        To an MLflow server: log-batch in chunks within MLflow's limits (no heartbeat)."""
        if "runs/log-bulk" in self.capabilities:
            beat = heartbeat and HEARTBEATS in self.capabilities
            self._log_bulk(run_id, metrics, params, tags, request_id, beat)
        else:
            self._log_mlflow_batches(run_id, metrics, params, tags)

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """To a labtrack server that keeps heartbeats; nothing to any other."""
        if run_ids and HEARTBEATS in self.capabilities:
            self.http.request(
                "POST",
                f"{LABTRACK_API}/{HEARTBEATS}",
                json={"run_ids": list(run_ids)},
                idempotent=True,
            )

    def _log_bulk(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
        request_id: str | None,
        heartbeat: bool,
    ) -> None:
        """The batch in requests within the bulk endpoint's limits, each with its own id."""
        metric_chunks = list(_bulk_metric_chunks(metrics))
        param_chunks = list(_bulk_text_chunks(params, MAX_BULK_PARAMS))
        tag_chunks = list(_bulk_text_chunks(tags, MAX_BULK_TAGS))
        count = max(len(metric_chunks), len(param_chunks), len(tag_chunks), 1)
        batch_id = request_id or uuid.uuid4().hex
        for n in range(count):
            chunk = metric_chunks[n] if n < len(metric_chunks) else ()
            some_params = param_chunks[n] if n < len(param_chunks) else ()
            some_tags = tag_chunks[n] if n < len(tag_chunks) else ()
            body: dict[str, Any] = {
                "run_id": run_id,
                "request_id": f"{batch_id}-{n}" if count > 1 else batch_id,
            }
            if chunk:
                body["metrics"] = _columns(chunk)
            if some_params:
                body["params"] = [{"key": p.key, "value": p.value} for p in some_params]
            if some_tags:
                body["tags"] = [{"key": t.key, "value": t.value} for t in some_tags]
            if n == 0 and heartbeat:
                body["heartbeat"] = True
            self.http.request("POST", f"{LABTRACK_API}/runs/log-bulk", json=body, idempotent=True)

    def _log_mlflow_batches(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        items: list[tuple[str, Any]] = [
            *(("params", {"key": p.key, "value": p.value}) for p in params),
            *(("tags", {"key": t.key, "value": t.value}) for t in tags),
            *(("metrics", wire.metric_to_json(m)) for m in metrics),
        ]
        batch: dict[str, list[Any]] = {"metrics": [], "params": [], "tags": []}
        size = 0
        limits = {
            "metrics": MAX_METRICS_PER_BATCH,
            "params": MAX_PARAMS_TAGS_PER_BATCH,
            "tags": MAX_PARAMS_TAGS_PER_BATCH,
        }

        def send() -> None:
            nonlocal batch, size
            if any(batch.values()):
                self._call("POST", "runs/log-batch", json={"run_id": run_id, **batch})
            batch = {"metrics": [], "params": [], "tags": []}
            size = 0

        for kind, item in items:
            item_size = len(str(item)) + 8
            total = sum(len(v) for v in batch.values())
            if (
                len(batch[kind]) >= limits[kind]
                or total >= MAX_ENTITIES_PER_BATCH
                or size + item_size > MAX_BATCH_LOG_REQUEST_SIZE // 2
            ):
                send()
            batch[kind].append(item)
            size += item_size
        send()

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("POST", "runs/delete-tag", json={"run_id": run_id, "key": key})

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        if max_results is None and page_token is None:
            if "metrics/history-columns" in self.capabilities:
                steps, stamps, values = self.get_metric_history_columns(run_id, key)
                new = tuple.__new__
                with paused_gc():
                    points = [
                        new(Metric, (key, v, ts, s))
                        for s, ts, v in zip(steps, stamps, values, strict=True)
                    ]
                return PagedList(points, None)
            return PagedList(self._all_history_pages(run_id, key), None)
        params: dict[str, Any] = {"run_id": run_id, "metric_key": key}
        if max_results is not None:
            params["max_results"] = max_results
        if page_token:
            params["page_token"] = page_token
        data = self._call("GET", "metrics/get-history", params=params)
        return PagedList(
            [wire.metric_from_json(m) for m in data.get("metrics", ())],
            data.get("next_page_token") or None,
        )

    def _all_history_pages(self, run_id: str, key: str) -> list[Metric]:
        points: list[Metric] = []
        token = None
        while True:
            page = self.get_metric_history(run_id, key, MAX_RESULTS_METRIC_HISTORY, token or "")
            points.extend(page)
            token = page.token
            if not token:
                return points

    def get_metric_history_columns(
        self, run_id: str, key: str
    ) -> tuple[list[int], list[int], list[float]]:
        data = self.http.json(
            "GET", f"{LABTRACK_API}/metrics/history-columns", params={"run_id": run_id, "key": key}
        )
        to_float = wire.float_from_json
        values = [v if type(v) is float else to_float(v) for v in data["values"]]
        return data["steps"], data["timestamps"], values

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: int,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> PagedList[Run]:
        body: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "run_view_type": _VIEW_NAMES[view_type],
            "max_results": max_results,
        }
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = list(order_by)
        if page_token:
            body["page_token"] = page_token
        data = self._call("POST", "runs/search", idempotent=True, json=body)
        return PagedList(
            [wire.run_from_json(r) for r in data.get("runs", ())],
            data.get("next_page_token") or None,
        )

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self._call(
            "POST",
            "runs/log-inputs",
            idempotent=True,
            json={"run_id": run_id, "datasets": [wire.dataset_input_to_json(d) for d in datasets]},
        )

    # -- logged models (MLflow 3) ----------------------------------------------------------
    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None = None,
        model_type: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> LoggedModel:
        items = list((params or {}).items())
        body: dict[str, Any] = {
            "experiment_id": experiment_id,
            "name": name,
            "tags": _key_values((tags or {}).items()),
            "params": _key_values(items[:MODEL_PARAMS_PER_REQUEST]),
        }
        if source_run_id:
            body["source_run_id"] = source_run_id
        if model_type:
            body["model_type"] = model_type
        model = wire.logged_model_from_json(self._call("POST", "logged-models", json=body)["model"])
        if len(items) > MODEL_PARAMS_PER_REQUEST:
            self.log_logged_model_params(model.model_id, dict(items[MODEL_PARAMS_PER_REQUEST:]))
            model = self.get_logged_model(model.model_id)
        return model

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        params = {"allow_deleted": "true"} if allow_deleted else None
        data = self._call("GET", f"logged-models/{_segment(model_id)}", params=params)
        return wire.logged_model_from_json(data["model"])

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        body = {"model_id": model_id, "status": wire.MODEL_STATUS_TO_JSON[status]}
        data = self._call(
            "PATCH", f"logged-models/{_segment(model_id)}", idempotent=True, json=body
        )
        return wire.logged_model_from_json(data["model"])

    def delete_logged_model(self, model_id: str) -> None:
        self._call("DELETE", f"logged-models/{_segment(model_id)}", json={"model_id": model_id})

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        self._call(
            "PATCH",
            f"logged-models/{_segment(model_id)}/tags",
            idempotent=True,
            json={"model_id": model_id, "tags": _key_values(tags.items())},
        )

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        from urllib.parse import quote

        self._call("DELETE", f"logged-models/{_segment(model_id)}/tags/{quote(key, safe='/')}")

    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        items = list(params.items())
        for start in range(0, len(items), MODEL_PARAMS_PER_REQUEST):
            self._call(
                "POST",
                f"logged-models/{_segment(model_id)}/params",
                idempotent=True,  # params are immutable: sending the same ones again is a no-op
                json={
                    "model_id": model_id,
                    "params": _key_values(items[start : start + MODEL_PARAMS_PER_REQUEST]),
                },
            )

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[LoggedModelDatasetFilter] = (),
        max_results: int = 100,
        order_by: Sequence[LoggedModelOrderBy] = (),
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        body: dict[str, Any] = {"experiment_ids": list(experiment_ids), "max_results": max_results}
        if filter_string:
            body["filter"] = filter_string
        if datasets:
            body["datasets"] = [
                {"dataset_name": d.dataset_name, "dataset_digest": d.dataset_digest}
                for d in datasets
            ]
        if order_by:
            body["order_by"] = [
                {
                    "field_name": o.field_name,
                    "ascending": o.ascending,
                    "dataset_name": o.dataset_name,
                    "dataset_digest": o.dataset_digest,
                }
                for o in order_by
            ]
        if page_token:
            body["page_token"] = page_token
        data = self._call("POST", "logged-models/search", idempotent=True, json=body)
        return PagedList(
            [wire.logged_model_from_json(m) for m in data.get("models", ())],
            data.get("next_page_token") or None,
        )

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        self._call(
            "POST",
            "runs/outputs",
            idempotent=True,
            json={"run_id": run_id, "models": [wire.model_output_to_json(m) for m in models]},
        )

    def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        self._call(
            "POST",
            "runs/log-inputs",
            idempotent=True,
            json={"run_id": run_id, "models": [{"model_id": m.model_id} for m in models]},
        )

    def log_model_metrics(self, run_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        """log-batch requests whose metrics name their model (idempotent: points already
        logged and linked are not stored again)."""
        for start in range(0, max(len(metrics), 1), MAX_METRICS_PER_BATCH):
            chunk = metrics[start : start + MAX_METRICS_PER_BATCH]
            self._call(
                "POST",
                "runs/log-batch",
                idempotent=True,
                json={"run_id": run_id, "metrics": [wire.model_metric_to_json(m) for m in chunk]},
            )

    # -- model registry -------------------------------------------------------------------
    # The server records who made each change from the request (the X-Labtrack-User header
    # every labtrack client sends), so the ``user`` arguments are not sent.
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str],
        description: str | None,
        user: str,
    ) -> RegisteredModel:
        body: dict[str, Any] = {"name": name, "tags": _key_values(tags.items())}
        if description is not None:
            body["description"] = description
        data = self._call("POST", "registered-models/create", json=body)
        return wire.registered_model_from_json(data["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        data = self._call("GET", "registered-models/get", params={"name": name})
        return wire.registered_model_from_json(data["registered_model"])

    def rename_registered_model(self, name: str, new_name: str, user: str) -> RegisteredModel:
        data = self._call(
            "POST", "registered-models/rename", json={"name": name, "new_name": new_name}
        )
        return wire.registered_model_from_json(data["registered_model"])

    def update_registered_model(
        self, name: str, description: str | None, user: str
    ) -> RegisteredModel:
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        data = self._call("PATCH", "registered-models/update", idempotent=True, json=body)
        return wire.registered_model_from_json(data["registered_model"])

    def delete_registered_model(self, name: str, user: str) -> None:
        # Not retried: a retry of a delete that went through would report "not found".
        self._call("DELETE", "registered-models/delete", idempotent=False, json={"name": name})

    def search_registered_models(
        self,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> PagedList[RegisteredModel]:
        params = _search_params(filter_string, max_results, order_by, page_token)
        data = self._call("GET", "registered-models/search", params=params)
        return PagedList(
            [wire.registered_model_from_json(m) for m in data.get("registered_models", ())],
            data.get("next_page_token") or None,
        )

    def get_latest_versions(self, name: str, stages: Sequence[str] | None) -> list[ModelVersion]:
        data = self._call(
            "POST",
            "registered-models/get-latest-versions",
            idempotent=True,
            json={"name": name, "stages": list(stages or ())},
        )
        return [wire.model_version_from_json(v) for v in data.get("model_versions", ())]

    def set_registered_model_tag(self, name: str, key: str, value: str, user: str) -> None:
        self._call(
            "POST",
            "registered-models/set-tag",
            idempotent=True,
            json={"name": name, "key": key, "value": value},
        )

    def delete_registered_model_tag(self, name: str, key: str, user: str) -> None:
        self._call("DELETE", "registered-models/delete-tag", json={"name": name, "key": key})

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
        body: dict[str, Any] = {"name": name, "source": source, "tags": _key_values(tags.items())}
        for field, value in (
            ("run_id", run_id),
            ("run_link", run_link),
            ("description", description),
            ("model_id", model_id),
        ):
            if value is not None:
                body[field] = value
        data = self._call("POST", "model-versions/create", json=body)
        return wire.model_version_from_json(data["model_version"])

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        data = self._call(
            "GET", "model-versions/get", params={"name": name, "version": str(version)}
        )
        return wire.model_version_from_json(data["model_version"])

    def update_model_version(
        self, name: str, version: int, description: str | None, user: str
    ) -> ModelVersion:
        body: dict[str, Any] = {"name": name, "version": str(version)}
        if description is not None:
            body["description"] = description
        data = self._call("PATCH", "model-versions/update", idempotent=True, json=body)
        return wire.model_version_from_json(data["model_version"])

    def transition_model_version_stage(
        self, name: str, version: int, stage: str, archive_existing_versions: bool, user: str
    ) -> ModelVersion:
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": archive_existing_versions,
        }
        data = self._call("POST", "model-versions/transition-stage", idempotent=True, json=body)
        return wire.model_version_from_json(data["model_version"])

    def delete_model_version(self, name: str, version: int, user: str) -> None:
        self._call(
            "DELETE",
            "model-versions/delete",
            idempotent=False,
            json={"name": name, "version": str(version)},
        )

    def get_model_version_download_uri(self, name: str, version: int) -> str:
        data = self._call(
            "GET",
            "model-versions/get-download-uri",
            params={"name": name, "version": str(version)},
        )
        return str(data["artifact_uri"])

    def search_model_versions(
        self,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> PagedList[ModelVersion]:
        params = _search_params(filter_string, max_results, order_by, page_token)
        data = self._call("GET", "model-versions/search", params=params)
        return PagedList(
            [wire.model_version_from_json(v) for v in data.get("model_versions", ())],
            data.get("next_page_token") or None,
        )

    def set_model_version_tag(
        self, name: str, version: int, key: str, value: str, user: str
    ) -> None:
        self._call(
            "POST",
            "model-versions/set-tag",
            idempotent=True,
            json={"name": name, "version": str(version), "key": key, "value": value},
        )

    def delete_model_version_tag(self, name: str, version: int, key: str, user: str) -> None:
        self._call(
            "DELETE",
            "model-versions/delete-tag",
            json={"name": name, "version": str(version), "key": key},
        )

    def set_registered_model_alias(self, name: str, alias: str, version: int, user: str) -> None:
        self._call(
            "POST",
            "registered-models/alias",
            idempotent=True,
            json={"name": name, "alias": alias, "version": str(version)},
        )

    def delete_registered_model_alias(self, name: str, alias: str, user: str) -> None:
        self._call("DELETE", "registered-models/alias", json={"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        data = self._call("GET", "registered-models/alias", params={"name": name, "alias": alias})
        return wire.model_version_from_json(data["model_version"])

    def get_registry_events(
        self,
        name: str | None = None,
        actions: Sequence[str] = (),
        start_time: int | None = None,
        end_time: int | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> PagedList[RegistryEvent]:
        params: dict[str, Any] = {"max_results": max_results}
        for field, value in (
            ("name", name),
            ("start_time", start_time),
            ("end_time", end_time),
            ("page_token", page_token),
        ):
            if value is not None:
                params[field] = value
        if actions:
            params["action"] = list(actions)
        try:
            data = self.http.json("GET", f"{LABTRACK_API}/registry/events", params=params)
        except EndpointNotFound:
            raise NotImplementedYet(
                f"The server at {self.uri} has no registry event log (it is not a labtrack server)"
            ) from None
        return PagedList(
            [wire.registry_event_from_json(e) for e in data.get("events", ())],
            data.get("next_page_token") or None,
        )


MODEL_PARAMS_PER_REQUEST = 100  # MLflow's batch size for a logged model's params


def _key_values(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in items]


def _segment(model_id: str) -> str:
    """A model id as one URL path segment."""
    from urllib.parse import quote

    return quote(model_id, safe="")


_KeyValue = TypeVar("_KeyValue", Param, RunTag)


def _bulk_metric_chunks(metrics: Sequence[Metric]) -> Iterator[Sequence[Metric]]:
    """``metrics`` in runs of at most MAX_BULK_METRIC_POINTS points of MAX_BULK_METRIC_KEYS
    keys (the bulk endpoint's per-request limits)."""
    start, keys = 0, set[str]()
    for i, metric in enumerate(metrics):
        if metric.key not in keys:
            if len(keys) == MAX_BULK_METRIC_KEYS:
                yield metrics[start:i]
                start, keys = i, set()
            keys.add(metric.key)
        if i + 1 - start == MAX_BULK_METRIC_POINTS:
            yield metrics[start : i + 1]
            start, keys = i + 1, set()
    if start < len(metrics):
        yield metrics[start:]


def _bulk_text_chunks(items: Sequence[_KeyValue], limit: int) -> Iterator[Sequence[_KeyValue]]:
    """Params (or tags) in runs of at most ``limit`` items, each with a share of
    MAX_BULK_TEXT characters of keys and values (params and tags go in the same requests)."""
    start, size = 0, 0
    share = MAX_BULK_TEXT // 2
    for i, item in enumerate(items):
        length = len(item.key) + len(item.value)
        if i > start and (i - start == limit or size + length > share):
            yield items[start:i]
            start, size = i, 0
        size += length
    if start < len(items):
        yield items[start:]


def _columns(metrics: Sequence[Metric]) -> dict[str, Any]:
    index: dict[str, int] = {}
    to_json = wire.float_to_json
    finite = math.isfinite
    key_index = [index.setdefault(m.key, len(index)) for m in metrics]
    return {
        "keys": list(index),
        "key_index": key_index,
        "values": [m.value if finite(m.value) else to_json(m.value) for m in metrics],
        "timestamps": [m.timestamp for m in metrics],
        "steps": [m.step for m in metrics],
    }


def _search_params(
    filter_string: str | None,
    max_results: int,
    order_by: Sequence[str] | None,
    page_token: str | None,
) -> dict[str, Any]:
    """The query of a registry search (MLflow's are GET requests)."""
    params: dict[str, Any] = {"max_results": max_results}
    if filter_string:
        params["filter"] = filter_string
    if order_by:
        params["order_by"] = list(order_by)
    if page_token:
        params["page_token"] = page_token
    return params
