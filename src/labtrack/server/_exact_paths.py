"""Routes without path parameters, found by their path in one dict lookup.

Starlette's router tries its routes one after the other, so a request for the 150th
route of the table pays for 149 failed matches first, and most of the table's paths (all
of MLflow's API) have no parameters. :func:`index_exact_paths` moves those routes into one
:class:`ExactPaths` route at the front of the router, which finds a request's candidates
by its path and then matches them as the router would have. Nothing else changes: a
route keeps its precedence (it stays in the scan when an earlier route could match its
path), and the OpenAPI document, which lists the router's own routes, is built from
routes that stay where they are.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, NoMatchFound, Router
from starlette.types import Receive, Scope, Send

__all__ = ["ExactPaths", "index_exact_paths"]


class ExactPaths(BaseRoute):
    """Routes without path parameters. Of the routes on one path (one per method, say),
    the first that fully matches is chosen, else the first that matches the path alone
    (a method it does not answer, which the route turns into a 405), as the router does."""

    def __init__(self, routes: list[APIRoute]) -> None:
        self.routes = routes
        self.by_path: dict[str, list[APIRoute]] = {}
        for route in routes:
            self.by_path.setdefault(route.path, []).append(route)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        partial: tuple[Match, Scope] | None = None
        for route in self.by_path.get(route_path(scope), ()):
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                return match, {**child_scope, "route": route}
            if match == Match.PARTIAL and partial is None:
                partial = (match, {**child_scope, "route": route})
        return partial or (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["route"].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)


def index_exact_paths(router: Router) -> None:
    """Move the router's routes without path parameters into one :class:`ExactPaths` first.

    Indexed: FastAPI routes outside the OpenAPI document whose path has no parameters and
    which no route before them, left in the scan, would match."""
    indexed: list[APIRoute] = []
    kept: list[BaseRoute] = []
    for route in router.routes:
        if (
            isinstance(route, APIRoute)
            and not route.include_in_schema
            and not route.param_convertors
            and not any(_may_match(r, route.path) for r in kept)
        ):
            indexed.append(route)
        else:
            kept.append(route)
    if indexed:
        router.routes[:] = [ExactPaths(indexed), *kept]


def _may_match(route: BaseRoute, path: str) -> bool:
    regex = getattr(route, "path_regex", None)
    return regex is None or regex.match(path) is not None  # unknown kinds: assume it might


def route_path(scope: Scope) -> str:
    """The path routes match: the request's path without the app's ``root_path``, as
    Starlette's router computes it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (path == root or path[len(root)] == "/"):
        return path[len(root) :]
    return path
