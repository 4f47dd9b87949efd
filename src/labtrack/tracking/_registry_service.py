"""The model registry's rules: :class:`RegistryService`, which the tracking service holds.

Names, versions, stages, aliases, tags and limits are checked here, with MLflow's
messages, whatever the entry point (Python client, CLI, server). Every change is
recorded in the registry's event log as claimed by :func:`acting_user`: the user a
server request says it acts for (the server sets it per request), else this process's
user; neither is checked (``RegistryEvent.claimed_user``).
"""

from __future__ import annotations

import contextvars
import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from labtrack import validation as v
from labtrack._tags import MLFLOW_MODEL_VERSIONS, UNKNOWN_USER
from labtrack.entities import (
    ModelVersion,
    ModelVersionStage,
    PagedList,
    RegisteredModel,
    RegistryAction,
    RegistryEvent,
)
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist
from labtrack.store.base import LoggedModelStore, RegistryStore

MAX_MODEL_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 255
MAX_REGISTRY_TAG_VALUE_LENGTH = 100_000
MAX_DESCRIPTION_LENGTH = 100_000
MAX_SOURCE_LENGTH = 2000
MAX_RUN_LINK_LENGTH = 2000
MAX_USER_LENGTH = 256
MAX_RESULTS_SEARCH_REGISTERED_MODELS = 1000
MAX_RESULTS_SEARCH_MODEL_VERSIONS = 200_000
MAX_RESULTS_REGISTRY_EVENTS = 10_000

_ALIAS_RE = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")

ACTING_USER: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "labtrack_acting_user", default=None
)
"""Who registry changes are made by, when not this process's user (set by the server)."""


def acting_user() -> str:
    """The user registry changes are recorded as made by."""
    user = ACTING_USER.get()
    if user is None:
        from labtrack.tracking.context import current_user

        user = current_user()
    return user[:MAX_USER_LENGTH] or UNKNOWN_USER


