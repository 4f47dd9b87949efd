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


def add_routes(app: FastAPI, table: list[Route]) -> None:
    """Serve every route of ``table`` from ``app``, in order."""
    for route in table:
        app.router.add_api_route(
            route.path,
            route.endpoint,
            methods=list(route.methods),
            include_in_schema=route.openapi,
            response_model=route.response_model,
            tags=list(route.tags) or None,
            route_class_override=_bounded_route(route.body_limit) if route.body_limit else None,
        )


def _bounded_route(limit: int) -> type[Any]:
    """A FastAPI route class that reads the request body through the server's reader
    (and parses JSON with its parser, whose answer FastAPI then takes)."""
    from fastapi.routing import APIRoute
    from starlette.requests import Request

    from labtrack.server._body import parse_json, read_body

    class BoundedBodyRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handle = super().get_route_handler()

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

    return BoundedBodyRoute
