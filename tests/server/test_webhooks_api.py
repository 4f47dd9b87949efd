"""Registry webhooks: MLflow's CRUD API and errors, and deliveries to a real receiver on
loopback (signatures, retries, a dead URL), fired from the registry's event log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labtrack.server.app import ServerConfig, create_app
from labtrack.server.webhooks_api import webhook_service
from labtrack.tracking._webhooks import RetryPolicy, WebhookDispatcher

API = "/api/2.0/mlflow"
SECRET = "s3cret"


class Receiver:
    """An HTTP server on 127.0.0.1 that records what it receives and answers ``statuses``
    in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"thanks")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LABTRACK_WEBHOOK_SECRET_KEY", "the-server-key")
    monkeypatch.setenv("LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS", "true")  # receivers on loopback
    monkeypatch.setenv("LABTRACK_WEBHOOK_ALLOWED_SCHEMES", "http,https")  # ... without TLS
    return create_app(
        ServerConfig(f"sqlite:///{tmp_path / 'db.db'}", str(tmp_path / "a"), serve_artifacts=False)
    )


@pytest.fixture
def http_client(app: Any) -> Iterator[httpx.Client]:
    """The app on a real port (without its lifespan: the tests drive the dispatcher)."""
    import uvicorn

    from livesrv import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def dispatcher(app: Any) -> Iterator[WebhookDispatcher]:
    service = webhook_service(app.state.context)
    d = WebhookDispatcher(service, interval=3600, sleep=lambda s: None).start()
    yield d
    d.stop()


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def create(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "ci-hook",
        "url": "https://ci.example/hook",
        "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
        **fields,
    }
    return ok(http.post(f"{API}/webhooks", json=body))["webhook"]


def verify(headers: dict[str, str], body: bytes) -> None:
    delivery, stamp = headers["X-MLflow-Delivery-Id"], headers["X-MLflow-Timestamp"]
    signed = f"{delivery}.{stamp}.{body.decode()}".encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), signed, hashlib.sha256).digest())
    assert headers["X-MLflow-Signature"] == "v1," + expected.decode()


