"""MLflow-style JSON endpoints: a plain handler ``(context, params) -> dict`` per endpoint
(or a :class:`ListInParts`, for an answer too large to hold at once).

The MLflow API modules (``mlflow_api``, ``registry_api``, ``logged_models_api``) list
their endpoints as :class:`JsonEndpoint` records; :func:`json_routes` turns them into
the server's :class:`~labtrack.server._routes.Route` records, each endpoint under
MLflow's base paths (``/api/2.0/mlflow`` and the UI's ``/ajax-api/2.0/mlflow``).
A request's fields come from the query string (GET) or the JSON body, read by the
server's one body reader; handlers run in a thread pool (the store is synchronous).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from labtrack._tags import UNKNOWN_USER
from labtrack.server._body import TooLarge, payload_too_large, read_json
from labtrack.server._params import Params
from labtrack.server._routes import Route
from labtrack.tracking._registry_service import ACTING_USER

if TYPE_CHECKING:
    from starlette.requests import Request

    from labtrack.server._context import ServerContext

Handler = Callable[["ServerContext", Params], "dict[str, Any] | ListInParts"]

BASE_PATHS = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
USER_HEADER = "X-Labtrack-User"


@dataclass(frozen=True)
class JsonEndpoint:
    """``handler`` answers ``methods`` on ``path`` (relative to MLflow's base paths)."""

    path: str
    methods: tuple[str, ...]
    handler: Handler
    #: The body size limit when not the server's (``--max-body-bytes``), and its error.
    body_limit: int | None = None
    too_large: TooLarge = payload_too_large
    #: Base paths served besides MLflow's two.
    extra_bases: tuple[str, ...] = ()
    #: Served in turn with the other heavy requests (searches, histories, listings).
    heavy: bool = False


@dataclass(frozen=True)
class ListInParts:
    """A handler's answer too large to hold at once: ``{name: [...], **last()}``, its list
    encoded and sent a part at a time (``parts``, each read in the thread pool), then the
    fields ``last()`` gives once the parts are sent. An empty list is left out, as MLflow
    leaves out empty repeated fields."""

    name: str
    parts: Iterator[list[dict[str, Any]]]
    last: Callable[[], dict[str, Any]]

    def encoded(self) -> Iterator[bytes]:
        """The answer as JSON text, as ``JSONResponse`` would write it, a part at a time."""
        opened = False
        for items in self.parts:
            if items:
                head = "," if opened else "{" + _dumps(self.name) + ":["
                yield (head + ",".join(_dumps(item) for item in items)).encode()
                opened = True
        last = self.last()
        if not opened:
            yield _dumps(last).encode()
            return
        yield ("]" + "".join(f",{_dumps(k)}:{_dumps(v)}" for k, v in last.items()) + "}").encode()


_dumps = partial(json.dumps, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def request_user(request: Request) -> str:
    """Who a request says it acts for: its X-Labtrack-User header, else "unknown".

    Anyone can send any name, so it is recorded as a claim (the event log's
    ``claimed_user``). When the server authenticates users, the authenticated user
    will be recorded beside it.
    """
    value = request.headers.get(USER_HEADER)
    return unquote(value).strip() if value and value.strip() else UNKNOWN_USER


async def read_params(
    request: Request, limit: int, too_large: TooLarge = payload_too_large
) -> Params:
    """The request's fields: the query string for GET, else the JSON body (at most ``limit``),
    and the path's own parameters (``/logged-models/{model_id}``), which take precedence."""
    if request.method == "GET":
        data: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            if key in data:
                previous = data[key]
                data[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                data[key] = value
        return Params({**data, **request.path_params}, from_query=True)
    data = await read_json(request, limit, too_large=too_large)
    return Params({**data, **request.path_params})


def json_routes(ctx: ServerContext, endpoints: tuple[JsonEndpoint, ...]) -> list[Route]:
    """The routes serving ``endpoints``, each under every base path."""
    routes = []
    for endpoint in endpoints:
        serve = _serve(ctx, endpoint)
        for base in (*BASE_PATHS, *endpoint.extra_bases):
            routes.append(
                Route(base + endpoint.path, endpoint.methods, serve, heavy=endpoint.heavy)
            )
    return routes


def _serve(ctx: ServerContext, endpoint: JsonEndpoint) -> Callable[..., Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse

    limit = endpoint.body_limit or ctx.config.max_body_bytes
    handler, too_large = endpoint.handler, endpoint.too_large

    async def serve(request: Request) -> Response:
        params = await read_params(request, limit, too_large)
        # Who the request acts for (recorded in the registry's event log); each request
        # runs in a context of its own, which the handler's thread inherits.
        ACTING_USER.set(request_user(request))
        answer = await run_in_threadpool(handler, ctx, params)
        if isinstance(answer, ListInParts):
            return StreamingResponse(answer.encoded(), media_type="application/json")
        return JSONResponse(answer)

    serve.__name__ = handler.__name__
    # Annotations are strings in this module; FastAPI needs the class itself to pass
    # the request through instead of reading a query parameter called "request".
    serve.__annotations__ = {"request": Request, "return": JSONResponse}
    return serve
