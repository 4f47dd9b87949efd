"""The fluent API: ``lt.start_run()``, ``lt.log_metric()`` ... with MLflow's names and semantics.

There is an active experiment (process-wide) and a stack of active runs (one per
thread, as in MLflow). Metrics, params and tags are queued and written in the
background (see ``_batching``); reads flush first, so you always read what you
logged. Runs end FINISHED, FAILED (the ``with`` block raised) or KILLED
(KeyboardInterrupt, SIGTERM), also when the process exits with a run open; a run whose
process dies without ending it stops sending heartbeats (``_heartbeats``), and the store
marks it crashed (KILLED, tag ``labtrack.crashed``).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from labtrack import validation as v
from labtrack._tags import MLFLOW_DATASET_CONTEXT, MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE
from labtrack.config import settings
from labtrack.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LifecycleStage,
    ModelVersion,
    RegisteredModel,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist
from labtrack.tracking import _batching, _heartbeats
from labtrack.tracking.client import TrackingClient

GIT_DIFF_ARTIFACT = "labtrack/git.diff"
ENVIRONMENT_ARTIFACT = "labtrack/environment.txt"


class ActiveRun:
    """The run ``start_run`` returned; a context manager that ends it on exit."""

    def __init__(self, run: Run, client: TrackingClient | None = None) -> None:
        self._run = run
        self._client = client or _client()
        self._synchronous = not settings.get("async_logging")

    @property
    def info(self) -> Any:
        """The run's info: ids, name, status, times and artifact URI (as when it started)."""
        return self._run.info

    @property
    def data(self) -> Any:
        """The run's params, metrics and tags as they were when it started."""
        return self._run.data

    @property
    def inputs(self) -> Any:
        """The run's dataset inputs as they were when it started."""
        return self._run.inputs

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self.info.run_id!r}, name={self.info.run_name!r}>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not any(r.info.run_id == self.info.run_id for r in _stack()):
            return  # ended inside the block
        end_run(_status_for(exc_type, exc))


def _status_for(exc_type: Any, exc: Any) -> str:
    if exc_type is None:
        return RunStatus.FINISHED
    if issubclass(exc_type, KeyboardInterrupt) or _state.terminated:
        return RunStatus.KILLED
    if issubclass(exc_type, SystemExit) and exc.code in (None, 0):
        return RunStatus.FINISHED
    return RunStatus.FAILED


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []
        self.last_run_id: str | None = None


class _Process:
    """What the fluent API remembers process-wide."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.experiment_id: str | None = None
        self.client: TrackingClient | None = None
        self.open_runs: dict[str, TrackingClient] = {}  # every thread's active runs
        self.hooks_installed = False
        self.uncaught: type[BaseException] | None = None
        self.terminated = False


_local = _State()
_state = _Process()


def _stack() -> list[ActiveRun]:
    return _local.stack


def _client() -> TrackingClient:
    with _state.lock:
        uri = str(settings.get("tracking_uri"))
        if _state.client is None or _state.client.tracking_uri != uri:
            _state.client = TrackingClient(uri)
        return _state.client


# -- tracking URI and experiments -------------------------------------------------
def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Where to track: a database URL or a server URL. Overrides the environment."""
    text = os.fspath(uri)
    if not text.strip():
        raise InvalidParameterValue("The tracking URI must not be empty")
    flush()
    settings.set("tracking_uri", text.strip())


def get_tracking_uri() -> str:
    """The tracking URI in use: the one ``set_tracking_uri`` set, else the environment's."""
    return str(settings.get("tracking_uri"))


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment active (creating it by name if needed) and return it."""
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameterValue("Pass exactly one of experiment_name or experiment_id")
    client = _client()
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    else:
        assert experiment_name is not None
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            try:
                new_id = client.create_experiment(experiment_name)
            except Exception:
                found = client.get_experiment_by_name(experiment_name)  # created concurrently
                if found is None:
                    raise
                new_id = found.experiment_id
            found = client.get_experiment(new_id)
        experiment = found
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidParameterValue(
            f"Cannot set a deleted experiment {experiment.name!r} as the active experiment. "
            "Restore it (lt.restore_experiment / labtrack experiments restore) or use another name."
        )
    with _state.lock:
        _state.experiment_id = experiment.experiment_id
    return experiment


def _active_experiment_id() -> str:
    with _state.lock:
        if _state.experiment_id is not None:
            return _state.experiment_id
    for var in ("LABTRACK_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_ID"):
        if os.environ.get(var):
            return os.environ[var]
    for var in ("LABTRACK_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME"):
        if os.environ.get(var):
            return set_experiment(os.environ[var]).experiment_id
    return "0"


def create_experiment(
    name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
) -> str:
    """Create an experiment and return its id.

    ``artifact_location`` overrides where its runs keep their artifacts.
    """
    return _client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    """The experiment with this id; raises ``ResourceDoesNotExist`` if there is none."""
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment with this name, or None if there is none."""
    return _client().get_experiment_by_name(name)


