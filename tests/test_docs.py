"""The documentation keeps up with the code: commands, settings, public API, README contract."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

import labtrack
from labtrack.cli.main import cli
from labtrack.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def command_paths(group: click.Group, prefix: str = "labtrack") -> Iterator[str]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from command_paths(command, path)
        else:
            yield path


@pytest.mark.parametrize("path", sorted(command_paths(cli)))
def test_every_command_is_documented(path: str) -> None:
    assert f"`{path}" in (DOCS / "cli.md").read_text(), f"{path} is missing from docs/cli.md"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented(setting) -> None:
    text = (DOCS / "configuration.md").read_text()
    assert f"`{setting.name}`" in text
    for var in setting.env:
        assert f"`{var}`" in text


def _public_functions() -> list[str]:
    return [
        name for name in labtrack.__all__ if callable(getattr(labtrack, name)) and name[0].islower()
    ]


def test_every_public_function_is_documented() -> None:
    text = (DOCS / "tracking.md").read_text()
    # Whole names: ``log_params`` in the page does not document ``log_param``.
    missing = [
        name
        for name in _public_functions()
        if not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text)
    ]
    assert not missing


def test_every_public_function_has_a_docstring() -> None:
    missing = [name for name in _public_functions() if not inspect.getdoc(getattr(labtrack, name))]
    assert not missing


def test_readme_gives_the_ci_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "python examples/quickstart.py" in readme


# --- documented signatures ------------------------------------------------------------------

# What a documented call's receiver means: ``lt.x(...)`` / ``mlflow.x(...)`` / a bare ``x(...)``
# is labtrack's public ``x``; ``lt.sklearn.x`` a model namespace's; ``client.x`` the client's.
_NAMESPACES = ("data", "models", "pyfunc", "sklearn", "xgboost", "lightgbm")
_CALL = re.compile(
    r"(?<![\w.])(?:(?P<recv>lt|labtrack|mlflow|client|MlflowClient\(\)|TrackingClient\(\))\.)?"
    rf"(?:(?P<ns>{'|'.join(_NAMESPACES)})\.)?(?P<name>[a-z_][a-z0-9_]*)\("
)
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _documented_code() -> Iterator[tuple[str, str, bool]]:
    """(page, code, is_inline) for every code span and fenced block of docs/*.md and README."""
    for page in [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]:
        text = page.read_text()
        fenced = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
        for block in fenced.findall(text):
            yield page.name, block, False
        for span in re.findall(r"`([^`\n]+)`", fenced.sub("", text)):
            yield page.name, span, True


def _arguments(code: str, start: int) -> list[str] | None:
    """The top-level arguments of the call whose "(" is at ``start - 1``; None if unclosed."""
    depth, current, args, quote, comment = 0, "", [], "", False
    for char in code[start:]:
        if comment:
            comment = char != "\n"
            continue
        if char == "#" and not quote:
            comment = True
            continue
        if quote:
            current += char
            quote = "" if char == quote else quote
            continue
        if char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                args.append(current.strip())
                return [a for a in args if a]
            depth -= 1
        elif char == "," and depth == 0:
            args.append(current.strip())
            current = ""
            continue
        current += char
    return None


def _target(recv: str | None, ns: str | None, name: str) -> object | None:
    if recv in ("client", "MlflowClient()", "TrackingClient()"):
        return None if ns else getattr(labtrack.TrackingClient, name, None)
    if ns:
        return getattr(getattr(labtrack, ns), name, None)
    if recv is None and name not in labtrack.__all__:
        return None  # a bare call of something else (print, len, a user's function)
    return getattr(labtrack, name, None) if name in labtrack.__all__ else None


def _signature_mismatches() -> Iterator[str]:
    for page, code, inline in _documented_code():
        for match in _CALL.finditer(code):
            target = _target(match["recv"], match["ns"], match["name"])
            if not callable(target) or inspect.isclass(target):
                continue
            args = _arguments(code, match.end())
            if args is None:
                continue
            params = inspect.signature(target).parameters
            names = [p for p in params if p != "self"]
            kinds = {p.kind for p in params.values()}
            takes_kwargs = inspect.Parameter.VAR_KEYWORD in kinds
            positional = [
                n
                for n in names
                if params[n].kind
                in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            ]
            where = f"{page}: {match.group(0)}{', '.join(args)})"
            for index, arg in enumerate(args):
                if arg in ("...", "*", "/") or arg.startswith("*"):
                    continue
                keyword = re.match(r"([A-Za-z_]\w*)\s*=(?!=)", arg)
                if keyword:
                    if keyword[1] not in names and not takes_kwargs:
                        yield f"{where}: no parameter {keyword[1]!r} (has {names})"
                    continue
                if index >= len(positional) and inspect.Parameter.VAR_POSITIONAL not in kinds:
                    yield f"{where}: {index + 1} positional arguments (takes {positional})"
                    continue
                # A signature written out in prose (`log_artifact(local_path, ...)`) names
                # the parameters; in examples the arguments are values, not checked by name.
                if (
                    inline
                    and _IDENTIFIER.fullmatch(arg)
                    and index < len(positional)
                    and arg not in names
                ):
                    yield f"{where}: argument {index + 1} is {positional[index]!r}, not {arg!r}"


def test_documented_signatures_match_the_code() -> None:
    """Every ``name(arg, key=...)`` of a labtrack function in the docs uses its real
    parameter names (docs/tracking.md once documented ``log_artifact(path, ...)``)."""
    mismatches = list(_signature_mismatches())
    assert not mismatches, "\n".join(mismatches)
