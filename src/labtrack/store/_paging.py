"""Pages of results and their tokens.

A store fetches one row more than a page holds: if it comes back, there is a next
page, and the token says where it starts. Tokens are opaque to clients (base64 of a
small JSON object) and checked on the way back in; a bad one is the caller's error.

Two kinds of position, one format:

- :class:`OffsetPage`, ``{"offset": n}``: the next page starts ``n`` rows into the
  ordered results (searches).
- :class:`PageAfter`, ``{"after": key}``: the next page starts after the row with
  integer key ``key``, for an append-only log read in key order (the registry's
  events): rows added between two pages neither repeat nor go missing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from labtrack.errors import InvalidParameterValue

T = TypeVar("T")


def _encode(field: str, position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({field: position}).encode()).decode()


def _decode(token: str | None, field: str, what: str) -> int:
    if not token:
        return 0
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode() + b"==="))[field]
    except (ValueError, TypeError, KeyError, UnicodeError) as exc:
        raise InvalidParameterValue(f"Invalid page token {token!r}: {exc}") from None
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise InvalidParameterValue(f"Invalid page token {token!r}: bad {what}")
    return position


def encode_offset(offset: int) -> str:
    return _encode("offset", offset)


def decode_offset(token: str | None) -> int:
    """The offset a token stands for; 0 for no token. A bad token is the caller's error."""
    return _decode(token, "offset", "offset")


def offset_token(offset: int) -> str | None:
    """The token of the page that starts ``offset`` rows in (None for the first page), for
    callers that page by number, such as the web UI."""
    return encode_offset(offset) if offset else None


def _as_list(rows: Sequence[T]) -> list[T]:
    return rows if isinstance(rows, list) else list(rows)  # a whole history is not copied


class OffsetPage:
    """The page a token asks for, ``size`` rows long (None: all the rest).

    Read ``offset`` and ``limit`` rows, then :meth:`cut` them into the page and the
    next page's token::

        page = OffsetPage(page_token, max_results)
        rows = conn.execute(query.offset(page.offset).limit(page.limit)).all()
        rows, token = page.cut(rows)
    """

    __slots__ = ("offset", "size")

    def __init__(self, token: str | None, size: int | None) -> None:
        self.offset = decode_offset(token)
        self.size = size

    @property
    def limit(self) -> int | None:
        """How many rows to fetch: one more than the page, to learn if another follows."""
        return None if self.size is None else self.size + 1

    def cut(self, rows: Sequence[T]) -> tuple[list[T], str | None]:
        """The page's rows and the token of the next page (None when this is the last)."""
        if self.size is None or len(rows) <= self.size:
            return _as_list(rows), None
        return list(rows[: self.size]), encode_offset(self.offset + self.size)


class PageAfter:
    """The page of a log a token asks for: ``size`` rows with keys above ``after``.

    Read rows with key > ``after`` in key order, ``limit`` of them, then :meth:`cut`.
    """

    __slots__ = ("after", "size")

    def __init__(self, token: str | None, size: int) -> None:
        self.after = _decode(token, "after", "position")
        self.size = size

    @property
    def limit(self) -> int:
        """How many rows to fetch: one more than the page, to learn if another follows."""
        return self.size + 1

    def cut(self, rows: Sequence[T], key: Callable[[T], int]) -> tuple[list[T], str | None]:
        """The page's rows and the token of the next page, which starts after the ``key``
        of this page's last row (None when this is the last page)."""
        if len(rows) <= self.size:
            return _as_list(rows), None
        page = list(rows[: self.size])
        return page, _encode("after", key(page[-1]))