def search_experiments(
    view_type: int | str = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[Experiment]:
    """All matching experiments (every page), or the first ``max_results``."""
    client = _client()
    found: list[Experiment] = []
    token = None
    while True:
        page_size = (
            min(v.MAX_RESULTS_SEARCH_EXPERIMENTS, max_results - len(found)) if max_results else 1000
        )
        page = client.search_experiments(view_type, page_size, filter_string, order_by, token)
        found.extend(page)
        token = page.token
        if not token or (max_results is not None and len(found) >= max_results):
            return found


def delete_experiment(experiment_id: str) -> None:
    """Mark an experiment deleted; ``restore_experiment`` undoes it."""
    _client().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    """Restore a deleted experiment."""
    _client().restore_experiment(experiment_id)


# -- runs -------------------------------------------------------------------------
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> ActiveRun:
    """Start a new run (or resume ``run_id``) and make it the active run of this thread."""
    flush()
    stack = _stack()
    if stack and not nested:
        raise InvalidParameterValue(
            f"Run with UUID {stack[-1].info.run_id} is already active. To start a new run, "
            "first end the current run with lt.end_run(). To start a nested run, call "
            "start_run with nested=True"
        )
    client = _client()
    if run_id is not None:
        run = _resume(client, run_id, experiment_id, run_name)
    else:
        parent = parent_run_id or (stack[-1].info.run_id if nested and stack else None)
        if parent is not None:
            parent_run = client.get_run(parent)
            if parent_run.info.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidParameterValue(f"Parent run {parent} is deleted")
        exp_id = (
            str(experiment_id)
            if experiment_id is not None
            else (client.get_run(parent).info.experiment_id if parent else _active_experiment_id())
        )
        run = _create(client, exp_id, run_name, parent, tags, description)
    active = ActiveRun(run, client)
    stack.append(active)
    _local.last_run_id = run.info.run_id
    with _state.lock:
        _state.open_runs[run.info.run_id] = client
    heartbeats = _heartbeats.get_heartbeats()
    if heartbeats is not None:
        heartbeats.add(client.store, run.info.run_id)
    _install_process_hooks()
    return active


def _create(
    client: TrackingClient,
    experiment_id: str,
    run_name: str | None,
    parent: str | None,
    tags: Mapping[str, Any] | None,
    description: str | None,
) -> Run:
    from labtrack.tracking.context import collect_run_context

    context = collect_run_context(
        source=settings.get("capture_source"),
        git=settings.get("capture_git"),
        user=settings.get("capture_user"),
        command=settings.get("capture_command"),
        environment=settings.get("capture_environment"),
    )
    all_tags: dict[str, Any] = dict(context.tags)
    all_tags.update(tags or {})
    if parent:
        all_tags[MLFLOW_PARENT_RUN_ID] = parent
    if description is not None:
        all_tags[MLFLOW_RUN_NOTE] = description
    # The run's user is its mlflow.user tag (service.run_user), when the context gave one.
    run = client.service.create_run(experiment_id, tags=all_tags, run_name=run_name)
    if context.git_diff or context.environment:
        from labtrack.artifacts import get_artifact_repository

        repo = get_artifact_repository(run.info.artifact_uri)
        if context.git_diff:
            repo.log_bytes(context.git_diff.encode("utf-8"), GIT_DIFF_ARTIFACT)
        if context.environment:
            repo.log_bytes(context.environment.encode("utf-8"), ENVIRONMENT_ARTIFACT)
    return run


def _resume(
    client: TrackingClient, run_id: str, experiment_id: str | None, run_name: str | None
) -> Run:
    run = client.get_run(run_id)
    if experiment_id is not None and str(experiment_id) != run.info.experiment_id:
        raise InvalidParameterValue(
            f"Cannot resume run {run_id} in experiment {experiment_id}: it belongs to "
            f"experiment {run.info.experiment_id}"
        )
    if run.info.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidParameterValue(f"Cannot resume run {run_id}: it is deleted")
    client.service.update_run(run_id, status=RunStatus.RUNNING, run_name=run_name)
    return client.get_run(run_id)


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the active run of this thread (if any): write what is queued, record the status."""
    stack = _stack()
    if not stack:
        return
    run = stack[-1]
    with _state.lock:
        client = _state.open_runs.get(run.info.run_id) or _client()
    try:
        flush()
    finally:
        stack.pop()
        with _state.lock:
            _state.open_runs.pop(run.info.run_id, None)
        _stop_heartbeats(run.info.run_id)
        client.set_terminated(run.info.run_id, status)


def active_run() -> ActiveRun | None:
    """The active run of this thread, or None."""
    stack = _stack()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, else the last run this thread started (fetched fresh)."""
    current = active_run()
    run_id = current.info.run_id if current else _local.last_run_id
    if run_id is None:
        return None
    flush()
    return _client().get_run(run_id)


def _run_id() -> str:
    stack = _stack()
    if stack:
        return stack[-1].info.run_id
    return start_run().info.run_id


def get_run(run_id: str) -> Run:
    """The run with this id: its info, params, metrics and tags (queued writes flushed first)."""
    flush()
    return _client().get_run(run_id)


def delete_run(run_id: str) -> None:
    """Mark a run deleted (``TrackingClient.restore_run`` undoes it)."""
    flush()
    _client().delete_run(run_id)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The active run's artifact URI (a run is started if none is active).

    With ``artifact_path``, the URI of that path inside it.
    """
    stack = _stack()
    uri = stack[-1].info.artifact_uri if stack else _client().get_run(_run_id()).info.artifact_uri
    if artifact_path:
        from labtrack.artifacts._paths import normalize_artifact_path

        return f"{uri.rstrip('/')}/{normalize_artifact_path(artifact_path)}"
    return uri


# -- logging ----------------------------------------------------------------------
def _synchronous(synchronous: bool | None) -> bool:
    if synchronous is not None:
        return synchronous
    return not settings.get("async_logging")


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    """Log one metric point (queued unless ``synchronous``)."""
    metric = v.validate_metric(
        key, value, int(time.time() * 1000) if timestamp is None else timestamp, step or 0
    )
    _submit(run_id, _batching.METRIC, [metric], synchronous)


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    """Log several metrics at one step and timestamp (queued unless ``synchronous``)."""
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    checked = [v.validate_metric(k, val, ts, step or 0) for k, val in metrics.items()]
    _submit(run_id, _batching.METRIC, checked, synchronous)


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a param and return its value. Params are immutable once logged."""
    param = v.validate_param(key, value, truncate=settings.get("truncate_long_values"))
    _submit(None, _batching.PARAM, [param], synchronous)
    return value


def log_params(params: Mapping[str, Any], synchronous: bool | None = None) -> None:
    """Log several params at once. Params are immutable once logged."""
    truncate = settings.get("truncate_long_values")
    checked = [v.validate_param(k, val, truncate=truncate) for k, val in params.items()]
    _submit(None, _batching.PARAM, checked, synchronous)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    """Set a tag on the active run (starting one if none is active); setting it again overwrites."""
    tag = v.validate_tag(key, value, truncate=settings.get("truncate_long_values"))
    _submit(None, _batching.TAG, [tag], synchronous)


def set_tags(tags: Mapping[str, Any], synchronous: bool | None = None) -> None:
    """Set several tags on the active run at once."""
    truncate = settings.get("truncate_long_values")
    checked = [v.validate_tag(k, val, truncate=truncate) for k, val in tags.items()]
    _submit(None, _batching.TAG, checked, synchronous)


def delete_tag(key: str) -> None:
    """Delete a tag from the active run."""
    flush()
    _client().delete_tag(_run_id(), key)


def _submit(run_id: str | None, kind: int, entities: list[Any], synchronous: bool | None) -> None:
    """Write or queue validated metrics, params or tags of a run.

    An exception to the layers (everything else in the Python API goes through the
    tracking service): metrics, params and tags go from here, and from the batching worker
    (``_batching.py``), straight to the store's ``log_batch``. They were checked by the same
    ``validation`` functions the service applies, at the logging call (so a bad value raises
    there, not later in the worker); ``TrackingService.log_batch`` would check every point
    a second time, about 1 us a point, 15% of the ~6.5 us a queued ``log_metric`` costs in
    all (bench/RESULTS.md, fluent log_metric). Other rules of the service do not apply to
    this path: the run id is the active run's (created by the service) or one passed to
    ``log_metric(run_id=...)``, which the store looks up (an unknown one is refused there),
    and MLflow's per-request caps are for the REST API.
    """
    if not entities:
        return
    stack = _local.stack
    if run_id is None and stack:  # the hot path: no settings or locks touched
        active = stack[-1]
        rid, store = active.info.run_id, active._client.store
        sync = active._synchronous if synchronous is None else synchronous
    else:
        rid = run_id or _run_id()
        store = _client().store
        sync = _synchronous(synchronous)
    if sync:
        flush()
        metrics = entities if kind == _batching.METRIC else []
        params = entities if kind == _batching.PARAM else []
        tags: list[RunTag] = entities if kind == _batching.TAG else []
        store.log_batch(rid, metrics, params, tags, heartbeat=_heartbeats.take(rid))
        return
    queue = _batching.get_queue()
    if len(entities) == 1:
        queue.put(store, rid, kind, entities[0])
    else:
        queue.put_many(store, rid, kind, entities)


def flush() -> None:
    """Write everything queued so far; raise if an earlier queued write failed."""
    queue = _batching._queue
    if queue is not None:
        queue.flush()


def log_input(
    dataset: Dataset, context: str | None = None, tags: Mapping[str, str] | None = None
) -> None:
    """Record a dataset as an input of the active run (``context``: "training", "eval" ...)."""
    if not isinstance(dataset, Dataset):
        raise InvalidParameterValue(
            f"log_input takes a labtrack Dataset (see labtrack.data.from_pandas), "
            f"got {type(dataset).__name__}"
        )
    input_tags = [InputTag(k, str(val)) for k, val in (tags or {}).items()]
    if context is not None:
        input_tags.append(InputTag(MLFLOW_DATASET_CONTEXT, context))
    flush()
    _client().log_inputs(_run_id(), [DatasetInput(dataset, tuple(input_tags))])


# -- artifacts --------------------------------------------------------------------
def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    """Copy a local file into the active run's artifacts, under ``artifact_path`` if given."""
    _client().log_artifact(_run_id(), local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    """Copy a local directory's files into the active run's artifacts.

    They go under ``artifact_path`` if given, else at the root.
    """
    _client().log_artifacts(_run_id(), local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    """Save a string as the artifact file ``artifact_file`` (e.g. ``"notes/summary.txt"``)."""
    _client().log_text(_run_id(), text, artifact_file)


def log_dict(dictionary: Mapping[str, Any], artifact_file: str) -> None:
    """Save a dictionary as a JSON artifact, or YAML when ``artifact_file`` ends in .yaml/.yml."""
    _client().log_dict(_run_id(), dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    """Save a matplotlib or plotly figure as ``artifact_file`` (format from its extension)."""
    _client().log_figure(_run_id(), figure, artifact_file)


def log_image(
    image: Any,
    artifact_file: str | None = None,
    *,
    key: str | None = None,
    step: int | None = None,
) -> None:
    """Save a NumPy array or PIL image as ``artifact_file``.

    Or, with ``key`` (and ``step``) instead of a file name, as one step of an image series.
    """
    _client().log_image(_run_id(), image, artifact_file, key=key, step=step)


def log_table(data: Any, artifact_file: str) -> None:
    """Save a dict of columns or a pandas DataFrame as a JSON table (``artifact_file``: .json)."""
    flush()
    _client().log_table(_run_id(), data, artifact_file)


# -- search -----------------------------------------------------------------------
def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: int | str = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> Any:
    """Runs matching a filter, as a pandas DataFrame (MLflow's columns) or a list of Runs.

    Without experiment ids or names, searches the active experiment (or all of them with
    ``search_all_experiments=True``). ``output_format="list"`` returns Run objects; so does
    "pandas" when pandas is not installed.
    """
    if output_format not in ("pandas", "list"):
        raise InvalidParameterValue(
            f"Unsupported output format {output_format!r}: use 'pandas' or 'list'"
        )
    flush()
    client = _client()
    ids = _search_experiment_ids(client, experiment_ids, experiment_names, search_all_experiments)
    runs: list[Run] = []
    token = None
    while ids and len(runs) < max_results:
        page = client.search_runs(
            ids,
            filter_string,
            run_view_type,
            min(v.MAX_RESULTS_SEARCH_RUNS, max_results - len(runs)),
            order_by,
            token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    if output_format == "list":
        return runs
    try:
        from labtrack.tracking._frames import runs_to_dataframe
    except ImportError:  # pandas is not installed
        return runs
    return runs_to_dataframe(runs)


def _search_experiment_ids(
    client: TrackingClient,
    experiment_ids: Sequence[str] | None,
    experiment_names: Sequence[str] | None,
    search_all: bool,
) -> list[str]:
    if experiment_ids and experiment_names:
        raise InvalidParameterValue("Pass experiment_ids or experiment_names, not both")
    if experiment_ids:
        return (
            [experiment_ids]
            if isinstance(experiment_ids, str)
            else [str(e) for e in experiment_ids]
        )
    if experiment_names:
        ids = []
        for name in experiment_names:
            found = client.get_experiment_by_name(name)
            if found is not None:
                ids.append(found.experiment_id)
        return ids
    if search_all:
        return [e.experiment_id for e in search_experiments(view_type=ViewType.ALL)]
    return [_active_experiment_id()]


# -- model registry ---------------------------------------------------------------
def register_model(
    model_uri: str | os.PathLike[str], name: str, tags: Mapping[str, Any] | None = None
) -> ModelVersion:
    """Register a model as the next version of the registered model ``name`` (created if
    needed) and return the new version.

    ``model_uri``: ``runs:/<run_id>/<path>``, ``models:/m-<id>`` (a logged model),
    ``models:/<name>/<version>`` or ``models:/<name>@<alias>`` (another version's files),
    or any artifact location. See :meth:`TrackingClient.register_model`.
    """
    flush()
    return _client().register_model(model_uri, name, tags)


def search_registered_models(
    filter_string: str | None = None,
    max_results: int | None = None,
    order_by: Sequence[str] | None = None,
) -> list[RegisteredModel]:
    """Every registered model matching the filter (all pages), by name unless ordered."""
    client = _client()
    return _all_pages(
        lambda n, token: client.search_registered_models(filter_string, n, order_by, token),
        max_results,
        1000,
    )


def search_model_versions(
    filter_string: str | None = None,
    max_results: int | None = None,
    order_by: Sequence[str] | None = None,
) -> list[ModelVersion]:
    """Every model version matching the filter (all pages), most recently updated first."""
    client = _client()
    return _all_pages(
        lambda n, token: client.search_model_versions(filter_string, n, order_by, token),
        max_results,
        10_000,
    )


def _all_pages(fetch: Any, limit: int | None, page_size: int) -> list[Any]:
    found: list[Any] = []
    token = None
    while limit is None or len(found) < limit:
        wanted = page_size if limit is None else min(page_size, limit - len(found))
        page = fetch(wanted, token)
        found.extend(page)
        token = page.token
        if not token:
            break
    return found


# -- process exit -----------------------------------------------------------------
def _stop_heartbeats(run_id: str) -> None:
    heartbeats = _heartbeats._heartbeats
    if heartbeats is not None:
        heartbeats.remove(run_id)


def _install_process_hooks() -> None:
    with _state.lock:
        if _state.hooks_installed:
            return
        _state.hooks_installed = True
    atexit.register(_end_open_runs_at_exit)
    previous_hook = sys.excepthook

    def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        _state.uncaught = exc_type
        previous_hook(exc_type, exc, tb)

    sys.excepthook = _excepthook
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):  # not allowed here (embedded interpreter)
            pass


def _on_sigterm(signum: int, frame: Any) -> None:
    _state.terminated = True
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
    raise SystemExit(128 + signum)


def _end_open_runs_at_exit() -> None:
    if _state.terminated or (
        _state.uncaught is not None and issubclass(_state.uncaught, KeyboardInterrupt)
    ):
        status = RunStatus.KILLED
    elif _state.uncaught is not None and not issubclass(_state.uncaught, SystemExit):
        status = RunStatus.FAILED
    else:
        status = RunStatus.FINISHED
    try:
        flush()
    except Exception as exc:
        print(f"labtrack: some logged data could not be written: {exc}", file=sys.stderr)
    with _state.lock:
        open_runs = list(_state.open_runs.items())
        _state.open_runs.clear()
    for run_id, client in reversed(open_runs):
        _stop_heartbeats(run_id)
        try:
            client.set_terminated(run_id, status)
        except (ResourceDoesNotExist, InvalidParameterValue):
            pass
        except Exception as exc:
            print(f"labtrack: could not end run {run_id}: {exc}", file=sys.stderr)
    _local.stack.clear()
