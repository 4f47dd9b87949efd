"""Artifact URI helpers: scheme detection and ``file:`` URI <-> local path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote_to_bytes

from labtrack.errors import InvalidParameterValue

__all__ = [
    "local_path_from_uri",
    "location_to_uri",
    "path_to_file_uri",
    "redact_uri",
    "uri_scheme",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_WINDOWS_DRIVE_PATH = re.compile(r"^/?[A-Za-z]:[\\/]")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@?#]*@")


def uri_scheme(uri: str) -> str:
    """The lower-cased scheme of ``uri``, or ``""`` for a plain filesystem path.

    A single letter followed by ``:`` is a Windows drive (``C:\\runs``), not a scheme.
    """
    match = _SCHEME.match(uri)
    if match is None or len(match.group(1)) == 1:
        return ""
    return match.group(1).lower()


def location_to_uri(location: str) -> str:
    """An artifact location as a URI: one with a scheme (``s3://...``, ``file:...``,
    ``mlflow-artifacts:...``) as given, without a trailing slash; a local path (``~``
    expanded, made absolute) as a ``file://`` URI."""
    if "://" in location or location.startswith(("mlflow-artifacts:", "file:")):
        return location.rstrip("/")
    return path_to_file_uri(os.path.abspath(os.path.expanduser(location)))


def redact_uri(uri: str, limit: int = 200) -> str:
    """``uri`` fit for an error message: credentials removed, length capped."""
    uri = _USERINFO.sub(r"\1***@", uri)
    return uri if len(uri) <= limit else uri[:limit] + "..."


def local_path_from_uri(uri: str | os.PathLike[str]) -> Path:
    """The local filesystem path a ``file:`` URI or plain path names.

    Accepts ``file:///abs``, ``file:/abs``, ``file://localhost/abs``,
    ``file:///C:/abs`` (on Windows) and plain (absolute or relative) paths. File URIs are
    percent-decoded (``%20`` -> space); plain paths are taken literally. A
    relative plain path is returned relative, as given.
    """
    text = os.fspath(uri)
    if "\x00" in text:
        raise InvalidParameterValue(f"Invalid artifact URI {redact_uri(text)!r}: NUL byte")
    scheme = uri_scheme(text)
    if scheme == "":
        if text == "":
            raise InvalidParameterValue("Invalid artifact URI '': empty")
        return Path(text)
    if scheme != "file":
        raise InvalidParameterValue(
            f"Not a local artifact URI: {redact_uri(text)!r} (scheme {scheme!r}, expected 'file')"
        )
    # Parsed by hand rather than with urlsplit: '?' and '#' have no meaning in a
    # file URI naming an artifact directory, so they are kept as path characters.
    rest = text[len("file:") :]
    if rest.startswith("//"):
        host, slash, rest = rest[2:].partition("/")
        if host.lower() not in ("", "localhost"):
            raise InvalidParameterValue(
                f"Invalid artifact URI {redact_uri(text)!r}: file URIs on a remote host "
                f"({host!r}) are not supported"
            )
        rest = slash + rest
    raw = unquote_to_bytes(rest)
    if b"\x00" in raw:
        raise InvalidParameterValue(f"Invalid artifact URI {redact_uri(text)!r}: NUL byte")
    path = os.fsdecode(raw)
    if os.name == "nt" and _WINDOWS_DRIVE_PATH.match(path):
        # file:///C:/x -> C:/x (on POSIX "/C:/x" is an ordinary absolute path)
        return Path(path.lstrip("/"))
    if not path.startswith("/"):
        raise InvalidParameterValue(
            f"Invalid artifact URI {redact_uri(text)!r}: a file URI needs an absolute path"
        )
    return Path(path)


def path_to_file_uri(path: str | os.PathLike[str]) -> str:
    """A ``file://`` URI for ``path`` (made absolute, ``..`` collapsed, percent-encoded)."""
    return Path(os.path.abspath(os.fspath(path))).as_uri()
