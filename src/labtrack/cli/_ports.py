"""The ports labtrack's commands listen on by default, and how a free one is found.

The defaults are MLflow's: ``labtrack server`` / ``labtrack ui`` on 5000 (``mlflow server``,
``mlflow ui``), ``labtrack models serve`` on 5001 (``mlflow models serve``). When
``labtrack ui`` finds its port taken it moves on, but never to another command's default:
a ``labtrack models serve`` started next must still find 5001 free.
"""

from __future__ import annotations

import socket

import click

SERVER_PORT = 5000
"""``labtrack server`` and ``labtrack ui`` (MLflow's ``mlflow server`` / ``mlflow ui``)."""

MODELS_SERVE_PORT = 5001
"""``labtrack models serve`` (MLflow's ``mlflow models serve``)."""

DEFAULT_PORTS: dict[int, str] = {
    SERVER_PORT: "labtrack server",
    MODELS_SERVE_PORT: "labtrack models serve",
}
"""Each default port -> the command it belongs to; ``labtrack ui`` never moves onto one."""


def _probe(host: str) -> socket.socket:
    """A socket set up as uvicorn's will be (reusing ports left in TIME_WAIT)."""
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return probe


def port_error(host: str, port: int) -> OSError | None:
    """Why ``host:port`` cannot be listened on, or None when it is free."""
    with _probe(host) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def check_port_free(host: str, port: int) -> None:
    """Refuse, as one line naming the port, to start on a port that is taken."""
    exc = port_error(host, port)
    if exc is not None:
        raise click.ClickException(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. "
            "Choose another --port (or stop what is using it)."
        )


def free_port_from(host: str, start: int, tries: int = 50) -> int:
    """The first free port from ``start`` on, skipping other commands' defaults."""
    for port in range(start, start + tries):
        if port != start and port in DEFAULT_PORTS:
            continue
        if port_error(host, port) is None:
            return port
    raise click.ClickException(f"No free port on {host} between {start} and {start + tries - 1}")
