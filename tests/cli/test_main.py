"""Tests for the labtrack root command: version, help, tracking URI resolution, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from labtrack._version import __version__
from labtrack.cli.main import cli
from labtrack.tracking.client import TrackingClient

from .conftest import Invoke

UNREACHABLE_POSTGRES = "postgresql://nobody@127.0.0.1:1/x"


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command and group under ``command``, with its full name."""
    yield " ".join(("labtrack", *path)), command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from walk(sub, (*path, name))


ALL_COMMANDS = dict(walk(cli))


def test_version(invoke: Invoke) -> None:
    assert invoke("--version").output.strip() == f"labtrack, version {__version__}"


def test_the_command_tree() -> None:
    leaves = {name for name, cmd in ALL_COMMANDS.items() if not isinstance(cmd, click.Group)}
    assert {
        "labtrack experiments list",
        "labtrack experiments create",
        "labtrack experiments rename",
        "labtrack experiments delete",
        "labtrack experiments restore",
        "labtrack runs list",
        "labtrack runs show",
        "labtrack runs delete",
        "labtrack runs restore",
        "labtrack artifacts list",
        "labtrack artifacts download",
        "labtrack db upgrade",
    } <= leaves


@pytest.mark.parametrize("name", sorted(ALL_COMMANDS))
def test_every_command_and_option_has_help(name: str) -> None:
    command = ALL_COMMANDS[name]
    assert (command.help or "").strip(), f"{name} has no help text"
    assert (command.get_short_help_str() or "").strip()
    ctx = click.Context(command, info_name=name)
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"{name} {param.opts[0]} has no help text"
        else:
            # Arguments have no help of their own: the command's text must name them.
            assert param.human_readable_name in (command.help or "") + (command.epilog or ""), (
                f"{name}: argument {param.human_readable_name} is not explained"
            )


@pytest.mark.parametrize("name", sorted(n for n, c in ALL_COMMANDS.items() if n != "labtrack"))
def test_every_command_takes_tracking_uri(name: str) -> None:
    """Commands that talk to a tracking store take --tracking-uri; the server commands
    instead name the store they serve (--backend-store-uri), as MLflow's do."""
    command = ALL_COMMANDS[name]
    if isinstance(command, click.Group):
        return
    options = {opt for p in command.params for opt in p.opts}
    assert "--tracking-uri" in options or "--backend-store-uri" in options


def test_help_runs_for_every_command(invoke: Invoke) -> None:
    for name in ALL_COMMANDS:
        result = invoke(*name.split()[1:], "--help")
        assert result.output.startswith("Usage: ")


