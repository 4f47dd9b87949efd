"""The ``labtrack`` command: the root group and the registry of its command groups.

To add a command group (``labtrack server``, ``labtrack models`` ...): write
``cli/<name>.py`` defining a click group or command (use
``@click.group(cls=LabtrackGroup)`` so library errors print as one line, and
``@tracking_uri_option`` where the command talks to a tracking store), then add
one line to :data:`COMMANDS`. Modules are imported only when their command runs
or help is shown, so keep imports of heavy libraries inside the functions anyway.
"""

from __future__ import annotations

import click

from labtrack._version import __version__
from labtrack.cli._group import LabtrackGroup
from labtrack.cli._options import tracking_uri_option

COMMANDS: dict[str, str] = {
    "experiments": "labtrack.cli.experiments:experiments",
    "runs": "labtrack.cli.runs:runs",
    "artifacts": "labtrack.cli.artifacts:artifacts",
    "models": "labtrack.cli.models:models",
    "db": "labtrack.cli.db:db",
    "server": "labtrack.cli.server:server",
    "ui": "labtrack.cli.server:ui",
}
"""Subcommand name -> ``"module:attribute"`` of its click group or command."""


@click.group(cls=LabtrackGroup, lazy_commands=COMMANDS)
@click.version_option(
    __version__, "--version", prog_name="labtrack", help="Show the labtrack version and exit."
)
@tracking_uri_option
def cli() -> None:
    """labtrack: track experiments, runs, metrics and artifacts (compatible with MLflow).

    Every command reads the tracking URI from --tracking-uri (given here or after the
    command), else $LABTRACK_TRACKING_URI, else $MLFLOW_TRACKING_URI, else the config
    file, else sqlite:///labtrack.db in the current directory.
    """
