"""Who is running: the ``mlflow.user`` of a new run and the user of registry changes.

As MLflow: the tracking user name (``MLFLOW_TRACKING_USERNAME``, then
``~/.mlflow/credentials``) wins over the login name.
"""

from __future__ import annotations

import getpass
import os

from labtrack._tags import UNKNOWN_USER
from labtrack.tracking.context import _file_cache

__all__ = ["UNKNOWN_USER", "current_user"]


_MLFLOW_CREDENTIALS_FILE = os.path.join("~", ".mlflow", "credentials")
_USER_ENV_VARS = ("LOGNAME", "USER", "LNAME", "USERNAME")  # what getpass.getuser reads
_user_cache: tuple[tuple[str | None, ...], str] | None = None


def current_user() -> str:
    """The name of the user running this process, as MLflow's ``mlflow.user`` tag records it.

    ``MLFLOW_TRACKING_USERNAME``, else ``mlflow_tracking_username`` in
    ``~/.mlflow/credentials``, else the login name, else ``"unknown"``. Cheap after the first
    call: the credentials file is parsed again only when it changes and the login name is
    looked up again only when the environment variables it comes from change.
    """
    name = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if name:
        return name
    name = _file_cache.cached_parse(
        os.path.expanduser(_MLFLOW_CREDENTIALS_FILE), _parse_credentials
    )
    if name:
        return name
    global _user_cache
    key = tuple(os.environ.get(var) for var in _USER_ENV_VARS)
    cached = _user_cache
    if cached is not None and cached[0] == key:
        return cached[1]
    name = _login_name()
    _user_cache = (key, name)
    return name


def _login_name() -> str:
    try:
        name = getpass.getuser()  # environment, then the password database
        if name:
            return name
    except Exception:  # KeyError, OSError, ImportError depending on platform and version
        pass
    try:
        name = os.getlogin()
        if name:
            return name
    except Exception:
        pass
    return UNKNOWN_USER


def _parse_credentials(text: str) -> str | None:
    import configparser  # only when the file exists, then cached with its result

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
        return parser.get("mlflow", "mlflow_tracking_username", fallback=None) or None
    except configparser.Error:
        return None


def clear_cache() -> None:
    """Forget the login name found."""
    global _user_cache
    _user_cache = None