# -- rules ----------------------------------------------------------------------------------
def _missing(name: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Missing value for required parameter '{name}'.")


def _too_long(what: str, limit: int) -> InvalidParameterValue:
    return InvalidParameterValue(f"'{what}' exceeds the maximum length of {limit} characters")


def validate_model_name(name: Any, param: str = "name") -> str:
    """A registered model name: not blank, no '/' or ':', not a path that resolves elsewhere."""
    if name is None or (isinstance(name, str) and not name.strip()):
        raise _missing(param)
    if not isinstance(name, str):
        raise InvalidParameterValue(
            f"Invalid model name {name!r}: it must be a string, got {type(name).__name__}"
        )
    if "/" in name or ":" in name:
        raise InvalidParameterValue(
            f"Invalid model name '{name}'. Names cannot contain '/' or ':'."
        )
    norm = posixpath.normpath(name)
    if norm != name or norm in (".", ".."):
        raise InvalidParameterValue(
            f"Invalid value \"{name}\" for parameter '{param}' supplied: Names may be treated as "
            "files in certain cases, and must not resolve to other names when treated as such. "
            f"This name would resolve to {norm!r}"
        )
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise _too_long(param, MAX_MODEL_NAME_LENGTH)
    return name


def validate_version(version: Any) -> int:
    """A version number: an int >= 1, or its digits as a string (as MLflow's clients send)."""
    number: int | None = None
    if isinstance(version, int) and not isinstance(version, bool):
        number = version
    elif isinstance(version, str):
        try:
            number = int(version)
        except ValueError:
            number = None
    if number is None:
        raise InvalidParameterValue(f"Parameter 'version' must be an integer, got '{version}'.")
    if number < 1:
        raise InvalidParameterValue(
            f"Parameter 'version' must be a positive integer, got '{version}'."
        )
    if not v.fits_int64(number):
        raise InvalidParameterValue(
            f"Parameter 'version' must fit in 64 bits, got '{version}'. No version has it."
        )
    return number


def validate_alias(alias: Any, *, reserved: bool = True) -> str:
    """An alias name: letters, digits, _ and -, at most 255; ``reserved`` also refuses the
    names that would clash with ``models:/`` URIs (``latest``, ``v<N>``)."""
    if alias is None or alias == "":
        raise InvalidParameterValue("Registered model alias name cannot be empty.")
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidParameterValue(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, "
            "underscores (_), and dashes (-)."
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise _too_long("Registered model alias name", MAX_ALIAS_LENGTH)
    if reserved:
        if alias.lower() == "latest":
            raise InvalidParameterValue("'latest' alias name (case insensitive) is reserved.")
        if _VERSION_ALIAS_RE.match(alias):
            raise InvalidParameterValue(f"Version alias name '{alias}' is reserved.")
    return alias


def validate_registry_tag(key: Any, value: Any, what: str) -> tuple[str, str]:
    key = v.validate_key(key, what)
    if value is None:
        raise InvalidParameterValue("Tag value cannot be None")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_REGISTRY_TAG_VALUE_LENGTH:
        raise _too_long("value", MAX_REGISTRY_TAG_VALUE_LENGTH)
    return key, text


def _tag_items(tags: Mapping[str, Any] | Iterable[Any] | None) -> list[tuple[Any, Any]]:
    """Tags as a mapping or as entities with ``key`` and ``value`` (MLflow passes both)."""
    if tags is None:
        return []
    if isinstance(tags, Mapping):
        return list(tags.items())
    items: Iterable[Any] = tags
    return [(t.key, t.value) for t in items]


def _registry_tags(tags: Mapping[str, Any] | Iterable[Any] | None, what: str) -> dict[str, str]:
    return dict(validate_registry_tag(k, val, what) for k, val in _tag_items(tags))


def _optional_text(value: Any, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameterValue(f"Invalid {what} {value!r}: it must be a string")
    if len(value) > limit:
        raise _too_long(what, limit)
    return value


def validate_stage(stage: Any) -> str:
    if stage is None or stage == "":
        raise _missing("stage")
    return ModelVersionStage.canonical(stage)


def _filter(filter_string: Any) -> str | None:
    if filter_string is not None and not isinstance(filter_string, str):
        raise InvalidParameterValue(f"Invalid filter {filter_string!r}: it must be a string")
    return filter_string or None


def _order_by(order_by: Sequence[str] | str | None) -> list[str] | None:
    if order_by is None:
        return None
    return [order_by] if isinstance(order_by, str) else list(order_by)


def _max_results(max_results: Any, limit: int, what: str) -> int:
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise InvalidParameterValue(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results}"
        )
    if max_results > limit:
        raise InvalidParameterValue(
            "Invalid value for request parameter max_results. It must be at most "
            f"{limit}, but got value {max_results}"
        )
    return max_results


def _timestamp(value: Any, what: str) -> int | None:
    return None if value is None else v.validate_timestamp(value, what)


class RegistryService:
    """Validated model registry operations over a registry store.

    :class:`~labtrack.tracking.service.TrackingService` holds one as ``service.registry``,
    over the same store. Every change is recorded as made by :func:`acting_user`.
    """

    def __init__(self, store: RegistryStore, logged_models: LoggedModelStore | None = None) -> None:
        self.store = store
        #: Where a version made from a logged model is listed on that model (the
        #: ``mlflow.modelVersions`` tag); None when the store's server does it itself.
        self.logged_models = logged_models

    # -- registered models ----------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | Iterable[Any] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        return self.store.create_registered_model(
            validate_model_name(name),
            _registry_tags(tags, "Registered model tag"),
            _optional_text(description, "description", MAX_DESCRIPTION_LENGTH),
            acting_user(),
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.store.get_registered_model(validate_model_name(name))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self.store.rename_registered_model(
            validate_model_name(name), validate_model_name(new_name, "new_name"), acting_user()
        )

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        return self.store.update_registered_model(
            validate_model_name(name),
            _optional_text(description, "description", MAX_DESCRIPTION_LENGTH),
            acting_user(),
        )

    def delete_registered_model(self, name: str) -> None:
        self.store.delete_registered_model(validate_model_name(name), acting_user())

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        return self.store.search_registered_models(
            _filter(filter_string),
            _max_results(max_results, MAX_RESULTS_SEARCH_REGISTERED_MODELS, "registered models"),
            _order_by(order_by),
            page_token or None,
        )

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | str | None = None
    ) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when None or empty)."""
        if isinstance(stages, str):
            stages = [stages]
        canonical = [ModelVersionStage.canonical(s) for s in stages or ()]
        return self.store.get_latest_versions(validate_model_name(name), canonical or None)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        key, text = validate_registry_tag(key, value, "Registered model tag")
        self.store.set_registered_model_tag(validate_model_name(name), key, text, acting_user())

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.store.delete_registered_model_tag(
            validate_model_name(name), v.validate_key(key, "Registered model tag"), acting_user()
        )

    # -- model versions -------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | Iterable[Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        if source is None or source == "":
            raise _missing("source")
        version = self.store.create_model_version(
            validate_model_name(name),
            _optional_text(source, "source", MAX_SOURCE_LENGTH) or "",
            v.validate_run_id(run_id) if run_id else None,
            _registry_tags(tags, "Model version tag"),
            _optional_text(run_link, "run_link", MAX_RUN_LINK_LENGTH) or None,
            _optional_text(description, "description", MAX_DESCRIPTION_LENGTH),
            v.validate_model_id(model_id) if model_id else None,
            acting_user(),
        )
        if version.model_id and self.logged_models is not None:
            self._list_on_logged_model(self.logged_models, version)
        return version

    @staticmethod
    def _list_on_logged_model(store: LoggedModelStore, version: ModelVersion) -> None:
        """Add the version to its logged model's ``mlflow.modelVersions`` tag, as MLflow's
        server does: a JSON list of ``{"name": ..., "version": 1}`` (the version a number)."""
        assert version.model_id is not None
        try:
            logged = store.get_logged_model(version.model_id)
        except ResourceDoesNotExist:
            return  # a model elsewhere (another tracking server): nothing to list it on
        try:
            entries = json.loads(logged.tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
        except ValueError:
            entries = []
        if not isinstance(entries, list):
            entries = []
        listed = {(e.get("name"), str(e.get("version"))) for e in entries if isinstance(e, dict)}
        if (version.name, str(version.version)) not in listed:
            entries.append({"name": version.name, "version": version.version})
            store.set_logged_model_tags(
                version.model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(entries)}
            )

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        return self.store.get_model_version(validate_model_name(name), validate_version(version))

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion:
        return self.store.update_model_version(
            validate_model_name(name),
            validate_version(version),
            _optional_text(description, "description", MAX_DESCRIPTION_LENGTH),
            acting_user(),
        )

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        """Move a version to a stage; ``archive_existing_versions`` (Staging and Production
        only) moves the other versions in that stage to Archived."""
        canonical = validate_stage(stage)
        if not isinstance(archive_existing_versions, bool):
            raise InvalidParameterValue(
                f"Invalid archive_existing_versions {archive_existing_versions!r}: "
                "expected true or false"
            )
        if archive_existing_versions and canonical not in ModelVersionStage.ACTIVE:
            raise InvalidParameterValue(
                "Model version transition cannot archive existing model versions because "
                f"'{stage}' is not an Active stage. Valid stages are "
                f"{list(ModelVersionStage.ACTIVE)}"
            )
        return self.store.transition_model_version_stage(
            validate_model_name(name),
            validate_version(version),
            canonical,
            archive_existing_versions,
            acting_user(),
        )

    def delete_model_version(self, name: str, version: int | str) -> None:
        self.store.delete_model_version(
            validate_model_name(name), validate_version(version), acting_user()
        )

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        return self.store.get_model_version_download_uri(
            validate_model_name(name), validate_version(version)
        )

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        return self.store.search_model_versions(
            _filter(filter_string),
            _max_results(max_results, MAX_RESULTS_SEARCH_MODEL_VERSIONS, "model versions"),
            _order_by(order_by),
            page_token or None,
        )

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: Any) -> None:
        key, text = validate_registry_tag(key, value, "Model version tag")
        self.store.set_model_version_tag(
            validate_model_name(name), validate_version(version), key, text, acting_user()
        )

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        self.store.delete_model_version_tag(
            validate_model_name(name),
            validate_version(version),
            v.validate_key(key, "Model version tag"),
            acting_user(),
        )

    # -- aliases --------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        self.store.set_registered_model_alias(
            validate_model_name(name),
            validate_alias(alias),
            validate_version(version),
            acting_user(),
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.store.delete_registered_model_alias(
            validate_model_name(name), validate_alias(alias, reserved=False), acting_user()
        )

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.store.get_model_version_by_alias(
            validate_model_name(name), validate_alias(alias, reserved=False)
        )

    # -- the event log --------------------------------------------------------------------
    def get_registry_events(
        self,
        name: str | None = None,
        actions: Sequence[str] | str | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> PagedList[RegistryEvent]:
        if isinstance(actions, str):
            actions = [actions]
        for action in actions or ():
            if action not in RegistryAction.ALL:
                raise InvalidParameterValue(
                    f"Invalid registry action {action!r}: expected one of "
                    f"{', '.join(RegistryAction.ALL)}"
                )
        return self.store.get_registry_events(
            validate_model_name(name) if name is not None else None,
            list(actions or ()),
            _timestamp(start_time, "start_time"),
            _timestamp(end_time, "end_time"),
            _max_results(max_results, MAX_RESULTS_REGISTRY_EVENTS, "registry events"),
            page_token or None,
        )
