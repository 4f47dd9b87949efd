"""How uvicorn serves labtrack (labtrack/server/_serving.py), on a real port with raw sockets:
a connection that sends half a request is closed after the header timeout, a kept-alive
one is not, and beyond the connection limit requests are answered 503."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livesrv import serve_in_thread

HEADER_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("serving")
    with serve_in_thread(
        f"sqlite:///{tmp / 'db.db'}", str(tmp / "artifacts"), header_timeout=HEADER_TIMEOUT
    ) as url:
        yield url


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    return sock


def closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes ``sock`` (reading whatever it sends until then)."""
    started = time.monotonic()
    while sock.recv(65536):
        pass
    return time.monotonic() - started


def health(sock: socket.socket) -> bytes:
    """One complete keep-alive request on ``sock``, and the head of its answer."""
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    reply = b""
    while not reply.endswith(b"OK"):
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        reply += chunk
    return reply


@pytest.mark.parametrize(
    "partial",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n",  # headers without their end
        b"GET /api/2.0/mlflow/experiments/get?experiment_id=0 HT",  # half a request line
        b"",  # nothing at all
    ],
    ids=["headers", "request-line", "nothing"],
)
def test_a_connection_that_stops_before_the_end_of_its_headers_is_closed(
    server: str, partial: bytes
) -> None:
    with connect(server) as sock:
        sock.sendall(partial)
        # The socket would wait 20 s for an answer; the server closes it at the timeout.
        assert HEADER_TIMEOUT * 0.8 <= closed_after(sock) < 10


def test_on_a_kept_alive_connection_the_next_request_has_the_header_timeout_too(
    server: str,
) -> None:
    with connect(server) as sock:
        assert health(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        assert closed_after(sock) < 10


def test_an_idle_kept_alive_connection_outlives_the_header_timeout(server: str) -> None:
    """Between requests the keep-alive timeout (60 s) applies, not the header timeout."""
    with connect(server) as sock:
        assert health(sock).startswith(b"HTTP/1.1 200")
        time.sleep(HEADER_TIMEOUT * 3)
        assert health(sock).startswith(b"HTTP/1.1 200")


def test_headers_sent_in_pieces_within_the_timeout_are_answered(server: str) -> None:
    with connect(server) as sock:
        for piece in (b"GET /hea", b"lth HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"\r\n"):
            sock.sendall(piece)
        reply = b""
        while not reply.endswith(b"OK"):
            reply += sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200")


def test_beyond_the_connection_limit_requests_are_answered_503(tmp_path: Path) -> None:
    with serve_in_thread(
        f"sqlite:///{tmp_path / 'db.db'}", str(tmp_path / "artifacts"), max_connections=3
    ) as url:
        held = [connect(url) for _ in range(3)]
        try:
            deadline = time.monotonic() + 15
            # Until the server has taken the three connections.
            while (status := httpx.get(f"{url}/health").status_code) == 200:
                assert time.monotonic() < deadline, "the limit was never reached"
                time.sleep(0.01)
            assert status == 503
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 15
        while httpx.get(f"{url}/health").status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.01)
