"""uvicorn's HTTP protocol with TCP_NODELAY set on every connection.

With ``--workers N`` (N > 1) uvicorn binds the listening socket itself, with
``proto=0``; asyncio sets TCP_NODELAY on accepted connections only when the listening
socket's ``proto`` is ``IPPROTO_TCP``, so responses would wait on Nagle's algorithm and
the peer's delayed ACK (about 40 ms per request on Linux). This protocol sets the option
on each connection whatever the listening socket, through uvicorn's public ``http``
setting (``http="labtrack.server._nodelay:NoDelayHTTPProtocol"``).
"""

from __future__ import annotations

import socket
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = ["NoDelayHTTPProtocol"]


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's default HTTP protocol (httptools or h11), with TCP_NODELAY on."""

    def connection_made(self, transport: Any) -> None:
        sock: Any = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        super().connection_made(transport)
