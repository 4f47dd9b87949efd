"""The server's route table: one record per route, joined in ``app.py``.

Every module that serves requests (each API module and the UI) exports
``routes(ctx) -> list[Route]``; building the list has no side effects and registers
nothing. :func:`labtrack.server.app.route_table` joins the lists into the one table
the application serves, in the order routes match, so a rule that must cover every
route (authentication, say) walks one list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from labtrack.server._heavy_requests import HeavyRequestLimit


@dataclass(frozen=True)
class Route:
    """One path and its methods, answered by ``endpoint`` (a FastAPI endpoint function)."""

    path: str
    methods: tuple[str, ...]
    endpoint: Callable[..., Any]
    #: Shown in the OpenAPI document (labtrack's own API); MLflow's API and the UI are not.
    openapi: bool = False
    response_model: Any = None
    tags: tuple[str, ...] = ()
    #: For an endpoint whose body FastAPI parses into a model: read that body first
    #: through the server's one reader (labtrack/server/_body.py), refusing one larger
    #: than this many bytes, and parse a JSON body with its parser.
    body_limit: int | None = None
    #: A search, history read, listing or bulk write: served in turn with the other heavy
    #: requests (labtrack/server/_heavy_requests.py).
    heavy: bool = False


def add_routes(app: FastAPI, table: list[Route], heavy: HeavyRequestLimit) -> None:
    """Serve every route of ``table`` from ``app``, in order; heavy ones within ``heavy``.

    The router tries routes one after the other, and most of the table's paths have no
    parameters: those are found by their path in one dict lookup instead (see
    :mod:`labtrack.server._exact_paths`), which finds the route the scan would."""
    for route in table:
        app.router.add_api_route(
            route.path,
            route.endpoint,
            methods=list(route.methods),
            include_in_schema=route.openapi,
            response_model=route.response_model,
            tags=list(route.tags) or None,
            route_class_override=_route_class(route, heavy),
        )
    from labtrack.server._exact_paths import index_exact_paths

    index_exact_paths(app.router)


def _route_class(route: Route, heavy: HeavyRequestLimit) -> type[Any] | None:
    """A FastAPI route class that serves ``route`` in turn (if heavy) and reads its body
    through the server's reader (if it has a ``body_limit``, and parses JSON with its
    parser, whose answer FastAPI then takes); None when neither applies."""
    if not (route.heavy or route.body_limit):
        return None
    from fastapi.routing import APIRoute
    from starlette.requests import Request

    from labtrack.server._body import parse_json, read_body

    limit = route.body_limit

    class LabtrackRoute(APIRoute):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if route.heavy:
                # Around the whole exchange: reading the body, handling, sending the answer.
                self.app = heavy.guard(self.app)

        def get_route_handler(self) -> Callable[[Request], Any]:
            handle = super().get_route_handler()
            if limit is None:
                return handle

            async def handler(request: Request) -> Any:
                body = await read_body(request, limit)
                sent = False

                async def receive() -> dict[str, Any]:
                    nonlocal sent
                    if sent:
                        return await request.receive()  # type: ignore[return-value]
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}

                bounded = Request(request.scope, receive)
                media_type = request.headers.get("content-type", "").split(";")[0].strip()
                if body.strip() and (not media_type or media_type.endswith("json")):
                    bounded._json = parse_json(body)  # what Request.json() returns
                return await handle(bounded)

            return handler

    return LabtrackRoute
