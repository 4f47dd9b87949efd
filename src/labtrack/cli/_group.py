"""The click group every labtrack command group uses.

It does two things once, for every command under it:

- library errors (:class:`~labtrack.errors.LabtrackError`: a missing run, a bad
  filter, an unreachable database, a wrong tracking URI ...) and file system
  errors become ``Error: <one line>`` on stderr with exit code 1, never a
  traceback; mistakes on the command line itself (an unknown option, a value of
  the wrong type) are one line too, naming the ``--help`` to read, with exit code 2;
- subcommands can be registered lazily as ``"module:attribute"`` strings, so
  ``labtrack --help`` and every command start without importing the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

from labtrack.errors import LabtrackError


class CommandError(click.ClickException):
    """A library or OS error, shown as one line (``Error: ...``) with exit code 1."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(message: str) -> str:
    """``message`` with its line breaks folded into spaces (a CLI error is one line)."""
    return " ".join(part.strip() for part in message.strip().splitlines() if part.strip())


def describe(exc: BaseException) -> str:
    """What went wrong, in the words of the exception, for a one-line message."""
    if isinstance(exc, LabtrackError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc) or type(exc).__name__


class OneLineUsageError(click.UsageError):
    """A command-line mistake as one line (click's own shows the usage block first)."""

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(one_line(error.format_message()), error.ctx)

    def show(self, file: Any = None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        click.echo(f"Error: {self.format_message()}{where}", file=file, err=file is None)


def _one_line(error: click.UsageError) -> click.UsageError:
    if isinstance(error, (OneLineUsageError, click.exceptions.NoArgsIsHelpError)):
        return error  # already one line, or a group called bare: its help is the answer
    return OneLineUsageError(error)


class LabtrackGroup(click.Group):
    """A click group that renders library errors as one line and loads subcommands lazily.

    ``lazy_commands`` maps a subcommand name to ``"package.module:attribute"``; the
    module is imported the first time the subcommand is looked up.
    """

    def __init__(
        self,
        *args: Any,
        lazy_commands: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is not None and cmd_name not in self.commands:
            module_name, _, attribute = target.partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{target} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _one_line(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from exc
        except (LabtrackError, OSError) as exc:
            raise CommandError(describe(exc)) from exc


# Groups and commands made with ``@some_group.group()`` are LabtrackGroups too.
LabtrackGroup.group_class = LabtrackGroup
