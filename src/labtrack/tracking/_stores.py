"""From a tracking URI to a store: one store per URI per process."""

from __future__ import annotations

import os
import threading

from labtrack.config import settings
from labtrack.errors import ConfigurationError
from labtrack.store.base import TrackingStore

_STORES: dict[tuple[str, str], TrackingStore] = {}
_LOCK = threading.Lock()


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The URI to use: the one given, else the setting (code > env > config file > default)."""
    if uri is not None:
        if not isinstance(uri, str) or not uri.strip():
            raise ConfigurationError(f"Invalid tracking URI {uri!r}")
        return uri.strip()
    return str(settings.get("tracking_uri"))


def default_artifact_root(uri: str) -> str:
    """Where a database's experiments keep artifacts unless told otherwise."""
    from labtrack.artifacts import location_to_uri

    configured = settings.get("artifact_root")
    if configured:
        return location_to_uri(configured)
    from labtrack.store.sql.engine import sqlite_path

    db_file = sqlite_path(uri)
    base = os.path.dirname(db_file) if db_file else os.getcwd()
    return location_to_uri(os.path.join(base, "labtrack-artifacts"))


def get_store(uri: str | None = None) -> TrackingStore:
    """The store behind ``uri`` (created and, for databases, migrated on first use)."""
    uri = resolve_tracking_uri(uri)
    from labtrack.store.sql.engine import is_database_uri

    scheme = uri.split(":", 1)[0].lower()
    if is_database_uri(uri):
        key = (uri, default_artifact_root(uri))
    elif scheme in ("http", "https"):
        key = (uri, "")
    else:
        from labtrack.store._mlflow_stores import refuse_mlflow_file_store

        refuse_mlflow_file_store(uri)
        raise ConfigurationError(
            f"Unsupported tracking URI {uri!r}: use a database URL (sqlite:///labtrack.db, "
            "postgresql://..., mysql+pymysql://...) or a server URL (http://host:5000)"
        )
    with _LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _create_store(uri, key[1])
            _STORES[key] = store
        return store


def _create_store(uri: str, artifact_root: str) -> TrackingStore:
    if artifact_root:
        from labtrack.store.sql.store import SqlStore

        return SqlStore(uri, artifact_root, busy_timeout=settings.get("sqlite_busy_timeout"))
    try:
        from labtrack.store.rest import RestStore
    except ImportError:
        raise ConfigurationError(
            f"Tracking to a server ({uri}) is not available in this version of labtrack"
        ) from None
    return RestStore(uri)