# -- CRUD ---------------------------------------------------------------------------------
def test_create_get_list_update_delete(http_client: httpx.Client) -> None:
    made = create(http_client, description="tell CI", secret=SECRET)
    assert set(made) == {
        "webhook_id",
        "name",
        "description",
        "url",
        "events",
        "status",
        "creation_timestamp",
        "last_updated_timestamp",
    }  # never the secret
    assert made["events"] == [{"entity": "MODEL_VERSION", "action": "CREATED"}]
    assert made["status"] == "ACTIVE"
    hook_id = made["webhook_id"]
    assert ok(http_client.get(f"{API}/webhooks/{hook_id}"))["webhook"] == made
    assert ok(http_client.get(f"{API}/webhooks"))["webhooks"] == [made]
    changed = ok(
        http_client.patch(
            f"{API}/webhooks/{hook_id}",
            json={
                "status": "DISABLED",
                "events": [{"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}],
            },
        )
    )["webhook"]
    assert changed["status"] == "DISABLED"
    assert changed["events"] == [{"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}]
    assert changed["name"] == "ci-hook"
    assert ok(http_client.delete(f"{API}/webhooks/{hook_id}")) == {}
    assert error(http_client.get(f"{API}/webhooks/{hook_id}")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Webhook with ID {hook_id} not found.",
    )
    assert ok(http_client.get(f"{API}/webhooks")) == {}


def test_list_pages(http_client: httpx.Client) -> None:
    for i in range(3):
        create(http_client, name=f"hook-{i}")
    first = ok(http_client.get(f"{API}/webhooks", params={"max_results": 2}))
    assert [w["name"] for w in first["webhooks"]] == ["hook-2", "hook-1"]
    rest = ok(
        http_client.get(
            f"{API}/webhooks", params={"max_results": 2, "page_token": first["next_page_token"]}
        )
    )
    assert [w["name"] for w in rest["webhooks"]] == ["hook-0"]
    assert "next_page_token" not in rest
    assert error(http_client.get(f"{API}/webhooks", params={"max_results": 1001})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results must be between 1 and 1000.",
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"url": "ftp://ci.example/hook"},
            "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https.",
        ),
        (
            {"url": "file:///etc/passwd"},
            "Invalid webhook URL scheme: 'file'. Allowed schemes are: http, https.",
        ),
        ({"url": "http://"}, "Webhook URL must include a hostname: 'http://'"),
        ({"url": "  "}, "Webhook URL cannot be empty or just whitespace: '  '"),
        (
            {"name": "-bad"},
            "Webhook name '-bad' is invalid. It must start and end with a letter or digit, be "
            "less than 63 characters long, and contain only letters, digits, dots (.), "
            "underscores (_), and hyphens (-).",
        ),
        (
            {"events": [{"entity": "MODEL_VERSION", "action": "DELETED"}]},
            "Invalid action 'deleted' for entity 'model_version'. Valid actions are: ['created']",
        ),
        ({"events": []}, "Missing value for parameter 'events'."),
    ],
)
def test_create_refuses(http_client: httpx.Client, fields: dict[str, Any], message: str) -> None:
    body = {
        "name": "ci-hook",
        "url": "https://ci.example/hook",
        "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
        **fields,
    }
    assert error(http_client.post(f"{API}/webhooks", json=body)) == (
        400,
        "INVALID_PARAMETER_VALUE",
        message,
    )


def test_secret_needs_the_server_key(http_client: httpx.Client, app: Any) -> None:
    webhook_service(app.state.context).box.key = None
    response = http_client.post(
        f"{API}/webhooks",
        json={
            "name": "h",
            "url": "https://ci.example/hook",
            "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
            "secret": "x",
        },
    )
    assert error(response)[2].startswith("Webhook secrets are stored encrypted and this server")


def test_secret_is_stored_encrypted(http_client: httpx.Client, app: Any) -> None:
    hook = create(http_client, secret=SECRET)
    stored = webhook_service(app.state.context).rows.get_secret(hook["webhook_id"])
    assert stored
    assert SECRET not in stored


def test_test_webhook(http_client: httpx.Client, receiver: Receiver) -> None:
    hook = create(http_client, url=receiver.url, secret=SECRET)
    result = ok(http_client.post(f"{API}/webhooks/{hook['webhook_id']}/test", json={}))
    assert result == {
        "result": {"success": True, "response_status": 200, "response_body": "thanks"}
    }
    headers, body = receiver.received[0]
    verify(headers, body)
    sent = json.loads(body)
    assert (sent["entity"], sent["action"]) == ("model_version", "created")
    assert sent["data"]["name"] == "example_model"


def test_test_webhook_to_a_dead_url(http_client: httpx.Client, app: Any) -> None:
    webhook_service(app.state.context).policy = RetryPolicy(max_retries=1, backoff=0.01)
    hook = create(http_client, url="http://127.0.0.1:9/hook")
    result = ok(http_client.post(f"{API}/webhooks/{hook['webhook_id']}/test", json={}))["result"]
    assert result["success"] is False
    assert result["error_message"].startswith("Failed to test webhook: ConnectError(")


# -- delivery from the event log ----------------------------------------------------------
def _registry(http: httpx.Client) -> None:
    ok(http.post(f"{API}/registered-models/create", json={"name": "churn"}))
    ok(
        http.post(
            f"{API}/model-versions/create",
            json={
                "name": "churn",
                "source": "s3://bucket/model",
                "tags": [{"key": "k", "value": "v"}],
            },
        )
    )
    ok(
        http.post(
            f"{API}/registered-models/alias",
            json={"name": "churn", "alias": "champion", "version": "1"},
        )
    )
    ok(
        http.request(
            "DELETE", f"{API}/registered-models/alias", json={"name": "churn", "alias": "champion"}
        )
    )


def test_version_and_alias_events_are_delivered_signed(
    http_client: httpx.Client, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    create(
        http_client,
        url=receiver.url,
        secret=SECRET,
        events=[
            {"entity": "MODEL_VERSION", "action": "CREATED"},
            {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"},
            {"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"},
        ],
    )
    _registry(http_client)
    assert dispatcher.poll() == 3
    dispatcher.drain()
    assert dispatcher.poll() == 0  # each event once
    sent = []
    for headers, body in receiver.received:
        verify(headers, body)
        payload = json.loads(body)
        sent.append((payload["entity"], payload["action"], payload["data"]))
    assert sorted(sent, key=str) == sorted(
        [
            (
                "model_version",
                "created",
                {
                    "name": "churn",
                    "version": "1",
                    "source": "s3://bucket/model",
                    "run_id": None,
                    "tags": {"k": "v"},
                    "description": None,
                },
            ),
            (
                "model_version_alias",
                "created",
                {"name": "churn", "alias": "champion", "version": "1"},
            ),
            ("model_version_alias", "deleted", {"name": "churn", "alias": "champion"}),
        ],
        key=str,
    )


def test_two_dispatchers_deliver_each_event_once(
    http_client: httpx.Client, receiver: Receiver, dispatcher: WebhookDispatcher, app: Any
) -> None:
    other = WebhookDispatcher(webhook_service(app.state.context), interval=3600).start()
    try:
        create(http_client, url=receiver.url)
        _registry(http_client)
        assert dispatcher.poll() + other.poll() == 1
        dispatcher.drain()
        other.drain()
    finally:
        other.stop()
    assert len(receiver.received) == 1


def test_retries_until_the_receiver_answers(
    http_client: httpx.Client, dispatcher: WebhookDispatcher
) -> None:
    flaky = Receiver(statuses=[503, 500])
    try:
        create(http_client, url=flaky.url)
        _registry(http_client)
        dispatcher.poll()
        dispatcher.drain()
        assert len(flaky.received) == 3
        ids = {h["X-MLflow-Delivery-Id"] for h, _ in flaky.received}
        assert len(ids) == 1  # one delivery, tried three times
    finally:
        flaky.close()


def test_disabled_webhooks_get_nothing(
    http_client: httpx.Client, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    create(http_client, url=receiver.url, status="DISABLED")
    _registry(http_client)
    assert dispatcher.poll() == 0


def test_a_dead_url_does_not_slow_the_registry(
    app: Any, http_client: httpx.Client, dispatcher: WebhookDispatcher
) -> None:
    # A receiver that accepts connections and never answers.
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        webhook_service(app.state.context).policy = RetryPolicy(max_retries=0, timeout=5)
        create(http_client, url=f"http://127.0.0.1:{sock.getsockname()[1]}/hook")
        start = time.monotonic()
        _registry(http_client)
        dispatcher.poll()
        assert time.monotonic() - start < 2
    finally:
        sock.close()


# -- where a webhook may send (tracking/_webhook_guard.py) -------------------------------
def refused(host: str, address: str) -> str:
    return (
        f"Webhook URL must not resolve to a non-public IP address. {host!r} resolves to {address}."
    )


@pytest.fixture
def private_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default: webhooks may only send to public addresses."""
    monkeypatch.setenv("LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS", "false")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8080/hook", refused("127.0.0.1", "127.0.0.1")),
        ("https://10.1.2.3/hook", refused("10.1.2.3", "10.1.2.3")),
        (
            "http://169.254.169.254/latest/meta-data/",
            refused("169.254.169.254", "169.254.169.254"),
        ),
        ("http://[::1]:8080/hook", refused("::1", "::1")),
        ("http://[::ffff:127.0.0.1]/hook", refused("::ffff:127.0.0.1", "::ffff:7f00:1")),
        ("http://0177.0.0.1/hook", refused("0177.0.0.1", "127.0.0.1")),
        ("http://2130706433/hook", refused("2130706433", "127.0.0.1")),
        ("http://localhost:5000/hook", refused("localhost", "127.0.0.1")),
        ("http://100.64.0.1/hook", refused("100.64.0.1", "100.64.0.1")),
    ],
)
def test_create_and_update_refuse_non_public_addresses(
    http_client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    private_refused: None,
    url: str,
    message: str,
) -> None:
    body = {"name": "h", "url": url, "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]}
    assert error(http_client.post(f"{API}/webhooks", json=body)) == (
        400,
        "INVALID_PARAMETER_VALUE",
        message,
    )
    monkeypatch.setenv("LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
    hook = create(http_client, url="https://8.8.8.8/hook")
    monkeypatch.setenv("LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS", "false")
    patched = http_client.patch(f"{API}/webhooks/{hook['webhook_id']}", json={"url": url})
    assert error(patched) == (400, "INVALID_PARAMETER_VALUE", message)


def test_create_refuses_a_name_that_does_not_resolve(
    http_client: httpx.Client, private_refused: None
) -> None:
    body = {
        "name": "h",
        "url": "https://ci.invalid/hook",
        "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
    }
    status, code, message = error(http_client.post(f"{API}/webhooks", json=body))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("Cannot resolve Webhook URL hostname 'ci.invalid': ")


def test_test_webhook_is_checked_when_sent(
    http_client: httpx.Client, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = create(http_client, url=receiver.url)  # made while private addresses were allowed
    monkeypatch.setenv("LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS", "false")
    result = ok(http_client.post(f"{API}/webhooks/{hook['webhook_id']}/test", json={}))
    assert result == {
        "result": {
            "success": False,
            "error_message": "Failed to test webhook: InvalidParameterValue("
            f"{refused('127.0.0.1', '127.0.0.1')!r})",
        }
    }
    assert receiver.received == []


def test_a_delivery_goes_to_the_address_checked(
    http_client: httpx.Client,
    receiver: Receiver,
    dispatcher: WebhookDispatcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No second look-up: ``hooks.example`` exists only in the patched resolver, so the
    delivery reaching the receiver went to the address checked, with the name kept."""
    from labtrack.tracking import _webhook_guard as guard

    port = receiver.server.server_address[1]
    monkeypatch.setattr(guard, "resolve", lambda host: ["127.0.0.1"])
    monkeypatch.setattr(guard, "is_public_address", lambda ip: True)
    monkeypatch.setenv("LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS", "false")
    create(http_client, url=f"http://hooks.example:{port}/hook")
    _registry(http_client)
    assert dispatcher.poll() == 1
    dispatcher.drain()
    [(headers, _)] = receiver.received
    assert headers["Host"] == f"hooks.example:{port}"


def test_dns_rebinding_is_blocked_at_delivery(
    http_client: httpx.Client,
    receiver: Receiver,
    dispatcher: WebhookDispatcher,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The name answers a public address when the webhook is made and loopback when the
    event is delivered: nothing is sent, not retried, and the log says why."""
    from labtrack.tracking import _webhook_guard as guard

    port = receiver.server.server_address[1]
    looked_up: list[str] = []

    def rebinding(host: str) -> list[str]:
        looked_up.append(host)
        return ["93.184.216.34"] if len(looked_up) == 1 else ["127.0.0.1"]

    monkeypatch.setattr(guard, "resolve", rebinding)
    monkeypatch.setenv("LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS", "false")
    url = f"http://rebind.example:{port}/hook"
    create(http_client, url=url)
    _registry(http_client)
    with caplog.at_level("ERROR", logger="labtrack.tracking._webhooks"):
        assert dispatcher.poll() == 1
        dispatcher.drain()
    assert receiver.received == []
    assert looked_up == ["rebind.example", "rebind.example"]  # checked once, no retries
    assert [r.getMessage() for r in caplog.records] == [
        f"Webhook model_version.created to {url} blocked: " + refused("rebind.example", "127.0.0.1")
    ]


def test_a_host_whose_look_up_never_ends_is_a_400(
    http_client: httpx.Client, private_refused: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labtrack.tracking import _webhook_guard as guard

    release = threading.Event()

    def never_answers(host: str) -> list[str]:
        release.wait()
        return []

    monkeypatch.setattr(guard, "resolve", never_answers)
    monkeypatch.setattr(guard, "RESOLVE_TIMEOUT", 0.2)
    try:
        body = {
            "name": "h",
            "url": "https://slow.example/hook",
            "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
        }
        assert error(http_client.post(f"{API}/webhooks", json=body)) == (
            400,
            "INVALID_PARAMETER_VALUE",
            "Timed out resolving Webhook URL hostname 'slow.example' after 0.2 seconds",
        )
    finally:
        release.set()


# -- only https, unless the setting allows http --------------------------------------------
def test_only_https_urls_by_default(
    http_client: httpx.Client,
    receiver: Receiver,
    dispatcher: WebhookDispatcher,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """MLflow 3's rule: https only. An http webhook made while the setting allowed it is
    refused again when it is tested or an event is delivered."""
    made_with_http = create(http_client, url=receiver.url)
    monkeypatch.delenv("LABTRACK_WEBHOOK_ALLOWED_SCHEMES")
    refusal = "Invalid webhook URL scheme: 'http'. Allowed schemes are: https."
    body = {
        "name": "h",
        "url": receiver.url,
        "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
    }
    assert error(http_client.post(f"{API}/webhooks", json=body)) == (
        400,
        "INVALID_PARAMETER_VALUE",
        refusal,
    )
    hook = create(http_client, url="https://ci.example/hook")
    patched = http_client.patch(f"{API}/webhooks/{hook['webhook_id']}", json={"url": receiver.url})
    assert error(patched) == (400, "INVALID_PARAMETER_VALUE", refusal)
    tested = ok(http_client.post(f"{API}/webhooks/{made_with_http['webhook_id']}/test", json={}))
    assert tested["result"] == {
        "success": False,
        "error_message": f"Failed to test webhook: InvalidParameterValue({refusal!r})",
    }
    http_client.delete(f"{API}/webhooks/{hook['webhook_id']}")
    _registry(http_client)
    with caplog.at_level("ERROR", logger="labtrack.tracking._webhooks"):
        assert dispatcher.poll() == 1
        dispatcher.drain()
    assert receiver.received == []
    assert [r.getMessage() for r in caplog.records] == [
        f"Webhook model_version.created to {receiver.url} blocked: {refusal}"
    ]


# -- a claim is a lease: a dead process's deliveries are retaken ----------------------------
def _version_created(app: Any) -> int:
    """The id of the registry event of churn's version 1, made to look an hour old (past
    every rescan window: only an expired claim brings it back)."""
    from sqlalchemy import update

    from labtrack.entities import RegistryAction
    from labtrack.store.sql import schema

    rows = webhook_service(app.state.context).rows
    [event] = [
        e for e in rows.events_since(0, 0, 100) if e.action == RegistryAction.VERSION_CREATED
    ]
    events = schema.registry_events
    with rows.store.engine.begin() as conn:
        conn.execute(
            update(events)
            .where(events.c.id == event.event_id)
            .values(timestamp=events.c.timestamp - 3_600_000)
        )
    return event.event_id


@pytest.fixture
def later_dispatcher(app: Any) -> Iterator[Any]:
    """A dispatcher started after the test's events (as a new or surviving server process)."""
    started: list[WebhookDispatcher] = []

    def start() -> WebhookDispatcher:
        d = WebhookDispatcher(webhook_service(app.state.context), interval=3600).start()
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def test_a_claim_of_a_dead_process_is_delivered_after_its_lease(
    http_client: httpx.Client,
    receiver: Receiver,
    later_dispatcher: Callable[[], WebhookDispatcher],
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labtrack._clock import now_ms
    from labtrack.tracking import _webhooks

    hook = create(http_client, url=receiver.url)
    _registry(http_client)
    event_id = _version_created(app)
    alive = later_dispatcher()
    rows = alive.service.rows
    # A process claimed the delivery, then died before sending: its claim stays behind.
    dead_at = now_ms() - alive.lease_ms - 1_000
    assert rows.claim(hook["webhook_id"], event_id, dead_at, dead_at)
    assert alive.poll() == 1  # the lease ran out: retaken and delivered
    alive.drain()
    [(_, body)] = receiver.received
    assert json.loads(body)["data"]["version"] == "1"
    assert alive.poll() == 0
    # Finished: not retaken once its new lease has run out either, by any process.
    later = now_ms() + 3 * alive.lease_ms
    monkeypatch.setattr(_webhooks, "now_ms", lambda: later)
    assert alive.poll() + later_dispatcher().poll() == 0
    assert len(receiver.received) == 1


def test_a_live_processs_claim_is_left_alone(
    http_client: httpx.Client,
    receiver: Receiver,
    later_dispatcher: Callable[[], WebhookDispatcher],
    app: Any,
) -> None:
    from labtrack._clock import now_ms

    hook = create(http_client, url=receiver.url)
    _registry(http_client)
    event_id = _version_created(app)
    other = later_dispatcher()
    claimed = now_ms() - other.lease_ms // 2  # taken, its lease still running
    assert other.service.rows.claim(hook["webhook_id"], event_id, claimed, claimed)
    assert other.poll() == 0
    assert receiver.received == []
