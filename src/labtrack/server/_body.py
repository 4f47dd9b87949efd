"""Reading request bodies: the one reader every endpoint that takes a body goes through.

The same rules everywhere (MLflow's JSON endpoints, labtrack's own, the artifact
uploads, the UI's forms):

- a ``Content-Length`` that is not a non-negative integer is a 400;
- a body larger than the endpoint's limit is refused as soon as that is known: from
  ``Content-Length`` before anything is read, else while reading, before it is all
  buffered;
- a client that disconnects before the end of its body, or sends less than its
  ``Content-Length``, gets a 400 (it is the client's failure, not the server's);
- an answer sent before the body was read to its end (a refusal) closes the connection
  (:class:`CloseUnreadBody`): the server does not go on reading what it refused.
- a JSON body is parsed by :func:`parse_json`, which refuses what no handler could use:
  text that is not UTF-8 or not JSON, nesting deeper than :data:`MAX_JSON_DEPTH`, and
  strings that are not valid Unicode (a lone surrogate escape such as ``"\\ud800"``,
  which no database and no UTF-8 encoder takes), naming the field.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from itertools import chain, compress
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect

from labtrack.errors import BadRequest, InvalidParameterValue, LabtrackError, PayloadTooLarge

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The error for a body of ``size`` bytes over the ``limit``.
TooLarge = Callable[[int, int], LabtrackError]

#: How deeply a JSON body may nest arrays and objects. MLflow's deepest requests nest
#: four levels (``log-inputs``: datasets, their tags); a bound keeps every later step
#: (validation, error messages that show a value, storing one as text) far from
#: Python's recursion limit.
MAX_JSON_DEPTH = 64
_CONTAINERS = frozenset((dict, list))


def payload_too_large(size: int, limit: int) -> LabtrackError:
    return PayloadTooLarge(f"Request body of {size} bytes is larger than the limit of {limit}")


def declared_length(request: Request) -> int | None:
    """The request's ``Content-Length``, None if it has none; BadRequest if it is invalid."""
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    text = declared.strip()
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"Invalid Content-Length header {declared!r}")
    return int(text)


async def body_chunks(
    request: Request,
    limit: int | None = None,
    *,
    too_large: TooLarge = payload_too_large,
    what: str = "The request body",
) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive, checked by the rules above (``limit=None``: any size).

    ``what`` names the body in error messages (``"The upload of 'model.bin'"``).
    """
    declared = declared_length(request)
    if limit is not None and declared is not None and declared > limit:
        raise too_large(declared, limit)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if limit is not None and received > limit:
                raise too_large(received, limit)
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise BadRequest(
            f"{what} was interrupted: the client disconnected after {received} bytes"
        ) from None
    if declared is not None and received != declared:
        raise BadRequest(
            f"{what} is incomplete: got {received} of the {declared} bytes announced by "
            "Content-Length"
        )


async def read_body(
    request: Request, limit: int, *, too_large: TooLarge = payload_too_large
) -> bytes:
    """The whole body, at most ``limit`` bytes."""
    return b"".join([chunk async for chunk in body_chunks(request, limit, too_large=too_large)])


async def read_json(
    request: Request, limit: int, *, too_large: TooLarge = payload_too_large
) -> dict[str, Any]:
    """The body as a JSON object (``{}`` for an empty body), at most ``limit`` bytes."""
    body = await read_body(request, limit, too_large=too_large)
    if not body.strip():
        return {}
    data = parse_json(body)
    if not isinstance(data, dict):
        raise BadRequest(f"The request body must be a JSON object, got {type(data).__name__}")
    return data


class CloseUnreadBody:
    """Answers sent before the request's body was read to its end say ``Connection: close``.

    A refusal (a body over the limit, a cross-site request, a busy server) is sent as soon
    as it is known. To keep the connection for the next request the server would then
    have to read and discard the rest of the body: all of a 200 MB one, and an endless
    one for ever. With ``Connection: close`` uvicorn closes the connection once the
    answer is sent instead, and the client reads the answer and stops sending.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        read = False

        async def receive_body() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                read = True
            return message

        async def send_answer(message: Message) -> None:
            if message["type"] == "http.response.start" and not read:
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"connection"
                ]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive_body, send_answer)


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


def parse_json(data: bytes | str, what: str = "request body") -> Any:
    """The JSON text ``data`` (the ``what`` of a request) as Python values.

    BadRequest if it is not UTF-8 (nor the UTF-16 or -32 that JSON allows), not JSON, or
    nested deeper than :data:`MAX_JSON_DEPTH`; InvalidParameterValue, naming the field,
    if a string in it is not valid Unicode.
    """
    try:
        text = data if isinstance(data, str) else data.decode(json.detect_encoding(data))
        value = json.loads(text)
    except RecursionError:
        raise _too_deep(what) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON in {what}: {exc}") from None
    # Cheap tests first: a body with fewer brackets than the bound cannot nest past it,
    # and only a \u escape can put a surrogate into text that decoded strictly.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _depth_over_limit(value):
        raise _too_deep(what)
    if "\\ud" in text or "\\uD" in text:
        _refuse_surrogates(value, "")
    return value


def _too_deep(what: str) -> BadRequest:
    return BadRequest(
        f"The JSON in the {what} nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"
    )


def _depth_over_limit(value: Any) -> bool:
    """Whether ``value`` nests containers more than MAX_JSON_DEPTH deep (one level of
    containers at a time, with the loops in C: this runs on every large body)."""
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(MAX_JSON_DEPTH):
        if not level:
            return False
        children = list(chain.from_iterable(map(_children, level)))
        if _CONTAINERS.isdisjoint(map(type, children)):
            return False
        level = list(compress(children, map(_CONTAINERS.__contains__, map(type, children))))
    return bool(level)


def _children(container: dict[str, Any] | list[Any]) -> Any:
    return container.values() if type(container) is dict else container


def _refuse_surrogates(value: Any, path: str) -> None:
    """InvalidParameterValue naming the first string under ``value`` (at the request field
    ``path``) that is not valid Unicode."""
    if isinstance(value, str):
        if not _is_unicode(value):
            raise InvalidParameterValue(
                f"Invalid value {_shown(value)} for parameter '{path or 'body'}' supplied: "
                "it is not a valid Unicode string (it has a lone UTF-16 surrogate)"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            field = f"{path}.{key}" if path else key
            if not _is_unicode(key):
                raise InvalidParameterValue(
                    f"Invalid field name {_shown(key)} in the request body: it is not a "
                    "valid Unicode string (it has a lone UTF-16 surrogate)"
                )
            _refuse_surrogates(item, field)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_surrogates(item, f"{path}[{i}]")


def _is_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(text: str) -> str:
    """``text`` as JSON (surrogates escaped), shortened if long."""
    return json.dumps(text[:100] + ("..." if len(text) > 100 else ""))