def test_importing_the_cli_stays_light() -> None:
    code = (
        "import sys, labtrack.cli.main; "
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'labtrack.tracking.client', "
        "'labtrack.cli.runs') if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


# -- tracking URI resolution -------------------------------------------------------------


def experiment_names(invoke: Invoke, *args: str) -> set[str]:
    listed = json.loads(invoke(*args).stdout)
    return {e["name"] for e in listed} - {"Default"}


@pytest.fixture
def three_stores(tmp_path: Path) -> dict[str, str]:
    uris = {}
    for which in ("labtrack", "mlflow", "flag"):
        uris[which] = f"sqlite:///{tmp_path / which}.db"
        TrackingClient(uris[which]).create_experiment(f"in-{which}")
    return uris


def test_labtrack_env_var_beats_mlflow_env_var(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, three_stores: dict[str, str]
) -> None:
    monkeypatch.setenv("LABTRACK_TRACKING_URI", three_stores["labtrack"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", three_stores["mlflow"])
    assert experiment_names(invoke, "experiments", "list", "-o", "json") == {"in-labtrack"}


def test_mlflow_env_var_is_used_without_labtrack_env_var(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, three_stores: dict[str, str]
) -> None:
    monkeypatch.delenv("LABTRACK_TRACKING_URI")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", three_stores["mlflow"])
    assert experiment_names(invoke, "experiments", "list", "-o", "json") == {"in-mlflow"}


@pytest.mark.parametrize("where", ["group", "command"])
def test_tracking_uri_flag_beats_env_vars(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, three_stores: dict[str, str], where: str
) -> None:
    monkeypatch.setenv("LABTRACK_TRACKING_URI", three_stores["labtrack"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", three_stores["mlflow"])
    flag = ("--tracking-uri", three_stores["flag"])
    args = (*flag, "experiments", "list") if where == "group" else ("experiments", "list", *flag)
    assert experiment_names(invoke, *args, "-o", "json") == {"in-flag"}


def test_command_flag_beats_group_flag(invoke: Invoke, three_stores: dict[str, str]) -> None:
    group = ("--tracking-uri", three_stores["mlflow"])
    command = ("--tracking-uri", three_stores["flag"])
    assert experiment_names(invoke, *group, "experiments", "list", *command, "-o", "json") == {
        "in-flag"
    }


def test_default_is_the_labtrack_env_var(invoke: Invoke, tmp_path: Path) -> None:
    # The autouse settings fixture points LABTRACK_TRACKING_URI at a sqlite file in $HOME.
    invoke("experiments", "create", "from-env")
    assert experiment_names(invoke, "experiments", "list", "-o", "json") == {"from-env"}


# -- errors -----------------------------------------------------------------------------


def test_unsupported_uri_is_a_one_line_error(invoke: Invoke) -> None:
    result = invoke("runs", "list", "--tracking-uri", "ftp://x", exit_code=1)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: Unsupported tracking URI 'ftp://x'")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["runs", "list", "--max-results", "abc"], "Invalid value for '--max-results'"),
        (["runs", "list", "--output", "xml"], "Invalid value for '--output'"),
        (["runs", "list", "--bogus"], "No such option '--bogus'"),
        (["runs", "nope"], "No such command 'nope'"),
        (["runs", "show"], "Missing argument 'RUN_ID'"),
        (["--bogus"], "No such option '--bogus'"),
    ],
)
def test_command_line_mistakes_are_one_line_naming_the_help(
    invoke: Invoke, args: list[str], says: str
) -> None:
    result = invoke(*args, exit_code=2)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"Error: {says}")
    assert "--help')" in result.stderr


def test_a_group_called_bare_shows_its_help(invoke: Invoke) -> None:
    result = invoke("runs", exit_code=2)
    assert "Commands:" in result.output
    assert "list" in result.output


def test_missing_sqlite_directory_is_a_one_line_error(invoke: Invoke, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    result = invoke("--tracking-uri", uri, "experiments", "list", exit_code=1)
    assert result.stderr.startswith("Error: Cannot open")
    assert "does not exist" in result.stderr


def test_unreachable_database_is_a_one_line_error(invoke: Invoke) -> None:
    result = invoke("--tracking-uri", UNREACHABLE_POSTGRES, "runs", "list", exit_code=1)
    assert result.stderr.startswith("Error: ")
    assert "127.0.0.1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_in_a_real_process_prints_no_traceback() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "labtrack.cli",
            "--tracking-uri",
            UNREACHABLE_POSTGRES,
            "runs",
            "list",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")


def test_bad_config_file_is_a_one_line_error(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LABTRACK_TRACKING_URI")
    config = tmp_path / "labtrack.toml"
    config.write_text('tracking_uri = "sqlite:///x.db"\nno_such_setting = 1\n')
    monkeypatch.setenv("LABTRACK_CONFIG", str(config))
    result = invoke("experiments", "list", exit_code=1)
    assert result.stderr.startswith("Error: Unknown setting(s) no_such_setting")


def test_usage_errors_keep_clicks_exit_code(invoke: Invoke) -> None:
    result = invoke("runs", "list", "--output", "xml", exit_code=2)
    assert "Invalid value for '--output'" in result.stderr
