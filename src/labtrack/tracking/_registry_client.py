"""The model registry methods of :class:`TrackingClient` (MLflow's ``MlflowClient`` names).

Plus labtrack's own: :meth:`~RegistryClientMixin.register_model` (what
``lt.register_model`` does), :meth:`~RegistryClientMixin.get_model_version_lineage`,
:meth:`~RegistryClientMixin.get_registry_events`, and the resolution of ``models:/`` URIs
(:meth:`~RegistryClientMixin.resolve_model_uri`) that model loading builds on.
"""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from labtrack.entities import (
    ModelUri,
    ModelVersion,
    ModelVersionLineage,
    PagedList,
    RegisteredModel,
    RegistryEvent,
    parse_runs_uri,
)
from labtrack.errors import (
    InvalidParameterValue,
    LabtrackError,
    NotImplementedYet,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)

if TYPE_CHECKING:
    from labtrack.entities import FileInfo, LoggedModel, Run
    from labtrack.tracking.service import TrackingService

MLMODEL_FILE = "MLmodel"


class RegistryClientMixin:
    """Model registry operations of :class:`~labtrack.tracking.client.TrackingClient`."""

    service: TrackingService

    if TYPE_CHECKING:  # provided by TrackingClient

        def get_run(self, run_id: str) -> Run: ...

        def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]: ...

    # -- registered models ----------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        """Create an empty registered model; a model with this name must not exist."""
        return self.service.registry.create_registered_model(name, tags, description)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and newest version in each stage."""
        return self.service.registry.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; its versions, tags and aliases go with it."""
        return self.service.registry.rename_registered_model(name, new_name)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        """Set a model's description."""
        return self.service.registry.update_registered_model(name, description)

    def delete_registered_model(self, name: str) -> None:
        """Delete a model with all its versions, tags and aliases (its events stay)."""
        self.service.registry.delete_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """One page of registered models, by name unless ``order_by`` says otherwise.

        Filters test ``name`` (``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IN``) and ``tags.<key>``;
        see docs/registry.md for the whole grammar.
        """
        return self.service.registry.search_registered_models(
            filter_string, max_results, order_by, page_token
        )

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when not given)."""
        return self.service.registry.get_latest_versions(name, stages)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        """Set (or overwrite) a tag of a registered model; values up to 100,000 characters."""
        self.service.registry.set_registered_model_tag(name, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Delete a model's tag (a tag that is not there is no error, as in MLflow)."""
        self.service.registry.delete_registered_model_tag(name, key)

    # -- model versions -------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Register ``source`` as the model's next version (READY, in stage "None").

        ``source`` may be a ``models:/`` URI (a logged model, or another version), a
        ``runs:/`` URI, or any artifact location; see :meth:`register_model` for a
        higher-level way that also creates the model.
        """
        return self.service.registry.create_model_version(
            name, source, run_id, tags, run_link, description, model_id
        )

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version of a registered model (``version`` as an int or its digits)."""
        return self.service.registry.get_model_version(name, version)

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion:
        """Set a version's description."""
        return self.service.registry.update_model_version(name, version, description)

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version and the aliases pointing to it (its number is not reused)."""
        self.service.registry.delete_model_version(name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """One page of versions, most recently updated first unless ``order_by`` says otherwise.

        Filters test ``name``, ``version_number``, ``run_id``, ``source_path``,
        ``current_stage``, ``model_id``, the timestamps and ``tags.<key>``.
        """
        return self.service.registry.search_model_versions(
            filter_string, max_results, order_by, page_token
        )

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        """Move a version to None, Staging, Production or Archived (any case).

        With ``archive_existing_versions`` (Staging and Production only), the model's
        other versions in that stage are archived.
        """
        return self.service.registry.transition_model_version_stage(
            name, version, stage, archive_existing_versions
        )

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """Where a version's files are (a logged model's or run's artifact location...)."""
        return self.service.registry.get_model_version_download_uri(name, version)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: Any) -> None:
        """Set (or overwrite) a tag of a model version."""
        self.service.registry.set_model_version_tag(name, version, key, value)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Delete a version's tag (a tag that is not there is no error, as in MLflow)."""
        self.service.registry.delete_model_version_tag(name, version, key)

    # -- aliases --------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``alias`` (e.g. ``champion``) at a version, moving it if it pointed elsewhere."""
        self.service.registry.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Delete an alias (one that is not there is no error, as in MLflow)."""
        self.service.registry.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points to (``latest``: the newest version)."""
        return self.service.registry.get_model_version_by_alias(name, alias)

    # -- labtrack: URIs, registration, lineage, events ------------------------------------
    def get_model_version_from_uri(self, model_uri: str) -> ModelVersion:
        """The version a registry URI names: ``models:/<name>/<version>``, ``.../<stage>``
        (the newest in that stage), ``.../latest`` or ``models:/<name>@<alias>``."""
        uri = ModelUri.parse(model_uri)
        if uri.name is None:
            raise InvalidParameterValue(
                f"{model_uri} names a logged model, not a registered model version"
            )
        if uri.version is not None:
            return self.get_model_version(uri.name, uri.version)
        if uri.alias is not None:
            return self.get_model_version_by_alias(uri.name, uri.alias)
        latest = self.get_latest_versions(uri.name, None if uri.stage is None else [uri.stage])
        if not latest:
            stage = "" if uri.stage is None else f" and stage '{uri.stage}'"
            raise ResourceDoesNotExist(f"No versions of model with name '{uri.name}'{stage} found")
        return max(latest, key=lambda mv: mv.version)

    def resolve_model_uri(self, model_uri: str) -> str:
        """Where the files of a ``models:/`` URI are: a logged model's artifact location
        (``models:/m-<id>``) or a registered version's download URI."""
        uri = ModelUri.parse(model_uri)
        if uri.model_id is not None:
            return self.service.get_logged_model(uri.model_id).artifact_location
        version = self.get_model_version_from_uri(model_uri)
        return self.get_model_version_download_uri(version.name, version.version)

    def register_model(
        self,
        model_uri: str | os.PathLike[str],
        name: str,
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Register a model as the next version of ``name``, creating the registered model
        if needed (``lt.register_model``).

        ``model_uri`` is ``runs:/<run_id>/<path>`` (the model saved at that path of the run's
        artifacts, or the MLflow 3 logged model of that name the run produced),
        ``models:/m-<id>`` (a logged model), ``models:/<name>/<version|stage|latest>`` or
        ``models:/<name>@<alias>`` (the same files as that version), or any artifact
        location (a local path is made absolute). A ``runs:/`` URI with neither a model
        at that path nor a logged model of that name is refused (ResourceDoesNotExist),
        before anything is created. Prints MLflow's lines to stderr ("Successfully
        registered model 'X'.", "Created version '1' of model 'X'.").
        """
        source, run_id, model_id = self._registration_source(os.fspath(model_uri))
        try:
            created = self.create_registered_model(name)
            _say(f"Successfully registered model '{created.name}'.")
        except ResourceAlreadyExists:
            _say(
                f"Registered model '{name}' already exists. Creating a new version of this model..."
            )
        version = self.create_model_version(
            name, source, run_id=run_id, tags=tags, model_id=model_id
        )
        _say(f"Created version '{version.version}' of model '{version.name}'.")
        return version

    def _registration_source(self, model_uri: str) -> tuple[str, str | None, str | None]:
        """(source, run id, model id) to register ``model_uri`` with."""
        if model_uri.startswith("runs:"):
            run_id, path = parse_runs_uri(model_uri)
            run = self.get_run(run_id)
            location = run.info.artifact_uri.rstrip("/")
            if not self._has_mlmodel(run_id, path):
                logged = self.logged_model_of_run(run, path)
                if logged is None:
                    # MLflow's words: a version must not point at nothing.
                    raise ResourceDoesNotExist(
                        f"Unable to find a logged_model with artifact_path {path} "
                        f"under run {run_id}"
                    )
                return f"models:/{logged.model_id}", run_id, logged.model_id
            return (f"{location}/{path}" if path else location), run_id, None
        if model_uri.startswith("models:"):
            return model_uri, None, ModelUri.parse(model_uri).model_id
        if "://" not in model_uri and not model_uri.startswith(("file:", "mlflow-artifacts:")):
            return os.path.abspath(os.path.expanduser(model_uri)), None, None
        return model_uri, None, None

    def _has_mlmodel(self, run_id: str, path: str) -> bool:
        try:
            files = self.list_artifacts(run_id, path or None)
        except (LabtrackError, OSError):
            return False
        return any(posixpath.basename(f.path) == MLMODEL_FILE for f in files)

    def logged_model_of_run(self, run: Run, name: str) -> LoggedModel | None:
        """The logged model called ``name`` that ``run`` produced (the latest step's if several)."""
        try:
            found = self.service.search_logged_models(
                [run.info.experiment_id], f"source_run_id = '{run.info.run_id}'"
            )
        except NotImplementedYet:
            return None
        candidates = [m for m in found if m.name == name]
        if not candidates:
            return None
        steps = {o.model_id: o.step for o in run.outputs.model_outputs}
        return max(candidates, key=lambda m: (steps.get(m.model_id, -1), m.creation_timestamp))

    def get_model_version_lineage(self, name: str, version: int | str) -> ModelVersionLineage:
        """What a version came from: its run (params, metrics, tags), its logged model and
        the datasets the run used. Parts not recorded, or deleted since, are None / empty."""
        model_version = self.get_model_version(name, version)
        logged = None
        if model_version.model_id:
            try:
                logged = self.service.get_logged_model(model_version.model_id, allow_deleted=True)
            except (ResourceDoesNotExist, NotImplementedYet):
                logged = None
        run_id = model_version.run_id or (logged.source_run_id if logged else None)
        run = None
        if run_id:
            try:
                run = self.get_run(run_id)
            except (ResourceDoesNotExist, InvalidParameterValue):
                run = None
        datasets = run.inputs.dataset_inputs if run is not None else ()
        return ModelVersionLineage(model_version, run, logged, datasets)

    def get_registry_events(
        self,
        name: str | None = None,
        actions: Iterable[str] | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> PagedList[RegistryEvent]:
        """One page of the registry's event log, oldest first.

        ``name`` gives the history of one registered model (following its renames back);
        ``actions`` keeps only those actions (see :class:`~labtrack.entities.RegistryAction`);
        ``start_time`` (inclusive) and ``end_time`` (exclusive) are in ms since the epoch.
        """
        return self.service.registry.get_registry_events(
            name,
            list(actions) if actions is not None else None,
            start_time,
            end_time,
            max_results,
            page_token,
        )


def _say(line: str) -> None:
    """A line for the user about a registration, where MLflow prints it (stderr)."""
    print(line, file=sys.stderr)
