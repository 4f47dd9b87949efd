"""``labtrack server`` and ``labtrack ui``: options, the banner, the port they pick.

uvicorn is replaced by a recorder (``served``): these tests check what the commands
decide and print, not uvicorn; the server itself is tested in tests/server and, as a
real process, by the compatibility suite.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labtrack.cli._ports import DEFAULT_PORTS, free_port_from
from mlflow_made import MlflowStores, mlflow_stores_for_test

from .conftest import Invoke


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """The keyword arguments of every ``uvicorn.run`` call (nothing is served).

    The command hands its config to uvicorn's workers through ``LABTRACK_SERVER_*``
    variables of this process: they are removed afterwards, so no later test (a compat
    server started from this process, say) inherits them. Relative paths land in
    ``tmp_path``.
    """
    import uvicorn

    monkeypatch.chdir(tmp_path)
    before = dict(os.environ)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    yield calls
    for name in set(os.environ) - set(before):
        del os.environ[name]
    os.environ.update(before)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'server.db'}"


def test_mlflow_short_options(invoke: Invoke, served: list[dict[str, Any]], store: str) -> None:
    port = _free_port()
    invoke("server", "-h", "127.0.0.1", "-p", str(port), "-w", "4", "--backend-store-uri", store)
    assert [(c["host"], c["port"], c["workers"]) for c in served] == [("127.0.0.1", port, 4)]


@pytest.mark.parametrize("command", ["server", "ui"])
def test_h_is_the_host_so_help_is_long_only(invoke: Invoke, command: str) -> None:
    # As `mlflow server -h`: -h takes a value, --help shows the help.
    result = invoke(command, "-h", exit_code=2)
    assert result.output == "Error: Option '-h' requires an argument.\n"
    assert "-h, --host TEXT" in invoke(command, "--help").output


def test_models_serve_short_options(invoke: Invoke) -> None:
    help_text = invoke("models", "serve", "--help").output
    for short, long in [("-m", "--model-uri"), ("-h", "--host"), ("-p", "--port")]:
        assert f"{short}, {long}" in help_text
    assert "-w, --workers" in help_text


def test_server_banner_names_the_given_artifact_root(
    invoke: Invoke, served: list[dict[str, Any]], store: str, tmp_path: Path
) -> None:
    port = _free_port()
    result = invoke(
        "server",
        *("--backend-store-uri", store, "-p", str(port)),
        *("--default-artifact-root", "./artifacts_local"),
        *("--artifacts-destination", str(tmp_path / "proxied")),
    )
    cwd = Path.cwd()
    assert result.stderr == (
        f"labtrack server at http://127.0.0.1:{port} "
        "(tracking API, artifact proxy and web UI; 1 worker)\n"
        f"  backend store:         {store}\n"
        f"  default artifact root: file://{cwd}/artifacts_local\n"
        f"  proxied artifacts in:  file://{tmp_path}/proxied\n"
    )


def test_server_banner_s3_root_without_proxy(
    invoke: Invoke, served: list[dict[str, Any]], store: str
) -> None:
    port = _free_port()
    result = invoke(
        "server",
        *("--backend-store-uri", store, "-p", str(port), "-w", "2"),
        *("--default-artifact-root", "s3://bucket/runs", "--no-serve-artifacts"),
    )
    assert result.stderr == (
        f"labtrack server at http://127.0.0.1:{port} (tracking API and web UI; 2 workers)\n"
        f"  backend store:         {store}\n"
        "  default artifact root: s3://bucket/runs\n"
        "  proxied artifacts in:  none (--no-serve-artifacts)\n"
    )


def test_ui_banner_says_ui_and_the_proxy_default(
    invoke: Invoke, served: list[dict[str, Any]], store: str
) -> None:
    port = _free_port()
    result = invoke("ui", "--backend-store-uri", store, "-p", str(port))
    assert result.stderr == (
        f"labtrack ui at http://127.0.0.1:{port} (open it in a browser; 1 worker)\n"
        f"  backend store:         {store}\n"
        "  default artifact root: mlflow-artifacts:/ (uploaded through this server)\n"
        f"  proxied artifacts in:  file://{Path.cwd()}/labtrack-artifacts\n"
    )


@pytest.fixture
def port_5000_taken() -> Iterator[None]:
    """Something listens on 127.0.0.1:5000 (this test, unless another program already does)."""
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", 5000))
        listener.listen()
    except OSError:
        pass  # taken already: what the test needs
    try:
        yield
    finally:
        listener.close()


def test_ui_moves_off_a_taken_port_but_not_onto_models_serve(
    invoke: Invoke, served: list[dict[str, Any]], store: str, port_5000_taken: None
) -> None:
    result = invoke("ui", "--backend-store-uri", store)
    [call] = served
    port = call["port"]
    assert port not in DEFAULT_PORTS
    assert result.stderr.splitlines()[0] == (
        f"Port 5000 on 127.0.0.1 is in use: labtrack ui listens on {port} instead; "
        "5001 is left for labtrack models serve. Give --port to choose."
    )


def test_an_explicit_taken_port_is_refused(
    invoke: Invoke, served: list[dict[str, Any]], store: str, port_5000_taken: None
) -> None:
    result = invoke("ui", "--backend-store-uri", store, "--port", "5000", exit_code=1)
    assert result.output.startswith("Error: Cannot listen on 127.0.0.1:5000: ")
    assert result.output.endswith("Choose another --port (or stop what is using it).\n")
    assert served == []


def test_free_port_from_skips_other_commands_defaults() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        assert free_port_from("127.0.0.1", taken) not in {taken, *DEFAULT_PORTS}


# -- a store MLflow made ------------------------------------------------------------------
NOT_YET = (
    "labtrack cannot open it directly, and importing it (labtrack import mlflow) is not "
    "supported yet."
)


@pytest.fixture
def made(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> MlflowStores:
    return mlflow_stores_for_test(tmp_path_factory, tmp_path)


def test_ui_on_an_mlflow_database_says_what_it_is(
    invoke: Invoke, served: list[dict[str, Any]], made: MlflowStores
) -> None:
    uri = f"sqlite:///{made.database}"
    result = invoke("ui", "--backend-store-uri", uri, "-p", str(_free_port()), exit_code=1)
    assert result.stderr.startswith(f"Error: {made.database} is an MLflow database (MLflow ")
    assert result.stderr.endswith(
        f"{NOT_YET} Point labtrack at a new or labtrack-created database.\n"
    )
    assert len(result.stderr.splitlines()) == 1
    assert served == []


@pytest.mark.parametrize("command", [("ui", "--backend-store-uri"), ("experiments", "list")])
def test_an_mlruns_directory_says_what_it_is(
    invoke: Invoke,
    served: list[dict[str, Any]],
    made: MlflowStores,
    command: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = (
        [*command, "./mlruns"] if command[0] == "ui" else [*command, "--tracking-uri", "./mlruns"]
    )
    monkeypatch.chdir(made.mlruns.parent)
    result = invoke(*args, exit_code=1)
    assert result.stderr == (
        f"Error: ./mlruns is MLflow's file store (an mlruns directory, {made.mlruns}): "
        f"{NOT_YET} Use a database URL (sqlite:///labtrack.db, postgresql://..., "
        "mysql+pymysql://...) or a server URL (http://host:5000).\n"
    )
