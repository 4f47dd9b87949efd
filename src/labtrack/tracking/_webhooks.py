"""Registry webhooks: the rules (MLflow's names, events and messages), the secrets, the
signed payloads, and :class:`WebhookDispatcher`, which delivers the registry's event log.

Delivery follows MLflow 3: a JSON POST ``{"entity", "action", "timestamp", "data"}`` with
``X-MLflow-Delivery-Id``, ``X-MLflow-Timestamp`` and, when the webhook has a secret,
``X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "<delivery id>.<timestamp>.<body>">``.

Events come from the registry's event log after their change committed: each server
process polls the log, and claims every (webhook, event) in the database before it
delivers, so of several live processes one delivers each event. A claim is a lease
(:meth:`WebhookDispatcher.lease_ms`): when its process dies before the delivery finished,
another process retakes the claim once the lease has run out and delivers the event, so
every event is delivered at least once (twice only when a process died, or was stalled
past the lease, after sending). Deliveries run on worker threads with a bounded queue,
never on a request's path; a delivery is retried after a timeout, a connection error, 429
or 5xx, with exponential backoff, a bounded number of times.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from labtrack._clock import now_ms
from labtrack.entities import RegistryAction, RegistryEvent, Webhook, WebhookTestResult
from labtrack.errors import InvalidParameterValue, LabtrackError
from labtrack.tracking._webhook_guard import check_url_host, pin

if TYPE_CHECKING:
    from labtrack.store.sql._webhooks import SqlWebhookStore
    from labtrack.store.sql.store import SqlStore

_log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
ACTIVE, DISABLED = "ACTIVE", "DISABLED"
MAX_RESULTS_WEBHOOKS = 1000

#: MLflow's entities and the actions each has (prompt and budget events are accepted, as
#: MLflow accepts them, but labtrack has no prompts or budgets to fire them).
VALID_ACTIONS: dict[str, tuple[str, ...]] = {
    "registered_model": ("created",),
    "model_version": ("created",),
    "model_version_tag": ("deleted", "set"),
    "model_version_alias": ("created", "deleted"),
    "prompt": ("created",),
    "prompt_version": ("created",),
    "prompt_tag": ("deleted", "set"),
    "prompt_version_tag": ("deleted", "set"),
    "prompt_alias": ("created", "deleted"),
    "budget_policy": ("exceeded",),
}
ALL_ACTIONS = ("created", "updated", "deleted", "set", "exceeded")

#: The registry's event log actions that fire a webhook event.
_FIRED_BY = {
    RegistryAction.MODEL_CREATED: "registered_model.created",
    RegistryAction.VERSION_CREATED: "model_version.created",
    RegistryAction.VERSION_TAG_SET: "model_version_tag.set",
    RegistryAction.VERSION_TAG_DELETED: "model_version_tag.deleted",
    RegistryAction.ALIAS_SET: "model_version_alias.created",
    RegistryAction.ALIAS_MOVED: "model_version_alias.created",
    RegistryAction.ALIAS_DELETED: "model_version_alias.deleted",
}

_NAME_RE = re.compile(r"^(?=.{1,63}$)[a-z0-9]([a-z0-9._-]*[a-z0-9])?$", re.IGNORECASE)


# -- rules ----------------------------------------------------------------------------------
def validate_webhook_name(name: Any) -> str:
    if not isinstance(name, str):
        raise InvalidParameterValue(f"Webhook name must be a string, got {type(name).__name__!r}")
    if not _NAME_RE.fullmatch(name):
        raise InvalidParameterValue(
            f"Webhook name {name!r} is invalid. It must start and end with a letter or digit, "
            "be less than 63 characters long, and contain only letters, digits, dots (.), "
            "underscores (_), and hyphens (-)."
        )
    return name


def check_scheme(scheme: str) -> None:
    """A webhook URL's scheme is one the ``webhook_allowed_schemes`` setting allows (https
    only by default, as in MLflow 3); checked on create and update, and again at delivery."""
    from labtrack.config import settings

    schemes = tuple(settings.get("webhook_allowed_schemes"))
    if scheme not in schemes:
        raise InvalidParameterValue(
            f"Invalid webhook URL scheme: {scheme!r}. Allowed schemes are: {', '.join(schemes)}."
        )


def validate_webhook_url(url: Any) -> str:
    """An https URL (http too when the ``webhook_allowed_schemes`` setting allows it) with a
    host name that resolves to public addresses only, unless the
    ``webhook_allow_private_ips`` setting allows private ones (MLflow's messages)."""
    if not isinstance(url, str):
        raise InvalidParameterValue(f"Webhook URL must be a string, got {type(url).__name__!r}")
    if not url.strip():
        raise InvalidParameterValue(f"Webhook URL cannot be empty or just whitespace: {url!r}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid webhook URL {url!r}: {exc!r}") from exc
    check_scheme(parts.scheme)
    if not host:
        raise InvalidParameterValue(f"Webhook URL must include a hostname: {url!r}")
    check_url_host(host)
    return url


def validate_event(entity: Any, action: Any) -> str:
    """``"entity.action"`` for a valid pair, else MLflow's error."""
    if entity not in VALID_ACTIONS:
        raise InvalidParameterValue(f"Invalid webhook event entity: {entity!r}")
    if action not in ALL_ACTIONS:
        raise InvalidParameterValue(f"Invalid webhook event action: {action!r}")
    valid = VALID_ACTIONS[entity]
    if action not in valid:
        raise InvalidParameterValue(
            f"Invalid action '{action}' for entity '{entity}'. Valid actions are: {sorted(valid)}"
        )
    return f"{entity}.{action}"


def validate_events(events: Any) -> list[str]:
    """A non-empty list of ``"entity.action"`` names, each once, in the order given."""
    if not isinstance(events, (list, tuple)) or not events:
        raise InvalidParameterValue(f"Webhook events must be a non-empty list: {events!r}.")
    out: list[str] = []
    for event in events:
        entity, _, action = str(event).partition(".")
        name = validate_event(entity, action)
        if name not in out:
            out.append(name)
    return out


def validate_status(status: Any) -> str:
    if status not in (ACTIVE, DISABLED):
        raise InvalidParameterValue(
            f"Invalid webhook status {status!r}: expected {ACTIVE} or {DISABLED}"
        )
    return str(status)


# -- secrets --------------------------------------------------------------------------------
class SecretBox:
    """Encrypts webhook secrets for the database (Fernet, with a key derived from the
    ``webhook_secret_key`` setting) and decrypts them to sign deliveries."""

    def __init__(self, key: str | None) -> None:
        self.key = key or None

    def _fernet(self) -> Any:
        if self.key is None:
            raise InvalidParameterValue(
                "Webhook secrets are stored encrypted and this server has no key: set "
                "LABTRACK_WEBHOOK_SECRET_KEY (the same on every server process) to give "
                "webhooks a secret."
            )
        try:
            from cryptography.fernet import Fernet
        except ImportError as exc:
            raise InvalidParameterValue(
                "Webhook secrets need the cryptography package: pip install cryptography"
            ) from exc
        derived = base64.urlsafe_b64encode(hashlib.sha256(self.key.encode()).digest())
        return Fernet(derived)

    def seal(self, secret: str) -> str:
        return str(self._fernet().encrypt(secret.encode()).decode())

    def open(self, sealed: str) -> str:
        return str(self._fernet().decrypt(sealed.encode()).decode())


def sign(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """MLflow's signature header value for one delivery."""
    content = f"{delivery_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


# -- payloads -------------------------------------------------------------------------------
EXAMPLE_PAYLOADS: dict[str, dict[str, Any]] = {
    "registered_model.created": {
        "name": "example_model",
        "tags": {"example_key": "example_value"},
        "description": "An example registered model",
    },
    "model_version.created": {
        "name": "example_model",
        "version": "1",
        "source": "models:/123",
        "run_id": "abcd1234abcd5678",
        "tags": {"example_key": "example_value"},
        "description": "An example model version",
    },
    "model_version_tag.set": {
        "name": "example_model",
        "version": "1",
        "key": "example_key",
        "value": "example_value",
    },
    "model_version_tag.deleted": {"name": "example_model", "version": "1", "key": "example_key"},
    "model_version_alias.created": {
        "name": "example_model",
        "alias": "example_alias",
        "version": "1",
    },
    "model_version_alias.deleted": {"name": "example_model", "alias": "example_alias"},
}


def event_payload(store: SqlStore, event: RegistryEvent) -> tuple[str, dict[str, Any]] | None:
    """The webhook event an event-log row fires and its ``data``, or None."""
    name = _FIRED_BY.get(event.action)
    if name is None:
        return None
    version = str(event.version) if event.version is not None else None
    data: dict[str, Any]
    if name == "registered_model.created":
        data = {"name": event.name, "tags": {}, "description": None}
        try:
            model = store.get_registered_model(event.name)
            data.update(tags=dict(model.tags), description=model.description)
        except LabtrackError:
            pass  # renamed or deleted since: what the log holds
    elif name == "model_version.created":
        data = {
            "name": event.name,
            "version": version,
            "source": event.to_value,
            "run_id": event.details.get("run_id"),
            "tags": {},
            "description": None,
        }
        try:
            found = store.get_model_version(event.name, int(event.version or 0))
            data.update(
                source=found.source,
                run_id=found.run_id,
                tags=dict(found.tags),
                description=found.description,
            )
        except LabtrackError:
            pass
    elif name == "model_version_tag.set":
        data = {
            "name": event.name,
            "version": version,
            "key": event.details.get("key"),
            "value": event.to_value,
        }
    elif name == "model_version_tag.deleted":
        data = {"name": event.name, "version": version, "key": event.details.get("key")}
    elif name == "model_version_alias.created":
        data = {"name": event.name, "alias": event.details.get("alias"), "version": version}
    else:
        data = {"name": event.name, "alias": event.details.get("alias")}
    return name, data


# -- sending --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """Retries after a timeout, a connection error, 429 or 5xx: ``max_retries`` of them,
    waiting ``backoff * 2**n`` seconds (at most ``max_backoff``) before retry n."""

    max_retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 60.0
    timeout: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_backoff, self.backoff * 2**attempt))

    def longest(self) -> float:
        """The longest one delivery can take, in seconds: every attempt timing out."""
        waits = sum(self.delay(attempt) for attempt in range(self.max_retries))
        return (self.max_retries + 1) * self.timeout + waits


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def send(
    url: str,
    event: str,
    data: dict[str, Any],
    secret: str | None,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, str]:
    """POST one event to ``url`` (retrying per ``policy``): the last status and body.
    Raises the last error when no attempt got an answer, and InvalidParameterValue, before
    sending anything and without retrying, when the URL's scheme is not allowed or its host
    resolves to an address a webhook may not reach, or not in time (the request goes to the
    address checked: see _webhook_guard)."""
    import httpx

    check_scheme(urlsplit(url).scheme)  # the setting may have changed since the URL was stored
    target = pin(url)
    entity, _, action = event.partition(".")
    body = json.dumps(
        {
            "entity": entity,
            "action": action,
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "data": data,
        }
    )
    delivery_id = str(uuid.uuid4())
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: stamp,
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, delivery_id, stamp, body)
    headers.update(target.headers)
    # No proxies from the environment, no redirects: the request goes where the URL says.
    with httpx.Client(timeout=policy.timeout, trust_env=False) as client:
        for attempt in range(policy.max_retries + 1):
            last = attempt == policy.max_retries
            try:
                response = client.post(
                    target.url,
                    content=body.encode(),
                    headers=headers,
                    extensions=target.extensions,
                )
            except httpx.TransportError:
                if last:
                    raise
            else:
                if not _retryable(response.status_code) or last:
                    return response.status_code, response.text
            sleep(policy.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


# -- the service ----------------------------------------------------------------------------
class WebhookService:
    """Webhook CRUD with MLflow's rules and messages, over the SQL store's webhook rows."""

    def __init__(
        self, store: SqlStore, secret_key: str | None = None, policy: RetryPolicy | None = None
    ) -> None:
        from labtrack.store.sql._webhooks import SqlWebhookStore

        self.store = store
        self.rows: SqlWebhookStore = SqlWebhookStore(store)
        self.box = SecretBox(secret_key)
        self.policy = policy or RetryPolicy()

    def create_webhook(
        self,
        name: Any,
        url: Any,
        events: Any,
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        name = validate_webhook_name(name)
        url = validate_webhook_url(url)
        names = validate_events(events)
        state = validate_status(status) if status else ACTIVE
        sealed = self.box.seal(secret) if secret else None
        return self.rows.create_webhook(
            str(uuid.uuid4()), name, url, names, state, now_ms(), description or None, sealed
        )

    def get_webhook(self, webhook_id: str) -> Webhook:
        return self.rows.get_webhook(webhook_id)

    def list_webhooks(
        self, max_results: int | None = None, page_token: str | None = None
    ) -> tuple[list[Webhook], str | None]:
        from labtrack.store._paging import decode_offset, encode_offset

        limit = max_results or 100
        if not 1 <= limit <= MAX_RESULTS_WEBHOOKS:
            raise InvalidParameterValue("max_results must be between 1 and 1000.")
        offset = decode_offset(page_token) if page_token else 0
        found, more = self.rows.list_webhooks(limit, offset)
        return found, encode_offset(offset + limit) if more else None

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        description: str | None = None,
        url: str | None = None,
        events: Sequence[str] | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        """Change the fields given (None: unchanged; an empty secret removes it)."""
        fields: dict[str, Any] = {}
        if name is not None:
            fields["name"] = validate_webhook_name(name)
        if url is not None:
            fields["url"] = validate_webhook_url(url)
        if events is not None:
            fields["events"] = validate_events(list(events))
        if description is not None:
            fields["description"] = description or None
        if secret is not None:
            fields["secret"] = self.box.seal(secret) if secret else None
        if status is not None:
            fields["status"] = validate_status(status)
        return self.rows.update_webhook(webhook_id, now_ms(), **fields)

    def delete_webhook(self, webhook_id: str) -> None:
        self.rows.delete_webhook(webhook_id)

    def test_webhook(self, webhook_id: str, event: str | None = None) -> WebhookTestResult:
        """Send an example payload of ``event`` (default: the webhook's first event) now."""
        webhook = self.get_webhook(webhook_id)
        name = event or webhook.events[0]
        sealed = self.rows.get_secret(webhook_id)
        try:
            secret = self.box.open(sealed) if sealed else None
            data = EXAMPLE_PAYLOADS.get(name, {})
            status, text = send(webhook.url, name, data, secret, self.policy)
        except Exception as exc:
            return WebhookTestResult(False, error_message=f"Failed to test webhook: {exc!r}")
        return WebhookTestResult(status < 400, response_status=status, response_body=text)


# -- delivery -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Delivery:
    webhook_id: str
    event_id: int
    url: str
    event: str
    data: dict[str, Any]
    sealed_secret: str | None

    @property
    def key(self) -> tuple[str, int]:
        return self.webhook_id, self.event_id


class WebhookDispatcher:
    """Polls the registry's event log and delivers what the webhooks subscribed to.

    ``poll()`` claims and queues the new events' deliveries, and retakes the claims whose
    lease ran out unfinished (the poller thread calls it every ``interval`` seconds);
    worker threads send them. The queue is bounded: when receivers are so slow that it
    fills, a delivery is left claimed rather than held in memory, and sent when its lease
    has run out.
    """

    #: Events are looked at again for this long after they were written, so a change that
    #: committed after a later one (a lower id seen late) is still delivered.
    RESCAN_MS = 30_000

    def __init__(
        self,
        service: WebhookService,
        interval: float = 0.5,
        workers: int = 4,
        queue_size: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service = service
        self.interval = interval
        self.queue: queue.Queue[_Delivery | None] = queue.Queue(queue_size)
        self.cursor = service.rows.last_event_id()
        self._seen: dict[tuple[str, int], int] = {}
        self._held: set[tuple[str, int]] = set()  # claims of this process not finished yet
        self._held_lock = threading.Lock()
        self._stop = threading.Event()
        self._sleep = sleep
        self._threads = [
            threading.Thread(target=self._work, name=f"labtrack-webhook-{i}", daemon=True)
            for i in range(workers)
        ]
        self._threads.append(
            threading.Thread(target=self._poll_loop, name="labtrack-webhook-poll", daemon=True)
        )

    def start(self) -> WebhookDispatcher:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for _ in self._threads:
            try:
                self.queue.put_nowait(None)
            except queue.Full:
                break
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    @property
    def lease_ms(self) -> int:
        """How long a claim holds before another process may retake it: twice the longest
        delivery (every attempt timing out), at least a minute. A delivery renews its
        claim when it starts, so a live process's delivery is not retaken."""
        return int(max(60.0, 2 * self.service.policy.longest()) * 1000)

    def poll(self) -> int:
        """Claim and queue the deliveries of events written since the last poll, and of
        claims whose lease ran out unfinished: how many were queued."""
        rows = self.service.rows
        now = now_ms()
        expired_before = now - self.lease_ms
        queued = self._retake_expired(now, expired_before)
        events = rows.events_since(self.cursor, now - self.RESCAN_MS, 1000)
        if not events:
            return queued
        self.cursor = max(self.cursor, events[-1].event_id)
        hooks = rows.active_webhooks()
        for event in events:
            fired = None
            for webhook, sealed in hooks:
                key = (webhook.webhook_id, event.event_id)
                if event.timestamp < webhook.creation_timestamp or key in self._seen:
                    continue
                fired = fired or event_payload(self.service.store, event)
                if fired is None:
                    break
                self._seen[key] = event.timestamp
                if fired[0] not in webhook.events or not rows.claim(*key, now, expired_before):
                    continue
                job = _Delivery(*key, webhook.url, fired[0], fired[1], sealed)
                queued += self._queue(job)
        self._forget(now)
        return queued

    def _retake_expired(self, now: int, expired_before: int) -> int:
        """Queue the deliveries whose claim's lease ran out unfinished (their process died,
        or this one could not queue them): how many."""
        rows = self.service.rows
        with self._held_lock:
            held = set(self._held)
        expired = [key for key in rows.expired_claims(expired_before, 100) if key not in held]
        if not expired:
            return 0
        hooks = {
            webhook.webhook_id: (webhook, sealed) for webhook, sealed in rows.active_webhooks()
        }
        events = rows.events([event_id for _, event_id in expired])
        queued = 0
        for webhook_id, event_id in expired:
            if not rows.retake(webhook_id, event_id, now, expired_before):
                continue  # another process was first
            hook, event = hooks.get(webhook_id), events.get(event_id)
            fired = event_payload(self.service.store, event) if event is not None else None
            if hook is None or fired is None or fired[0] not in hook[0].events:
                rows.finish(webhook_id, event_id, now)  # nothing to send any more
                continue
            webhook, sealed = hook
            job = _Delivery(webhook_id, event_id, webhook.url, fired[0], fired[1], sealed)
            queued += self._queue(job)
        return queued

    def _queue(self, job: _Delivery) -> int:
        with self._held_lock:
            self._held.add(job.key)
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            with self._held_lock:
                self._held.discard(job.key)
            _log.error(
                "Webhook queue full: %s to %s is sent when its claim's lease has run out",
                job.event,
                job.url,
            )
            return 0
        return 1

    def _forget(self, now: int) -> None:
        horizon = now - 2 * self.RESCAN_MS
        for key, stamp in list(self._seen.items()):
            if stamp < horizon:
                del self._seen[key]

    def _poll_loop(self) -> None:
        last_prune = 0.0
        while not self._stop.wait(self.interval):
            try:
                self.poll()
                if time.monotonic() - last_prune > 3600:
                    last_prune = time.monotonic()
                    self.service.rows.forget_claims(now_ms() - 86_400_000)
            except Exception:
                _log.exception("Polling the registry's event log for webhooks failed")

    def _work(self) -> None:
        while True:
            job = self.queue.get()
            try:
                if job is None:
                    return
                self._deliver(job)
            finally:
                self.queue.task_done()

    def _deliver(self, job: _Delivery) -> None:
        rows = self.service.rows
        try:
            rows.renew(*job.key, now_ms())  # the lease counts from the first attempt
            secret = self.service.box.open(job.sealed_secret) if job.sealed_secret else None
            status, _ = send(job.url, job.event, job.data, secret, self.service.policy, self._sleep)
            if status >= 400:
                _log.error("Webhook %s to %s answered %s", job.event, job.url, status)
        except InvalidParameterValue as exc:
            _log.error("Webhook %s to %s blocked: %s", job.event, job.url, exc)
        except Exception as exc:
            _log.error("Webhook %s to %s failed: %r", job.event, job.url, exc)
        try:
            rows.finish(*job.key, now_ms())
        except Exception:
            _log.exception("Recording the delivery of webhook %s as finished failed", job.event)
        finally:
            with self._held_lock:
                self._held.discard(job.key)

    def drain(self) -> None:
        """Wait until every queued delivery is done (tests, shutdown)."""
        self.queue.join()
