"""Artifact storage: one :class:`ArtifactRepository` per artifact URI scheme.

Repositories are found through a table of ``scheme -> "module:ClassName"``
and imported only when a URI with that scheme is used, so optional backends
(``s3://`` needs boto3) cost nothing until needed. Plain paths, relative or
absolute, use the ``file`` repository.
"""

from __future__ import annotations

import importlib

from labtrack.artifacts._paths import normalize_artifact_path
from labtrack.artifacts._uri import (
    local_path_from_uri,
    location_to_uri,
    path_to_file_uri,
    redact_uri,
    uri_scheme,
)
from labtrack.artifacts.base import ArtifactRepository
from labtrack.errors import InvalidParameterValue

__all__ = [
    "ArtifactRepository",
    "get_artifact_repository",
    "local_path_from_uri",
    "location_to_uri",
    "normalize_artifact_path",
    "path_to_file_uri",
    "register_artifact_repository",
    "supported_schemes",
]

_LOCAL = "labtrack.artifacts.local:LocalArtifactRepository"

# scheme -> "module.path:ClassName"; "" is a plain filesystem path.
_REPOSITORIES: dict[str, str] = {
    "": _LOCAL,
    "file": _LOCAL,
    "s3": "labtrack.artifacts.s3:S3ArtifactRepository",
    "mlflow-artifacts": "labtrack.artifacts.http:HttpArtifactRepository",
    "http": "labtrack.artifacts.http:HttpArtifactRepository",
    "https": "labtrack.artifacts.http:HttpArtifactRepository",
}


def register_artifact_repository(scheme: str, target: str) -> None:
    """Serve URIs with ``scheme`` by ``target``, given as ``"module.path:ClassName"``.

    The module is imported on first use, not now.
    """
    module, sep, name = target.partition(":")
    if not sep or not module or not name:
        raise InvalidParameterValue(
            f"Invalid artifact repository target {target!r}: expected 'module.path:ClassName'"
        )
    _REPOSITORIES[scheme.lower()] = target


def supported_schemes() -> list[str]:
    """The URI schemes with a registered repository, sorted (plain paths not included)."""
    return sorted(s for s in _REPOSITORIES if s)


def _load(target: str) -> type[ArtifactRepository]:
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, ArtifactRepository)):
        raise TypeError(f"{target} is not an ArtifactRepository subclass")
    return cls


def get_artifact_repository(artifact_uri: str) -> ArtifactRepository:
    """The repository for ``artifact_uri``, chosen by its scheme.

    Raises :class:`InvalidParameterValue` for a scheme no repository serves.
    """
    scheme = uri_scheme(artifact_uri)
    target = _REPOSITORIES.get(scheme)
    if target is None:
        raise InvalidParameterValue(
            f"No artifact repository for scheme {scheme!r} (in {redact_uri(artifact_uri)!r}); "
            f"supported: {', '.join(supported_schemes())}, or a plain path"
        )
    return _load(target)(artifact_uri)
