"""Validation of artifact paths supplied by callers.

Every artifact path (``artifact_path``, ``artifact_file``, the ``path`` of a
listing or download) is relative to a run's artifact root and must stay inside
it. :func:`normalize_artifact_path` is the single gate every repository passes
caller input through; it returns a clean posix relative path or raises
:class:`~labtrack.errors.InvalidParameterValue`.

Percent-encoding policy: the path is *not* decoded (``"100%25 done.txt"`` and
``"a%20b"`` are legal, literal file names), but the path is also checked after
percent-decoding it repeatedly until it no longer changes. A path is refused if
any of those decoded forms would be hostile (``%2e%2e%2f``, ``%252e%252e/``,
``%2fetc``, ``%5c``, ``%00``). This blocks every layer that decodes later (a
proxy, a URL builder, an object store) from turning a harmless-looking name
into a traversal, without mangling names that merely contain ``%``.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote

from labtrack.artifacts._atomic import TEMP_PREFIX
from labtrack.errors import InvalidParameterValue

__all__ = [
    "clean_artifact_path",
    "clean_file_path",
    "join_artifact_path",
    "normalize_artifact_path",
]

# "C:", "c:foo" (drive-relative): a drive to Windows path handling. Python's
# ntpath treats *any* character before a colon as a drive ("0:x", "é:x"), so
# joining such a segment would discard the root there; refuse them all.
_DRIVE = re.compile(r"^.:", re.DOTALL)
_MAX_SHOWN = 200


def _shown(path: str) -> str:
    """``repr`` of ``path`` for an error message, shortened if very long."""
    if len(path) > _MAX_SHOWN:
        path = path[:_MAX_SHOWN] + "..."
    return repr(path)


def _problem(path: str) -> str | None:
    """Why ``path`` (one decoded form) is unsafe, or None if it is fine."""
    if "\x00" in path:
        return "contains a NUL byte"
    if "\\" in path:
        return "contains a backslash (use '/' as the separator)"
    if path.startswith("/"):
        return "is absolute (artifact paths are relative to the run's artifact root)"
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            return "contains a '..' component"
        if segment.strip(". ") == "":
            # "...", ".. ", " " - Windows strips trailing dots and spaces, so
            # such names can alias ".." there.
            return f"contains a segment made only of dots and spaces ({segment!r})"
        if _DRIVE.match(segment):
            return "contains a Windows drive prefix"
    return None


def _decoded_forms(path: str) -> list[str]:
    """``path`` and each result of percent-decoding it again, until stable."""
    forms = [path]
    while "%" in forms[-1]:
        nxt = unquote(forms[-1], errors="surrogateescape")
        if nxt == forms[-1]:
            break
        forms.append(nxt)  # each step shortens the string, so this ends
    return forms


def normalize_artifact_path(path: str | os.PathLike[str] | None) -> str:
    """Return ``path`` as a clean posix path relative to the artifact root.

    ``None``, ``""`` and ``"."`` (the root itself) return ``""``.
    Empty and ``.`` segments are collapsed (``"a//b/./c/"`` -> ``"a/b/c"``).
    Raises :class:`InvalidParameterValue` naming the path if it contains ``..``,
    is absolute (``/x``, ``C:\\x``, ``\\\\server\\share``), uses backslashes,
    contains NUL, or would become any of these after percent-decoding.
    """
    if path is None:
        return ""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise InvalidParameterValue(
            f"Invalid artifact path {path!r}: expected a string, got {type(path).__name__}"
        )
    clean = "/".join(s for s in path.split("/") if s not in ("", "."))
    # The clean form is checked too: collapsing "./%2F..." exposes a leading
    # encoded slash that was harmless in the original.
    for form in [*_decoded_forms(path), *_decoded_forms(clean)]:
        problem = _problem(form)
        if problem is not None:
            via = "" if form == path else f" once normalized/decoded to {_shown(form)}"
            raise InvalidParameterValue(f"Invalid artifact path {_shown(path)}: {problem}{via}")
    return clean


def join_artifact_path(*parts: str | None) -> str:
    """Join artifact path pieces with ``/`` and normalize the result.

    ``None`` and empty parts are skipped; every part is validated.
    """
    kept = [normalize_artifact_path(p) for p in parts]
    return normalize_artifact_path("/".join(p for p in kept if p))


def clean_artifact_path(raw: str | None, *, what: str = "Artifact path") -> str:
    """``raw`` as a clean relative path that no request may use to reach temporary files.

    On top of :func:`normalize_artifact_path`, refuses any segment starting with
    ``.labtrack-tmp-`` (case-insensitively, also once percent-decoded): that namespace holds
    writes in progress and the server's multipart staging area, which no API path may reach.
    """
    path = normalize_artifact_path(raw)
    reserved = TEMP_PREFIX.casefold()
    for form in _decoded_forms(path):
        for segment in form.split("/"):
            if segment.casefold().startswith(reserved):
                raise InvalidParameterValue(
                    f"Invalid {what.lower()} {_shown(path)}: names starting with "
                    f"{TEMP_PREFIX!r} are reserved for the server's temporary files"
                )
    return path


def clean_file_path(raw: str | None) -> str:
    """:func:`clean_artifact_path` of a path that must name a file, not the root."""
    path = clean_artifact_path(raw)
    if path == "":
        raise InvalidParameterValue("The artifact path must name a file, not the artifact root")
    return path
