"""From a model URI to a local model directory: the one resolver every load uses.

==============================  ==================================================
``/path``, ``file:///path``      that directory, used in place
``runs:/<run_id>/<path>``        the logged model named ``<path>`` whose source run is
                                 ``<run_id>`` (MLflow 3), else ``<path>`` in the run's
                                 artifacts
``models:/<model_id>``           a logged model's artifact location (``m-...``)
``models:/<name>/<version>``     a registered model version
``models:/<name>@<alias>``       the version an alias points at
``models:/<name>/<stage>``       the latest version in a stage (Staging, Production ...)
``models:/<name>/latest``        the latest version
``s3://...``, ``http(s)://...``  any artifact URI an artifact repository serves
==============================  ==================================================

The tracking URI in effect (``lt.set_tracking_uri`` / ``LABTRACK_TRACKING_URI``) says
where runs, logged models and the registry are, embedded or over HTTP alike.
Remote files are downloaded into a temporary directory; models that cannot change
(logged models, registered versions) are downloaded once per process.
"""

from __future__ import annotations

import atexit
import os
import posixpath
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from labtrack.artifacts._uri import local_path_from_uri, redact_uri, uri_scheme
from labtrack.entities import parse_runs_uri
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist

if TYPE_CHECKING:
    from labtrack.tracking.client import TrackingClient

__all__ = ["ResolvedModel", "download_artifact", "download_model", "resolve_model_uri"]

_cache: dict[str, Path] = {}
_temporaries: list[str] = []
_cache_lock = threading.Lock()


class ResolvedModel:
    """Where a model URI points: an artifact URI, and whether its files can change."""

    def __init__(self, artifact_uri: str, immutable: bool) -> None:
        self.artifact_uri = artifact_uri
        self.immutable = immutable

    def __repr__(self) -> str:
        return f"ResolvedModel({self.artifact_uri!r}, immutable={self.immutable})"


def _client(tracking_uri: str | None = None) -> TrackingClient:
    from labtrack.tracking.client import TrackingClient

    return TrackingClient(tracking_uri)


def _join(uri: str, path: str) -> str:
    return f"{uri.rstrip('/')}/{path}" if path else uri


def _for_client(artifact_uri: str, client: TrackingClient) -> str:
    """A proxied artifact URI made absolute against the client's server."""
    from labtrack.artifacts.http import absolute_proxy_uri

    return absolute_proxy_uri(artifact_uri, client.tracking_uri)


def _resolve_runs(uri: str, client: TrackingClient) -> ResolvedModel:
    """The MLflow 3 logged model of that name the run produced, else the run's artifacts."""
    run_id, path = parse_runs_uri(uri)
    if not path:
        raise InvalidParameterValue(
            f"Invalid model URI {uri!r}: expected runs:/<run_id>/<path in the run>"
        )
    run = client.get_run(run_id)
    name, _, sub = path.partition("/")
    model = client.logged_model_of_run(run, name)
    if model is not None:
        return ResolvedModel(_join(_for_client(model.artifact_location, client), sub), True)
    return ResolvedModel(_join(_for_client(run.info.artifact_uri, client), path), False)


def _resolve_models(uri: str, client: TrackingClient, depth: int) -> ResolvedModel:
    """A logged model or a registered version, as the registry resolves it."""
    location = str(client.resolve_model_uri(uri))
    if uri_scheme(location) in ("runs", "models"):  # a version registered from such a URI
        if depth > 3:
            raise InvalidParameterValue(f"Model URI {uri!r}: its source loops")
        return ResolvedModel(_resolve(location, client, depth + 1).artifact_uri, True)
    return ResolvedModel(_for_client(location, client), True)


def _resolve(
    uri: str, client: TrackingClient | None, depth: int = 0, tracking_uri: str | None = None
) -> ResolvedModel:
    """Where ``uri`` points. Only runs:/ and models:/ URIs open the tracking store (``client``,
    else one of ``tracking_uri``): a path or an artifact URI never creates a database."""
    scheme = uri_scheme(uri)
    if scheme in ("", "file"):
        return ResolvedModel(uri, False)
    if scheme == "runs":
        return _resolve_runs(uri, client or _client(tracking_uri))
    if scheme == "models":
        return _resolve_models(uri, client or _client(tracking_uri), depth)
    from labtrack.artifacts import supported_schemes

    if scheme in supported_schemes():
        return ResolvedModel(uri, False)
    raise InvalidParameterValue(
        f"Unsupported model URI {redact_uri(uri)!r}: use a path, runs:/<run_id>/<path>, "
        "models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/<stage>, "
        f"models:/<name>/latest, models:/<model_id> or an artifact URI "
        f"({', '.join(s + ':' for s in supported_schemes())})"
    )


