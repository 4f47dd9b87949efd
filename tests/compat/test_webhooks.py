"""Registry webhooks through the real ``mlflow`` client against a ``labtrack server``
process: create, list, get, update, test and delete, and a signed delivery of
``model_version.created`` to a receiver on loopback, verified as MLflow documents it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from compat._support import MLFLOW_MISSING
from server.test_webhooks_api import Receiver

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)
from mlflow.exceptions import MlflowException  # noqa: E402

SECRET = "compat-secret"


@pytest.fixture(scope="module")
def webhook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from livesrv import serve_in_process

    tmp = tmp_path_factory.mktemp("webhooks")
    with serve_in_process(
        f"sqlite:///{tmp / 'db.db'}",
        tmp / "artifacts",
        extra_env={
            "LABTRACK_WEBHOOK_SECRET_KEY": "compat-key",
            # the receiver is on loopback, without TLS
            "LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
            "LABTRACK_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        },
        log_file=tmp / "server.log",
    ) as url:
        yield url


@pytest.fixture
def client(webhook_server: str) -> Any:
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(webhook_server)
    return MlflowClient(webhook_server)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_the_mlflow_client_manages_webhooks(client: Any, receiver: Receiver) -> None:
    hook = client.create_webhook(
        name="ci",
        url=receiver.url,
        events=["model_version.created", "model_version_alias.created"],
        description="tell CI",
        secret=SECRET,
    )
    assert [str(e) for e in hook.events] == ["model_version.created", "model_version_alias.created"]
    assert str(hook.status) == "ACTIVE"
    assert hook.secret is None  # never sent back
    got = client.get_webhook(hook.webhook_id)
    assert (got.name, got.url, got.description) == ("ci", receiver.url, "tell CI")
    assert [w.webhook_id for w in client.list_webhooks()] == [hook.webhook_id]
    changed = client.update_webhook(hook.webhook_id, description="tell CI now")
    assert changed.description == "tell CI now"
    assert changed.last_updated_timestamp >= hook.last_updated_timestamp
    result = client.test_webhook(hook.webhook_id)
    assert (result.success, result.response_status, result.response_body) == (True, 200, "thanks")

    client.create_registered_model("churn")
    client.create_model_version("churn", "s3://bucket/churn", tags={"k": "v"})
    deadline = time.monotonic() + 15
    while len(receiver.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    headers, body = receiver.received[1]
    signed = f"{headers['X-MLflow-Delivery-Id']}.{headers['X-MLflow-Timestamp']}.{body.decode()}"
    digest = hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).digest()
    assert headers["X-MLflow-Signature"] == "v1," + base64.b64encode(digest).decode()
    sent = json.loads(body)
    assert (sent["entity"], sent["action"]) == ("model_version", "created")
    assert sent["data"]["tags"] == {"k": "v"}

    client.delete_webhook(hook.webhook_id)
    with pytest.raises(MlflowException, match=f"Webhook with ID {hook.webhook_id} not found."):
        client.get_webhook(hook.webhook_id)


def test_the_mlflow_client_sees_a_refused_url(client: Any) -> None:
    with pytest.raises(MlflowException, match="Invalid webhook URL scheme: 'ftp'"):
        client.create_webhook(name="bad", url="ftp://x/hook", events=["model_version.created"])


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hook",
        "https://[::1]:8443/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "https://0177.0.0.1/hook",
        "https://2130706433/hook",
        "https://127.1/hook",
        "https://localhost/hook",
        "https://nothing.invalid/hook",
        "https://8.8.8.8/hook",
        "http://8.8.8.8/hook",  # https only, by default
    ],
)
def test_webhook_urls_are_refused_as_mlflow_refuses_them(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Side by side, in this process: MLflow's check of a webhook URL and labtrack's, with
    private addresses refused (both defaults), agree on what is refused and the message."""
    from mlflow.utils.validation import _validate_webhook_url

    from labtrack.errors import InvalidParameterValue
    from labtrack.tracking._webhooks import validate_webhook_url

    monkeypatch.delenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", raising=False)
    monkeypatch.delenv("LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS", raising=False)
    theirs = ours = None
    try:
        _validate_webhook_url(url)
    except MlflowException as exc:
        theirs = (exc.error_code, exc.message)
    try:
        validate_webhook_url(url)
    except InvalidParameterValue as exc:
        ours = (exc.error_code, exc.message)
    assert ours == theirs
    if url != "https://8.8.8.8/hook":
        assert ours is not None


@pytest.mark.parametrize("url", ["http://8.8.8.8/hook", "ftp://8.8.8.8/hook"])
def test_mlflows_setting_allows_http_for_both(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https (labtrack reads it as its own
    webhook_allowed_schemes): http is accepted by both checks, ftp refused in the same words."""
    from mlflow.utils.validation import _validate_webhook_url

    from labtrack.errors import InvalidParameterValue
    from labtrack.tracking._webhooks import validate_webhook_url

    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
    theirs = ours = None
    try:
        _validate_webhook_url(url)
    except MlflowException as exc:
        theirs = exc.message
    try:
        validate_webhook_url(url)
    except InvalidParameterValue as exc:
        ours = exc.message
    assert ours == theirs
    assert (ours is None) == url.startswith("http:")
