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
