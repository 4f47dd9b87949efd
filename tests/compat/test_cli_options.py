"""labtrack's commands take the short options MLflow's same commands take.

A course note's ``mlflow server -h 0.0.0.0 -p 5000 -w 4`` must run as ``labtrack server
...``: every short option of ``mlflow server`` / ``mlflow ui`` / ``mlflow models serve``
that labtrack has the long option of means the same long option here, and help stays
``--help`` where MLflow gives ``-h`` to the host.
"""

from __future__ import annotations

import click
import pytest

from compat._support import MLFLOW_MISSING

pytest.importorskip("mlflow", reason=MLFLOW_MISSING)

# Importing mlflow.cli imports MLflow's SQL store, which uses a loader SQLAlchemy 2.1
# deprecates: MLflow's warning, not labtrack's.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
)


def _short_options(command: click.Command) -> dict[str, str]:
    """short option -> its long option, over the command's options."""
    pairs = {}
    for param in command.params:
        if isinstance(param, click.Option):
            longs = [o for o in param.opts if o.startswith("--")]
            for short in (o for o in param.opts if len(o) == 2):
                pairs[short] = longs[0]
    return pairs


def _mlflow_command(*path: str) -> click.Command:
    from mlflow.cli import cli

    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None, name
        command = found
    return command


def _labtrack_command(*path: str) -> click.Command:
    from labtrack.cli.main import cli

    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None, name
        command = found
    return command


@pytest.mark.parametrize("path", [("server",), ("ui",), ("models", "serve")])
def test_short_options_mean_what_they_mean_in_mlflow(path: tuple[str, ...]) -> None:
    theirs = _mlflow_command(*path)
    ours = _labtrack_command(*path)
    our_longs = {o for p in ours.params for o in getattr(p, "opts", [])}
    expected = {s: long for s, long in _short_options(theirs).items() if long in our_longs}
    assert expected, "MLflow's command has short options labtrack shares"
    assert {s: long for s, long in _short_options(ours).items() if s in expected} == expected
    help_names = ours.get_help_option_names(click.Context(ours))
    assert help_names == theirs.get_help_option_names(click.Context(theirs))
