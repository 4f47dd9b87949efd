"""Entities to and from MLflow's REST JSON, for the server and the REST client alike.

The shapes follow MLflow's protobuf JSON: snake_case field names, int64 as numbers
(strings accepted on input), doubles as numbers except NaN and infinities, which
are the strings "NaN", "Infinity" and "-Infinity"; unset fields are left out.
labtrack adds one field MLflow clients ignore: ``data.metric_summaries`` with each
metric's min, max and count.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from labtrack.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    InputTag,
    LoggedModel,
    LoggedModelInput,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    MetricSummary,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunTag,
)
from labtrack.errors import InvalidParameterValue

_SPECIAL_TO_JSON = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_SPECIAL_FROM_JSON = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def float_to_json(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return _SPECIAL_TO_JSON[repr(value)]


def shown_value(value: Any) -> str:
    """A request's value as MLflow's server shows it in errors: JSON (``"foo"``, ``5``,
    ``[1,2]``), not Python's repr; cut at 100 characters (a huge value is not echoed)."""
    try:
        shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        shown = repr(value)
    return shown if len(shown) <= 100 else shown[:100] + "..."


def invalid_type(value: Any, field: str) -> InvalidParameterValue:
    """MLflow's server's words for a request field of the wrong type (``{"name": 5}``)."""
    return InvalidParameterValue(
        f"Invalid value {shown_value(value)} for parameter '{field}' supplied:  Hint: Value "
        f"was of type "
        f"'{type(value).__name__}'. See the API docs for more information about request "
        "parameters."
    )


def float_from_json(value: Any, field: str = "value") -> float:
    if isinstance(value, bool):
        raise invalid_type(value, field)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL_FROM_JSON.get(value)
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise invalid_type(value, field)


def int_from_json(value: Any, field: str) -> int:
    """int64 fields arrive as numbers or, from protobuf JSON writers, as digit strings."""
    if isinstance(value, bool):
        raise invalid_type(value, field)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise invalid_type(value, field)


def optional_string(d: Mapping[str, Any], name: str, path: str) -> Any:
    """A message's string field ``name`` (None when left out); ``path`` names the message."""
    value = d.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid_type(value, f"{path}.{name}")
    return value


def message(d: Any, path: str) -> Mapping[str, Any]:
    """``d`` when it is a JSON object (a protobuf message), else MLflow's type error."""
    if not isinstance(d, Mapping):
        raise invalid_type(d, path)
    return d


def _key_values(items: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in items.items()]


def _pairs(items: Any) -> dict[str, str]:
    return {item["key"]: item.get("value", "") for item in items or ()}


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


# -- experiments ---------------------------------------------------------------------------
def experiment_to_json(e: Experiment) -> dict[str, Any]:
    out = _compact(
        {
            "experiment_id": e.experiment_id,
            "name": e.name,
            "artifact_location": e.artifact_location,
            "lifecycle_stage": e.lifecycle_stage,
            "last_update_time": e.last_update_time,
            "creation_time": e.creation_time,
        }
    )
    if e.tags:
        out["tags"] = _key_values(e.tags)
    return out


def experiment_from_json(d: Mapping[str, Any]) -> Experiment:
    return Experiment(
        experiment_id=str(d["experiment_id"]),
        name=d.get("name", ""),
        artifact_location=d.get("artifact_location", ""),
        lifecycle_stage=d.get("lifecycle_stage", "active"),
        tags=_pairs(d.get("tags")),
        creation_time=_opt_int(d.get("creation_time"), "creation_time"),
        last_update_time=_opt_int(d.get("last_update_time"), "last_update_time"),
    )


def _opt_int(value: Any, field: str) -> int | None:
    return None if value is None else int_from_json(value, field)


# -- runs ------------------------------------------------------------------------------
def metric_to_json(m: Metric) -> dict[str, Any]:
    return {"key": m.key, "value": float_to_json(m.value), "timestamp": m.timestamp, "step": m.step}


