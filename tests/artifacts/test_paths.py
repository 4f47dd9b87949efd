"""normalize_artifact_path: the one gate for caller-supplied artifact paths."""

from __future__ import annotations

import ntpath
import posixpath
from pathlib import PurePosixPath
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labtrack.artifacts._paths import join_artifact_path, normalize_artifact_path
from labtrack.errors import InvalidParameterValue


@pytest.mark.parametrize(
    ("given_path", "expected"),
    [
        (None, ""),
        ("", ""),
        (".", ""),
        ("./", ""),
        ("a", "a"),
        ("a/b.txt", "a/b.txt"),
        ("a//b/./c/", "a/b/c"),
        ("./a", "a"),
        ("..a", "..a"),
        ("a..", "a.."),
        ("a/.hidden/b..c", "a/.hidden/b..c"),
        ("reports/a.html", "reports/a.html"),
        ("ab:c", "ab:c"),
        ("naïve/日本語.txt", "naïve/日本語.txt"),
        # '%' is an ordinary character and is not decoded...
        ("100%25.txt", "100%25.txt"),
        ("a%20b", "a%20b"),
        ("50%", "50%"),
        ("%zz", "%zz"),
        # ...and decodings that stay harmless are allowed.
        ("v1%2e0.txt", "v1%2e0.txt"),
        ("a%2fb", "a%2fb"),
    ],
)
def test_valid_paths(given_path: str | None, expected: str) -> None:
    assert normalize_artifact_path(given_path) == expected


def test_pathlike_is_accepted() -> None:
    assert normalize_artifact_path(PurePosixPath("a/b")) == "a/b"


HOSTILE = [
    "..",
    "../x",
    "a/..",
    "a/../../x",
    "a/b/../c",
    "/etc/passwd",
    "/",
    "//server/share",
    "C:\\x",
    "C:/x",
    "c:x",
    "a/C:x",
    "0:",
    "é:x",
    "\\\\server\\share",
    "..\\x",
    "a\\b",
    "a\x00b",
    "\x00",
    "%2e%2e/x",
    "%2E%2E%2Fx",
    "a/%2e%2e/%2e%2e/x",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e/x",
    "%25252e%25252e%25252fx",
    "%2fetc%2fpasswd",
    "./%2Fetc%2Fpasswd",
    "a/%2e%2e",
    "a%5cb",
    "a%00b",
    "C%3a%5cx",
    "...",
    ".. ",
    " ",
    "a/. ./b",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_paths_are_refused(hostile: str) -> None:
    with pytest.raises(InvalidParameterValue) as info:
        normalize_artifact_path(hostile)
    message = info.value.message
    assert "\n" not in message
    assert repr(hostile) in message


def test_message_names_the_decoded_form() -> None:
    with pytest.raises(InvalidParameterValue, match=r"decoded to '\.\./x'"):
        normalize_artifact_path("%2e%2e/x")


def test_very_long_path_is_shortened_in_message() -> None:
    with pytest.raises(InvalidParameterValue) as info:
        normalize_artifact_path("a/" * 1000 + "..")
    assert len(info.value.message) < 400


@pytest.mark.parametrize("bad", [123, b"a/b", ["a"]])
def test_non_string_is_refused(bad: object) -> None:
    with pytest.raises(InvalidParameterValue, match="expected a string"):
        normalize_artifact_path(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((None, "a.txt"), "a.txt"),
        (("", "a.txt"), "a.txt"),
        (("dir/sub/", "a.txt"), "dir/sub/a.txt"),
        (("a", None, "b"), "a/b"),
        ((None,), ""),
    ],
)
def test_join(parts: tuple[str | None, ...], expected: str) -> None:
    assert join_artifact_path(*parts) == expected


@pytest.mark.parametrize("parts", [("..", "a"), ("/abs", "a"), ("a", "%2e%2e"), ("a\\b", "c")])
def test_join_refuses_hostile_parts(parts: tuple[str, ...]) -> None:
    with pytest.raises(InvalidParameterValue, match=r"^Invalid artifact path '"):
        join_artifact_path(*parts)


# -- properties -----------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        *["..", ".", "a", "b.txt", "/", "//", "\\", " ", "\x00", "~", "é"],
        *["%", "%2e", "%2E", "%2f", "%5c", "%25", "%00", "C:", "c", ":"],
    ]
)
_PATHS = st.one_of(st.text(), st.lists(_PIECES, max_size=12).map("".join))


def _inside_posix(root: str, rel: str) -> bool:
    for joined in (posixpath.join(root, rel), posixpath.join(root, *rel.split("/"))):
        joined = posixpath.normpath(joined)
        if joined != root and not joined.startswith(root + "/"):
            return False
    return True


def _inside_windows(root: str, rel: str) -> bool:
    for joined in (ntpath.join(root, rel), ntpath.join(root, *rel.split("/"))):
        joined = ntpath.normpath(joined)
        if joined != root and not joined.startswith(root + "\\"):
            return False
    return True


@given(_PATHS)
def test_result_stays_inside_any_root(path: str) -> None:
    try:
        clean = normalize_artifact_path(path)
    except InvalidParameterValue:
        return
    for form in (clean, unquote(clean), unquote(unquote(clean))):
        assert _inside_posix("/srv/root", form)
        assert _inside_windows("C:\\srv\\root", form)
    assert clean == "" or clean.split("/").count("") == 0
    assert not clean.startswith("/")


@given(_PATHS)
def test_normalization_is_idempotent(path: str) -> None:
    try:
        clean = normalize_artifact_path(path)
    except InvalidParameterValue:
        return
    assert normalize_artifact_path(clean) == clean
