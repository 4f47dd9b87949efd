"""A real labtrack server on a real port, for tests where the network matters.

``serve_in_thread`` runs uvicorn in a background thread of the test process (fast:
the REST store's contract tests use it); ``serve_in_process`` starts
``labtrack server`` as its own process (the compatibility suite, fault tests).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"server at {url} did not become healthy in {timeout}s")


def forget_http_clients(url: str) -> None:
    """Close the labtrack clients cached for ``url`` (their sockets must not leak)."""
    from labtrack import _http

    for key in [k for k in _http._CLIENTS if k[0] == url]:
        _http._CLIENTS.pop(key).close()


@contextlib.contextmanager
def serve_in_thread(
    backend_store_uri: str,
    artifacts_destination: str,
    *,
    serve_artifacts: bool = True,
    cors_allowed_origins: tuple[str, ...] = (),
    statement_timeout: float | None = None,
) -> Iterator[str]:
    """``statement_timeout``: the server's (None: its default)."""
    import uvicorn

    from labtrack.server.app import ServerConfig, create_app

    if statement_timeout is None:
        statement_timeout = ServerConfig.statement_timeout
    app = create_app(
        ServerConfig(
            backend_store_uri=backend_store_uri,
            artifacts_destination=artifacts_destination,
            serve_artifacts=serve_artifacts,
            cors_allowed_origins=cors_allowed_origins,
            statement_timeout=statement_timeout,
        )
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        yield url
    finally:
        forget_http_clients(url)
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def serve_in_process(
    backend_store_uri: str,
    artifacts_destination: str | Path,
    *,
    port: int | None = None,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    log_file: Path | None = None,
    forget_clients: bool = True,
) -> Iterator[str]:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "labtrack.cli",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        str(artifacts_destination),
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    env = {**os.environ, **(extra_env or {})}
    out = open(log_file, "wb") if log_file else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(url, proc=proc)
        yield url
    finally:
        if forget_clients:
            forget_http_clients(url)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not isinstance(out, int):
            out.close()