def metric_from_json(d: Any, path: str = "metric") -> Metric:
    d = message(d, path)
    return Metric(
        key=optional_string(d, "key", path),  # validated (required) by the service
        value=float_from_json(d.get("value"), f"{path}.value"),
        timestamp=int_from_json(d.get("timestamp", 0), f"{path}.timestamp"),
        step=int_from_json(d.get("step", 0), f"{path}.step"),
    )


def run_info_to_json(info: RunInfo) -> dict[str, Any]:
    return _compact(
        {
            "run_id": info.run_id,
            "run_uuid": info.run_id,
            "run_name": info.run_name,
            "experiment_id": info.experiment_id,
            "user_id": info.user_id,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "artifact_uri": info.artifact_uri,
            "lifecycle_stage": info.lifecycle_stage,
        }
    )


def run_info_from_json(d: Mapping[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=d.get("run_id") or d["run_uuid"],
        experiment_id=str(d.get("experiment_id", "")),
        run_name=d.get("run_name", ""),
        user_id=d.get("user_id", ""),
        status=d.get("status", "RUNNING"),
        start_time=_opt_int(d.get("start_time"), "start_time"),
        end_time=_opt_int(d.get("end_time"), "end_time"),
        artifact_uri=d.get("artifact_uri", ""),
        lifecycle_stage=d.get("lifecycle_stage", "active"),
    )


def dataset_input_to_json(item: DatasetInput) -> dict[str, Any]:
    ds = item.dataset
    out: dict[str, Any] = {
        "dataset": _compact(
            {
                "name": ds.name,
                "digest": ds.digest,
                "source_type": ds.source_type,
                "source": ds.source,
                "schema": ds.schema,
                "profile": ds.profile,
            }
        )
    }
    if item.tags:
        out["tags"] = [{"key": t.key, "value": t.value} for t in item.tags]
    return out


def dataset_input_from_json(d: Any, path: str = "dataset_input") -> DatasetInput:
    d = message(d, path)
    ds = message(d.get("dataset"), f"{path}.dataset")
    required = {}
    for field in ("name", "digest", "source_type", "source"):
        value = optional_string(ds, field, f"{path}.dataset")
        if not value:
            raise InvalidParameterValue(
                f"Missing value for required parameter '{path}.dataset.{field}'."
            )
        required[field] = value
    tags = d.get("tags") or []
    if not isinstance(tags, list):
        raise invalid_type(tags, f"{path}.tags")
    input_tags = []
    for i, item in enumerate(tags):
        tag = tag_from_json(item, f"{path}.tags[{i}]")
        if tag.key is None:
            raise InvalidParameterValue(
                f"Missing value for required parameter '{path}.tags[{i}].key'."
            )
        input_tags.append(InputTag(tag.key, tag.value or ""))
    return DatasetInput(
        Dataset(
            **required,
            schema=optional_string(ds, "schema", f"{path}.dataset"),
            profile=optional_string(ds, "profile", f"{path}.dataset"),
        ),
        tuple(input_tags),
    )


def run_to_json(run: Run) -> dict[str, Any]:
    data: dict[str, Any] = {}
    summaries = run.data.metric_summaries
    if summaries:
        data["metrics"] = [
            {
                "key": s.key,
                "value": float_to_json(s.latest),
                "timestamp": s.timestamp,
                "step": s.step,
            }
            for s in summaries.values()
        ]
        data["metric_summaries"] = [
            {
                "key": s.key,
                "min": float_to_json(s.min),
                "max": float_to_json(s.max),
                "count": s.count,
            }
            for s in summaries.values()
        ]
    if run.data.params:
        data["params"] = _key_values(run.data.params)
    if run.data.tags:
        data["tags"] = _key_values(run.data.tags)
    out: dict[str, Any] = {"info": run_info_to_json(run.info), "data": data}
    if run.inputs.dataset_inputs:
        out["inputs"] = {
            "dataset_inputs": [dataset_input_to_json(i) for i in run.inputs.dataset_inputs]
        }
    else:
        out["inputs"] = {}
    if run.inputs.model_inputs:
        out["inputs"]["model_inputs"] = [{"model_id": m.model_id} for m in run.inputs.model_inputs]
    if run.outputs.model_outputs:
        outputs = run.outputs.model_outputs
        out["outputs"] = {"model_outputs": [model_output_to_json(m) for m in outputs]}
    out.setdefault("outputs", {})  # MLflow's runs/get and runs/search always send it
    return out


def run_from_json(d: Mapping[str, Any]) -> Run:
    data = d.get("data") or {}
    extra = {s["key"]: s for s in data.get("metric_summaries") or ()}
    summaries = {}
    for m in data.get("metrics") or ():
        latest = float_from_json(m.get("value"), "metric.value")
        s = extra.get(m["key"])
        summaries[m["key"]] = MetricSummary(
            key=m["key"],
            latest=latest,
            step=int_from_json(m.get("step", 0), "step"),
            timestamp=int_from_json(m.get("timestamp", 0), "timestamp"),
            min=float_from_json(s["min"]) if s else latest,
            max=float_from_json(s["max"]) if s else latest,
            count=int(s["count"]) if s else 1,
        )
    inputs = (d.get("inputs") or {}).get("dataset_inputs") or ()
    model_inputs = (d.get("inputs") or {}).get("model_inputs") or ()
    model_outputs = (d.get("outputs") or {}).get("model_outputs") or ()
    return Run(
        info=run_info_from_json(d["info"]),
        data=RunData(
            metrics={k: s.latest for k, s in summaries.items()},
            params=_pairs(data.get("params")),
            tags=_pairs(data.get("tags")),
            metric_summaries=summaries,
        ),
        inputs=RunInputs(
            tuple(dataset_input_from_json(i) for i in inputs),
            tuple(model_input_from_json(m) for m in model_inputs),
        ),
        outputs=RunOutputs(tuple(model_output_from_json(m) for m in model_outputs)),
    )


def tag_from_json(d: Any, path: str = "tag") -> RunTag:
    """A ``{key, value}`` tag (or param); a left-out key or value is None."""
    d = message(d, path)
    return RunTag(optional_string(d, "key", path), optional_string(d, "value", path))


def file_info_to_json(f: FileInfo) -> dict[str, Any]:
    return _compact({"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size})


def file_info_from_json(d: Mapping[str, Any]) -> FileInfo:
    size = d.get("file_size")
    return FileInfo(
        path=d["path"],
        is_dir=bool(d.get("is_dir", False)),
        file_size=None if size is None else int_from_json(size, "file_size"),
    )


# -- logged models -------------------------------------------------------------------
# MLflow's LoggedModelStatus enum: names on the wire, numbers accepted too.
MODEL_STATUS_TO_JSON = {
    LoggedModelStatus.UNSPECIFIED: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}
_MODEL_STATUS_FROM_JSON: dict[Any, str] = {
    **{name: status for status, name in MODEL_STATUS_TO_JSON.items()},
    **{number: status for number, status in enumerate(LoggedModelStatus.ALL)},
}


def model_status_from_json(value: Any, field: str = "status") -> str:
    """A LoggedModelStatus from its MLflow enum name or number (0-3)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    status = None if isinstance(value, bool) else _MODEL_STATUS_FROM_JSON.get(value)
    if status is None:
        raise InvalidParameterValue(
            f"Invalid value {value!r} for parameter '{field}': expected one of "
            f"{', '.join(MODEL_STATUS_TO_JSON.values())}"
        )
    return status


def model_metric_to_json(m: LoggedModelMetric) -> dict[str, Any]:
    return _compact(
        {
            "key": m.key,
            "value": float_to_json(m.value),
            "timestamp": m.timestamp,
            "step": m.step,
            "model_id": m.model_id,
            "run_id": m.run_id,
            "dataset_name": m.dataset_name,
            "dataset_digest": m.dataset_digest,
        }
    )


def model_metric_from_json(d: Mapping[str, Any], path: str = "metric") -> LoggedModelMetric:
    """A metric that names a ``model_id`` (as MLflow 3 clients send in log-metric/log-batch)."""
    if not isinstance(d, Mapping):
        raise InvalidParameterValue(f"Invalid value {d!r} for parameter '{path}': not an object")
    point = metric_from_json(d, path)
    return LoggedModelMetric(
        key=point.key,
        value=point.value,
        timestamp=point.timestamp,
        step=point.step,
        model_id=d.get("model_id"),  # type: ignore[arg-type]  # validated by the service
        run_id=d.get("run_id") or None,
        dataset_name=d.get("dataset_name") or None,
        dataset_digest=d.get("dataset_digest") or None,
    )


def logged_model_to_json(model: LoggedModel) -> dict[str, Any]:
    """MLflow's ``LoggedModel`` message: ``{"info": {...}, "data": {...}}``.

    ``info.lifecycle_stage`` is a labtrack addition (MLflow clients ignore it).
    """
    info = _compact(
        {
            "model_id": model.model_id,
            "experiment_id": model.experiment_id,
            "name": model.name,
            "creation_timestamp_ms": model.creation_timestamp,
            "last_updated_timestamp_ms": model.last_updated_timestamp,
            "artifact_uri": model.artifact_location,
            "status": MODEL_STATUS_TO_JSON[model.status],
            "model_type": model.model_type,
            "source_run_id": model.source_run_id,
            "status_message": model.status_message,
            "lifecycle_stage": model.lifecycle_stage,
        }
    )
    if model.tags:
        info["tags"] = _key_values(model.tags)
    data: dict[str, Any] = {}
    if model.params:
        data["params"] = _key_values(model.params)
    if model.metrics:
        data["metrics"] = [model_metric_to_json(m) for m in model.metrics]
    return {"info": info, "data": data}


def logged_model_from_json(d: Mapping[str, Any]) -> LoggedModel:
    info = d.get("info") or {}
    data = d.get("data") or {}
    return LoggedModel(
        model_id=info["model_id"],
        experiment_id=str(info.get("experiment_id", "")),
        name=info.get("name", ""),
        artifact_location=info.get("artifact_uri", ""),
        creation_timestamp=int_from_json(info.get("creation_timestamp_ms", 0), "creation_time"),
        last_updated_timestamp=int_from_json(
            info.get("last_updated_timestamp_ms", 0), "last_updated_timestamp_ms"
        ),
        status=model_status_from_json(info.get("status", 0)),
        status_message=info.get("status_message") or None,
        model_type=info.get("model_type") or None,
        source_run_id=info.get("source_run_id") or None,
        lifecycle_stage=info.get("lifecycle_stage", "active"),
        tags=_pairs(info.get("tags")),
        params=_pairs(data.get("params")),
        metrics=tuple(model_metric_from_json(m) for m in data.get("metrics") or ()),
    )


def model_output_to_json(m: LoggedModelOutput) -> dict[str, Any]:
    return {"model_id": m.model_id, "step": m.step}


def _model_id(d: Any, path: str) -> str:
    model_id = optional_string(message(d, path), "model_id", path)
    if not model_id:
        raise InvalidParameterValue(f"Missing value for required parameter '{path}.model_id'.")
    return str(model_id)


def model_output_from_json(d: Any, path: str = "model_output") -> LoggedModelOutput:
    model_id = _model_id(d, path)
    return LoggedModelOutput(model_id, int_from_json(d.get("step", 0), f"{path}.step"))


def model_input_from_json(d: Any, path: str = "model_input") -> LoggedModelInput:
    return LoggedModelInput(_model_id(d, path))


# -- model registry ---------------------------------------------------------------------
def model_version_to_json(mv: ModelVersion) -> dict[str, Any]:
    """MLflow's ``ModelVersion`` message (the version number as a string, as in MLflow)."""
    out = _compact(
        {
            "name": mv.name,
            "version": str(mv.version),
            "creation_timestamp": mv.creation_timestamp,
            "last_updated_timestamp": mv.last_updated_timestamp,
            "user_id": mv.user_id,
            "current_stage": mv.current_stage,
            "description": mv.description,
            "source": mv.source,
            "run_id": mv.run_id,
            "status": mv.status,
            "status_message": mv.status_message,
            "run_link": mv.run_link,
            "model_id": mv.model_id,
        }
    )
    if mv.tags:
        out["tags"] = _key_values(mv.tags)
    if mv.aliases:
        out["aliases"] = list(mv.aliases)
    return out


def model_version_from_json(d: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=d["name"],
        version=int_from_json(d["version"], "version"),
        creation_timestamp=int_from_json(d.get("creation_timestamp", 0), "creation_timestamp"),
        last_updated_timestamp=int_from_json(
            d.get("last_updated_timestamp", 0), "last_updated_timestamp"
        ),
        source=d.get("source", ""),
        current_stage=d.get("current_stage") or "None",
        description=d.get("description") or None,
        user_id=d.get("user_id") or None,
        run_id=d.get("run_id") or None,
        run_link=d.get("run_link") or None,
        model_id=d.get("model_id") or None,
        status=d.get("status") or "READY",
        status_message=d.get("status_message") or None,
        tags=_pairs(d.get("tags")),
        aliases=tuple(d.get("aliases") or ()),
    )


def registered_model_to_json(rm: RegisteredModel) -> dict[str, Any]:
    """MLflow's ``RegisteredModel`` message."""
    out = _compact(
        {
            "name": rm.name,
            "creation_timestamp": rm.creation_timestamp,
            "last_updated_timestamp": rm.last_updated_timestamp,
            "user_id": rm.user_id,
            "description": rm.description,
        }
    )
    if rm.latest_versions:
        out["latest_versions"] = [model_version_to_json(v) for v in rm.latest_versions]
    if rm.tags:
        out["tags"] = _key_values(rm.tags)
    if rm.aliases:
        out["aliases"] = [{"alias": a, "version": str(v)} for a, v in rm.aliases.items()]
    return out


def registered_model_from_json(d: Mapping[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=d["name"],
        creation_timestamp=int_from_json(d.get("creation_timestamp", 0), "creation_timestamp"),
        last_updated_timestamp=int_from_json(
            d.get("last_updated_timestamp", 0), "last_updated_timestamp"
        ),
        description=d.get("description") or None,
        user_id=d.get("user_id") or None,
        latest_versions=tuple(model_version_from_json(v) for v in d.get("latest_versions") or ()),
        tags=_pairs(d.get("tags")),
        aliases={
            a["alias"]: int_from_json(a["version"], "aliases.version")
            for a in d.get("aliases") or ()
        },
    )


def registry_event_to_json(e: RegistryEvent) -> dict[str, Any]:
    """An event of the registry's log (labtrack's ``/api/2.0/labtrack/registry/events``)."""
    return {
        "event_id": e.event_id,
        "timestamp": e.timestamp,
        "claimed_user": e.claimed_user,
        "action": e.action,
        "name": e.name,
        "version": e.version,
        "from_value": e.from_value,
        "to_value": e.to_value,
        "details": dict(e.details),
    }


def registry_event_from_json(d: Mapping[str, Any]) -> RegistryEvent:
    version = d.get("version")
    return RegistryEvent(
        event_id=int_from_json(d["event_id"], "event_id"),
        timestamp=int_from_json(d["timestamp"], "timestamp"),
        claimed_user=d.get("claimed_user", ""),
        action=d["action"],
        name=d["name"],
        version=None if version is None else int_from_json(version, "version"),
        from_value=d.get("from_value"),
        to_value=d.get("to_value"),
        details=dict(d.get("details") or {}),
    )
