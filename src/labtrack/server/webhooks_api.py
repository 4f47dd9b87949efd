"""MLflow's registry webhooks API (``/api/2.0/mlflow/webhooks``): create, list, get, update,
delete and test, with MLflow's request and response shapes, and the delivery of the
registry's event log to the webhooks while the server runs (:func:`delivery`).

The rules, the secrets and the delivery itself are in ``tracking/_webhooks.py``; the
secret a client sends is never in an answer.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from labtrack._protocol import message
from labtrack.config import settings
from labtrack.entities import Webhook, WebhookTestResult
from labtrack.server._json_endpoints import JsonEndpoint, json_routes
from labtrack.server._routes import Route
from labtrack.tracking._webhooks import (
    ACTIVE,
    ALL_ACTIONS,
    DISABLED,
    VALID_ACTIONS,
    RetryPolicy,
    WebhookDispatcher,
    WebhookService,
    validate_event,
)

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext
    from labtrack.server._params import Params

# Protobuf enum names, in their numbers' order (1, 2, ...), as MLflow's clients send them.
_ENTITIES = tuple(e.upper() for e in VALID_ACTIONS)
_ACTIONS = tuple(a.upper() for a in ALL_ACTIONS)
_STATUSES = (ACTIVE, DISABLED)

_services: weakref.WeakKeyDictionary[ServerContext, WebhookService] = weakref.WeakKeyDictionary()


def webhook_service(ctx: ServerContext) -> WebhookService:
    """The server's webhook service (one per server context), set up from the settings."""
    service = _services.get(ctx)
    if service is None:
        policy = RetryPolicy(
            max_retries=settings.get("webhook_max_retries"),
            timeout=settings.get("webhook_timeout"),
        )
        service = WebhookService(ctx.store, settings.get("webhook_secret_key"), policy)
        _services[ctx] = service
    return service


def _event(item: Mapping[str, Any], path: str) -> str:
    from labtrack.server._params import Params

    p = Params(item)
    entity = p.enum("entity", _ENTITIES)
    action = p.enum("action", _ACTIONS)
    return validate_event(str(entity or "").lower(), str(action or "").lower())


def _events(p: Params) -> list[str]:
    return p.objects("events", _event)


def _to_json(webhook: Webhook) -> dict[str, Any]:
    out: dict[str, Any] = {"webhook_id": webhook.webhook_id, "name": webhook.name}
    if webhook.description:
        out["description"] = webhook.description
    out["url"] = webhook.url
    out["events"] = [
        {"entity": e.partition(".")[0].upper(), "action": e.partition(".")[2].upper()}
        for e in webhook.events
    ]
    out["status"] = webhook.status
    out["creation_timestamp"] = webhook.creation_timestamp
    out["last_updated_timestamp"] = webhook.last_updated_timestamp
    return out


def _result_json(result: WebhookTestResult) -> dict[str, Any]:
    out: dict[str, Any] = {"success": result.success}
    for name in ("response_status", "response_body", "error_message"):
        value = getattr(result, name)
        if value is not None:
            out[name] = value
    return out


def create_webhook(ctx: ServerContext, p: Params) -> dict[str, Any]:
    from labtrack.errors import InvalidParameterValue

    events = _events(p)
    if not events:
        raise InvalidParameterValue("Missing value for parameter 'events'.")
    webhook = webhook_service(ctx).create_webhook(
        p.string("name", required=True),
        p.string("url", required=True),
        events,
        description=p.string("description") or None,
        secret=p.string("secret") or None,
        status=p.enum("status", _STATUSES),
    )
    return {"webhook": _to_json(webhook)}


def list_webhooks(ctx: ServerContext, p: Params) -> dict[str, Any]:
    found, token = webhook_service(ctx).list_webhooks(
        p.int32("max_results"), p.string("page_token")
    )
    out: dict[str, Any] = {"webhooks": [_to_json(w) for w in found]} if found else {}
    if token:
        out["next_page_token"] = token
    return out


def get_webhook(ctx: ServerContext, p: Params) -> dict[str, Any]:
    return {"webhook": _to_json(webhook_service(ctx).get_webhook(p.string("webhook_id")))}


def update_webhook(ctx: ServerContext, p: Params) -> dict[str, Any]:
    webhook = webhook_service(ctx).update_webhook(
        p.string("webhook_id"),
        name=p.string("name") or None,
        description=p.string("description"),
        url=p.string("url") or None,
        events=_events(p) or None,
        secret=p.string("secret"),
        status=p.enum("status", _STATUSES),
    )
    return {"webhook": _to_json(webhook)}


def delete_webhook(ctx: ServerContext, p: Params) -> dict[str, Any]:
    webhook_service(ctx).delete_webhook(p.string("webhook_id"))
    return {}


def test_webhook(ctx: ServerContext, p: Params) -> dict[str, Any]:
    event = p._raw("event", False)
    if event is not None:
        event = message(event, "event")
    name = _event(event, "event") if event else None
    result = webhook_service(ctx).test_webhook(p.string("webhook_id"), name)
    return {"result": _result_json(result)}


ENDPOINTS: tuple[JsonEndpoint, ...] = (
    JsonEndpoint("/webhooks", ("POST",), create_webhook),
    JsonEndpoint("/webhooks", ("GET",), list_webhooks),
    JsonEndpoint("/webhooks/{webhook_id}", ("GET",), get_webhook),
    JsonEndpoint("/webhooks/{webhook_id}", ("PATCH",), update_webhook),
    JsonEndpoint("/webhooks/{webhook_id}", ("DELETE",), delete_webhook),
    JsonEndpoint("/webhooks/{webhook_id}/test", ("POST",), test_webhook),
)


def routes(ctx: ServerContext) -> list[Route]:
    """MLflow's webhook endpoints, under MLflow's base paths."""
    return json_routes(ctx, ENDPOINTS)


def delivery(ctx: ServerContext) -> Callable[[Any], Any]:
    """The application's lifespan: deliver the registry's events to the webhooks from a
    dispatcher of this process while the application runs (see tracking/_webhooks.py)."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        dispatcher = WebhookDispatcher(webhook_service(ctx)).start()
        try:
            yield
        finally:
            dispatcher.stop()

    return lifespan
