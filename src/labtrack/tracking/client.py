"""TrackingClient: every tracking operation, with explicit ids (MLflow's MlflowClient).

Calls are synchronous: when a method returns, the data is stored. The fluent
API (``lt.log_metric`` ...) is built on this client and adds the active run
and background batching.
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtrack._tags import MLFLOW_LOGGED_ARTIFACTS, MLFLOW_PARENT_RUN_ID
from labtrack.config import settings
from labtrack.entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from labtrack.errors import InvalidParameterValue
from labtrack.tracking._registry_client import RegistryClientMixin
from labtrack.tracking._stores import get_store, resolve_tracking_uri
from labtrack.tracking.service import TrackingService

if TYPE_CHECKING:
    from labtrack.artifacts.base import ArtifactRepository


class TrackingClient(RegistryClientMixin):
    """A client of one tracking store: a database URL or a server (``http://host:5000``)."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.store = get_store(self.tracking_uri)
        self.service = TrackingService(
            self.store, truncate_long_values=settings.get("truncate_long_values")
        )

    def __repr__(self) -> str:
        return f"TrackingClient({self.tracking_uri!r})"

    # -- experiments ---------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        """Create an experiment and return its id. Names are unique."""
        return self.service.create_experiment(name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.service.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name, or None."""
        return self.service.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: int | str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """One page of experiments; ``.token`` fetches the next."""
        return self.service.search_experiments(
            view_type, max_results, filter_string, order_by, page_token
        )

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an experiment and its runs deleted (restorable)."""
        self.service.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.service.restore_experiment(experiment_id)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.service.rename_experiment(experiment_id, new_name)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.service.set_experiment_tag(experiment_id, key, value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.service.delete_experiment_tag(experiment_id, key)

    # -- runs ----------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Create a RUNNING run. No context tags are added here; the fluent API adds them."""
        return self.service.create_run(
            experiment_id, start_time=start_time, tags=tags, run_name=run_name
        )

    def get_run(self, run_id: str) -> Run:
        return self.service.get_run(run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        parent = self.get_run(run_id).data.tags.get(MLFLOW_PARENT_RUN_ID)
        return self.get_run(parent) if parent else None

    def update_run(
        self, run_id: str, status: str | None = None, name: str | None = None
    ) -> RunInfo:
        return self.service.update_run(run_id, status=status, run_name=name)

    def set_terminated(
        self, run_id: str, status: str = RunStatus.FINISHED, end_time: int | None = None
    ) -> RunInfo:
        """End a run: FINISHED, FAILED or KILLED."""
        return self.service.set_terminated(run_id, status, end_time)

    def delete_run(self, run_id: str) -> None:
        self.service.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.service.restore_run(run_id)

    def search_runs(
        self,
        experiment_ids: Sequence[str] | str,
        filter_string: str = "",
        run_view_type: int | str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """One page of runs matching the filter (MLflow's grammar, plus OR and parentheses)."""
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
        return self.service.search_runs(
            ids, filter_string, run_view_type, max_results, order_by, page_token
        )

    # -- logging -------------------------------------------------------------------
    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
    ) -> None:
        self.service.log_metric(run_id, key, value, timestamp, step)

    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        """Log a param; logging it again with another value is an error (params are immutable)."""
        return self.service.log_param(run_id, key, value)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.service.set_tag(run_id, key, value)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.service.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Store metrics, params and tags at once: all or nothing. Any size."""
        self.service.log_batch(run_id, metrics, params, tags)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self.service.log_inputs(run_id, datasets)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of a metric, ordered by step then timestamp."""
        return list(self.service.get_metric_history(run_id, key))

    # -- artifacts -----------------------------------------------------------------
    def _artifacts(self, run_id: str) -> ArtifactRepository:
        from labtrack.artifacts import get_artifact_repository
        from labtrack.artifacts.http import absolute_proxy_uri

        # Proxied artifacts live on this client's server, not the tracking URI setting's.
        uri = absolute_proxy_uri(self.get_run(run_id).info.artifact_uri, self.tracking_uri)
        return get_artifact_repository(uri)

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy a local file or directory into the run's artifacts."""
        path = Path(local_path)
        repo = self._artifacts(run_id)
        if path.is_dir():
            repo.log_artifacts(path, posixpath.join(artifact_path or "", path.name))
        elif path.is_file():
            repo.log_artifact(path, artifact_path)
        else:
            raise InvalidParameterValue(f"Cannot log artifact {str(path)!r}: no such file")

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy the contents of a local directory into the run's artifacts."""
        if not Path(local_dir).is_dir():
            raise InvalidParameterValue(
                f"Cannot log artifacts from {str(local_dir)!r}: not a directory"
            )
        self._artifacts(run_id).log_artifacts(local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._artifacts(run_id).log_bytes(text.encode("utf-8"), artifact_file)

    def log_dict(self, run_id: str, dictionary: Mapping[str, Any], artifact_file: str) -> None:
        """Save a dict as JSON, or as YAML when the file ends in .yaml/.yml."""
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_dump(dict(dictionary), sort_keys=False, allow_unicode=True)
        else:
            data = json.dumps(dictionary, indent=2, default=str)
        self.log_text(run_id, data, artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        """Save a matplotlib or plotly figure (format from the file extension)."""
        from labtrack.tracking._media import figure_bytes

        self._artifacts(run_id).log_bytes(figure_bytes(figure, artifact_file), artifact_file)

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        *,
        key: str | None = None,
        step: int | None = None,
    ) -> None:
        """Save a NumPy array or PIL image as an image file.

        Either ``artifact_file`` names the file, or ``key`` (and ``step``) make it part
        of an image series stored under ``images/<key>/step_<step>.png``.
        """
        from labtrack.tracking._media import image_bytes

        if (artifact_file is None) == (key is None):
            raise InvalidParameterValue("log_image takes either artifact_file or key, not both")
        if key is not None:
            from labtrack.validation import validate_key

            artifact_file = f"images/{validate_key(key, 'Image')}/step_{int(step or 0)}.png"
        assert artifact_file is not None
        self._artifacts(run_id).log_bytes(image_bytes(image, artifact_file), artifact_file)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Save a dict of columns or a pandas DataFrame as a JSON table (MLflow's format)."""
        from labtrack.tracking._media import table_json

        if not artifact_file.endswith(".json"):
            raise InvalidParameterValue(f"Table artifact {artifact_file!r} must end with .json")
        self.log_text(run_id, table_json(data), artifact_file)
        self._record_logged_artifact(run_id, artifact_file, "table")

    def _record_logged_artifact(self, run_id: str, path: str, kind: str) -> None:
        tags = self.get_run(run_id).data.tags
        entries = json.loads(tags.get(MLFLOW_LOGGED_ARTIFACTS, "[]"))
        entry = {"path": path, "type": kind}
        if entry not in entries:
            entries.append(entry)
            self.set_tag(run_id, MLFLOW_LOGGED_ARTIFACTS, json.dumps(entries))

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """One level of a run's artifacts (``path`` is relative to the run's root)."""
        return self._artifacts(run_id).list_artifacts(path)

    def download_artifacts(
        self, run_id: str, path: str = "", dst_path: str | os.PathLike[str] | None = None
    ) -> str:
        """Copy an artifact file or directory to ``dst_path`` (a new temp dir by default)."""
        if dst_path is None:
            dst_path = tempfile.mkdtemp(prefix="labtrack-")
        return self._artifacts(run_id).download_artifacts(path, dst_path)


MlflowClient = TrackingClient
"""MLflow's name for the client, so ``from mlflow.tracking import MlflowClient`` ports as
``from labtrack.tracking import MlflowClient``."""
