"""Tests for labtrack.cli._group: error rendering and lazy subcommands."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from labtrack.cli._group import LabtrackGroup, one_line
from labtrack.errors import ResourceDoesNotExist, TemporarilyUnavailable


def make_group(error: BaseException) -> click.Group:
    @click.group(cls=LabtrackGroup)
    def root() -> None:
        """Root."""

    @root.group()
    def inner() -> None:
        """Inner."""

    @inner.command()
    def fail() -> None:
        """Fail."""
        raise error

    return root


@pytest.mark.parametrize(
    ("error", "stderr"),
    [
        (ResourceDoesNotExist("Run with id=x not found"), "Error: Run with id=x not found\n"),
        (TemporarilyUnavailable("first line\n  second line\n"), "Error: first line second line\n"),
        (
            PermissionError(13, "Permission denied", "/some/file"),
            "Error: Permission denied: /some/file\n",
        ),
        (OSError("disk on fire"), "Error: disk on fire\n"),
    ],
)
def test_errors_become_one_line(error: BaseException, stderr: str) -> None:
    result = CliRunner().invoke(make_group(error), ["inner", "fail"])
    assert result.exit_code == 1
    assert result.stderr == stderr
    assert result.stdout == ""


def test_nested_groups_are_labtrack_groups() -> None:
    root = make_group(ValueError())
    assert isinstance(root.commands["inner"], LabtrackGroup)


def test_bugs_are_not_hidden() -> None:
    result = CliRunner().invoke(make_group(ValueError("a bug")), ["inner", "fail"])
    assert isinstance(result.exception, ValueError)


def test_lazy_commands_are_imported_on_first_use() -> None:
    group = LabtrackGroup(name="root", lazy_commands={"db": "labtrack.cli.db:db"}, help="Root.")
    ctx = click.Context(group)
    assert group.list_commands(ctx) == ["db"]
    assert "db" not in group.commands
    command = group.get_command(ctx, "db")
    assert isinstance(command, click.Group)
    assert group.commands["db"] is command
    assert group.get_command(ctx, "nope") is None


def test_a_lazy_target_must_be_a_command() -> None:
    group = LabtrackGroup(name="root", lazy_commands={"bad": "labtrack.cli.db:__doc__"})
    with pytest.raises(TypeError, match="is not a click command"):
        group.get_command(click.Context(group), "bad")


@pytest.mark.parametrize(
    ("message", "expected"),
    [("one", "one"), ("  a\n\n  b  \n", "a b"), ("", "")],
)
def test_one_line(message: str, expected: str) -> None:
    assert one_line(message) == expected