def resolve_model_uri(uri: str | os.PathLike[str], client: TrackingClient | None = None) -> str:
    """The artifact URI (or local path) a model URI points at."""
    return _resolve(os.fspath(uri), client).artifact_uri


def _local(artifact_uri: str) -> Path | None:
    if uri_scheme(artifact_uri) not in ("", "file"):
        return None
    return local_path_from_uri(artifact_uri).expanduser()


def download_model(
    uri: str | os.PathLike[str],
    dst_path: str | os.PathLike[str] | None = None,
    client: TrackingClient | None = None,
    *,
    tracking_uri: str | None = None,
) -> Path:
    """A local directory holding the model ``uri`` points at (with its MLmodel).

    runs:/ and models:/ URIs are looked up through ``client``, else a client of
    ``tracking_uri`` (None: the tracking URI in effect), made only for such a URI.
    """
    text = os.fspath(uri)
    resolved = _resolve(text, client, tracking_uri=tracking_uri)
    local = _local(resolved.artifact_uri)
    if local is not None and dst_path is None:
        if not local.exists():
            raise ResourceDoesNotExist(f"No model at {text!r}: {str(local)!r} does not exist")
        return local
    if dst_path is None and resolved.immutable:
        with _cache_lock:
            cached = _cache.get(resolved.artifact_uri)
        if cached is not None and (cached / "MLmodel").is_file():
            return cached
    target = Path(dst_path) if dst_path is not None else _temporary_directory()
    result = _download_tree(resolved.artifact_uri, target, text)
    if dst_path is None and resolved.immutable:
        with _cache_lock:
            _cache[resolved.artifact_uri] = result
    return result


def _temporary_directory() -> Path:
    """A directory for a download, removed when the process exits."""
    path = tempfile.mkdtemp(prefix="labtrack-model-")
    with _cache_lock:
        if not _temporaries:
            atexit.register(_remove_temporaries)
        _temporaries.append(path)
    return Path(path)


def _remove_temporaries() -> None:
    for path in _temporaries:
        shutil.rmtree(path, ignore_errors=True)


def _download_tree(artifact_uri: str, target: Path, what: str) -> Path:
    from labtrack.artifacts import get_artifact_repository

    repo = get_artifact_repository(artifact_uri)
    try:
        info = repo.get_file_info("")
        entries = repo.list_artifacts("") if info.is_dir else []
    except ResourceDoesNotExist:
        entries = []
    if not entries:
        raise ResourceDoesNotExist(
            f"No model at {redact_uri(what)!r}: nothing at {redact_uri(artifact_uri)!r}"
        )
    return Path(repo.download_artifacts("", target))


def download_artifact(uri: str, dst_dir: Path) -> Path:
    """Copy the file or directory ``uri`` (a path, runs:/, models:/ or artifact URI) into
    ``dst_dir`` under its own base name; return the local copy."""
    resolved = _resolve(uri, None).artifact_uri
    local = _local(resolved)
    dst_dir.mkdir(parents=True, exist_ok=True)
    if local is not None:
        if not local.exists():
            raise ResourceDoesNotExist(f"Artifact {uri!r} does not exist")
        dest = _free(dst_dir / local.resolve().name, uri)
        if local.is_dir():
            shutil.copytree(local, dest)
        else:
            shutil.copy2(local, dest)
        return dest
    from labtrack.artifacts import get_artifact_repository

    parent, name = posixpath.split(resolved.rstrip("/"))
    _free(dst_dir / name, uri)
    return Path(get_artifact_repository(parent).download_artifacts(name, dst_dir))


def _free(dest: Path, uri: str) -> Path:
    if dest.exists():
        raise InvalidParameterValue(
            f"Artifact {uri!r} would be copied to {dest.name!r}, where another artifact "
            "already is: artifacts need distinct base names"
        )
    return dest
