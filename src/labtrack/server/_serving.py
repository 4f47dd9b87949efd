"""How uvicorn serves labtrack: its HTTP protocol and the options every server gets.

:class:`HTTPProtocol` is uvicorn's own (httptools or h11, whichever is installed) with
two additions:

- **TCP_NODELAY on every connection.** With ``--workers N`` (N > 1) uvicorn binds the
  listening socket itself, with ``proto=0``; asyncio sets TCP_NODELAY on accepted
  connections only when the listening socket's ``proto`` is ``IPPROTO_TCP``, so answers
  would wait on Nagle's algorithm and the peer's delayed ACK (about 40 ms per request).
- **A header timeout.** uvicorn waits for ever for a request line and headers, so
  connections that send half a request and stop (a "slowloris" client, or a port
  scanner) pile up. A client has ``header_timeout`` seconds, from connecting (or from its
  first byte on a kept-alive connection), to send its request's headers; then the
  connection is closed. Idle kept-alive connections keep uvicorn's own keep-alive timeout.

:func:`uvicorn_options` adds the bound on open connections (uvicorn's
``limit_concurrency``: beyond it every request is answered 503 at once).
"""

from __future__ import annotations

import asyncio
import functools
import socket
from typing import TYPE_CHECKING, Any, cast

from uvicorn.protocols.http.auto import AutoHTTPProtocol

if TYPE_CHECKING:
    from labtrack.server._context import ServerConfig

__all__ = ["HTTPProtocol", "uvicorn_options"]

#: Seconds a kept-alive connection may stay idle between requests.
KEEP_ALIVE_SECONDS = 60
DEFAULT_HEADER_TIMEOUT = 10.0


class HTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's default HTTP protocol with TCP_NODELAY on and a header timeout."""

    def __init__(self, *args: Any, header_timeout: float = DEFAULT_HEADER_TIMEOUT, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        sock: Any = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        super().connection_made(transport)
        self._start_header_timer()

    def data_received(self, data: bytes) -> None:
        waiting, cycle = self._waiting_for_headers(), self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # a request's headers have been read
            self._stop_header_timer()
        elif waiting and self._header_timer is None:  # the first bytes of the next request
            self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or bool(self.cycle.response_complete)

    def _start_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(config: ServerConfig) -> dict[str, Any]:
    """The options of ``uvicorn.run`` / ``uvicorn.Config`` that serve ``config``'s limits."""
    protocol = functools.partial(HTTPProtocol, header_timeout=config.header_timeout)
    return {
        "http": cast("type[asyncio.Protocol]", protocol),
        "limit_concurrency": config.max_connections,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }
