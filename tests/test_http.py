"""The HTTP client shared by the REST store and the HTTP artifact repository.

``HttpClient`` takes an httpx transport, so every test here is a fake server built with
``httpx.MockTransport``: which answers are retried (and how often), which requests are
never sent twice, and which labtrack error each failed answer becomes. How the REST store
uses the client (batching, request ids, auth against MLflow) is in
tests/store/test_rest_store.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from labtrack._http import HttpClient
from labtrack.errors import (
    EndpointNotFound,
    InternalError,
    InvalidParameterValue,
    LabtrackError,
    ResourceDoesNotExist,
    TemporarilyUnavailable,
    Unauthenticated,
)

Answer = Callable[[httpx.Request, int], httpx.Response]


class FakeServer:
    """Answers each request from ``answer(request, n)`` (n counts from 1); keeps them all."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.answer(request, len(self.requests))


def client(answer: Answer, *, retries: int = 3) -> tuple[HttpClient, FakeServer]:
    server = FakeServer(answer)
    http = HttpClient(
        "http://x/", retries=retries, backoff=0.0, transport=httpx.MockTransport(server)
    )
    return http, server


def always(response: httpx.Response) -> Answer:
    return lambda request, n: response


# -- retries ---------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 503])
def test_busy_answers_are_retried_until_one_succeeds(status: int) -> None:
    def busy_twice(request: httpx.Request, n: int) -> httpx.Response:
        if n <= 2:
            return httpx.Response(status, headers={"Retry-After": "0"}, text="busy")
        return httpx.Response(200, json={"ok": True})

    http, server = client(busy_twice)
    assert http.json("POST", "/api/2.0/mlflow/runs/create", json={}) == {"ok": True}
    assert len(server.requests) == 3  # a POST too: the server said it did not act on it


def test_busy_answers_without_retry_after_back_off_and_retry() -> None:
    http, server = client(
        lambda r, n: httpx.Response(503, text="busy") if n == 1 else httpx.Response(200)
    )
    assert http.request("GET", "/a").status_code == 200
    assert len(server.requests) == 2


def test_retries_stop_after_the_limit_with_the_last_answer_as_the_error() -> None:
    http, server = client(always(httpx.Response(503, text="still busy")), retries=2)
    with pytest.raises(
        TemporarilyUnavailable,
        match=re.escape("The tracking server is unavailable (503) for GET /a: still busy"),
    ):
        http.request("GET", "/a")
    assert len(server.requests) == 3  # the first try and two retries


@pytest.mark.parametrize("status", [400, 404, 500, 502])
def test_other_failures_are_not_retried(status: int) -> None:
    http, server = client(always(httpx.Response(status, text="no")))
    with pytest.raises(LabtrackError):
        http.request("GET", "/a")
    assert len(server.requests) == 1


def test_a_request_that_never_left_is_retried_even_when_not_idempotent() -> None:
    def refused_once(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"experiment_id": "1"})

    http, server = client(refused_once)
    assert http.json("POST", "/create", json={}) == {"experiment_id": "1"}
    assert len(server.requests) == 2


def test_an_unreachable_server_is_a_clear_error_after_the_retries() -> None:
    def refused(request: httpx.Request, n: int) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http, server = client(refused, retries=2)
    with pytest.raises(
        TemporarilyUnavailable,
        match=re.escape("Cannot reach the tracking server at http://x: connection refused"),
    ):
        http.request("POST", "/create")
    assert len(server.requests) == 3


def dropped(request: httpx.Request, n: int) -> httpx.Response:
    raise httpx.ReadError("connection reset by peer", request=request)


@pytest.mark.parametrize(
    ("method", "idempotent", "attempts"),
    [
        ("POST", None, 1),  # may have been applied: never sent twice
        ("POST", True, 4),  # the caller says sending it twice is harmless
        ("GET", None, 4),
        ("PUT", None, 4),
        ("DELETE", None, 4),
        ("GET", False, 1),
    ],
)
def test_a_lost_connection_is_retried_only_for_idempotent_requests(
    method: str, idempotent: bool | None, attempts: int
) -> None:
    http, server = client(dropped, retries=3)
    with pytest.raises(
        TemporarilyUnavailable,
        match=re.escape(
            f"Lost the connection to the tracking server at http://x during {method} /a: "
            "connection reset by peer"
        ),
    ):
        http.request(method, "/a", idempotent=idempotent)
    assert len(server.requests) == attempts


def test_a_streamed_body_is_made_again_for_each_attempt() -> None:
    made: list[int] = []

    def body() -> bytes:
        made.append(1)
        return b"payload"

    http, server = client(
        lambda r, n: (
            httpx.Response(503, headers={"Retry-After": "0"}) if n == 1 else httpx.Response(200)
        )
    )
    http.request("PUT", "/file", content=body)
    assert len(made) == 2
    assert [r.content for r in server.requests] == [b"payload", b"payload"]


# -- error mapping ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (
            httpx.Response(
                404, json={"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run 'r' gone"}
            ),
            ResourceDoesNotExist,
            "Run 'r' gone",
        ),
        (
            httpx.Response(400, json={"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"}),
            InvalidParameterValue,
            "bad",
        ),
        (
            httpx.Response(404, text="<html>Not Found</html>"),
            EndpointNotFound,
            "GET /a: not found on the server (HTTP 404)",
        ),
        (
            httpx.Response(401, text="who are you"),
            Unauthenticated,
            "The tracking server refused the credentials (401): who are you",
        ),
        (
            httpx.Response(502, text="<h1>Bad\n  Gateway</h1>"),
            TemporarilyUnavailable,
            "The tracking server is unavailable (502) for GET /a: <h1>Bad Gateway</h1>",
        ),
        (
            httpx.Response(504, text="timeout"),
            TemporarilyUnavailable,
            "The tracking server is unavailable (504) for GET /a: timeout",
        ),
        (
            httpx.Response(500, text="boom"),
            InternalError,
            "GET /a failed with HTTP 500: boom",
        ),
    ],
)
def test_failed_answers_become_labtrack_errors(
    response: httpx.Response, error: type[LabtrackError], message: str
) -> None:
    http, _ = client(always(response), retries=0)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        http.request("GET", "/a")


def test_an_unknown_4xx_without_mlflow_json_is_a_bad_request() -> None:
    http, _ = client(always(httpx.Response(418, text="teapot")))
    with pytest.raises(
        LabtrackError, match=re.escape("GET /a failed with HTTP 418: teapot")
    ) as info:
        http.request("GET", "/a")
    assert info.value.error_code == "BAD_REQUEST"
    assert info.value.http_status == 400


def test_an_unknown_error_code_is_kept() -> None:
    body = {"error_code": "SOMETHING_NEW", "message": "a future error"}
    http, _ = client(always(httpx.Response(400, json=body)))
    with pytest.raises(LabtrackError, match=r"^a future error$") as info:
        http.request("GET", "/a")
    assert type(info.value) is LabtrackError
    assert info.value.error_code == "SOMETHING_NEW"


# -- JSON answers ----------------------------------------------------------------------------
def test_json_of_an_empty_answer_is_an_empty_object() -> None:
    http, _ = client(always(httpx.Response(200)))
    assert http.json("POST", "/a") == {}


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            httpx.Response(200, text="<html>proxy login</html>"),
            "The tracking server's answer to GET /a is not JSON: '<html>proxy login</html>'",
        ),
        (
            httpx.Response(200, json=[1, 2]),
            "The tracking server's answer to GET /a is not an object",
        ),
    ],
)
def test_json_that_is_not_an_object_is_an_internal_error(
    response: httpx.Response, message: str
) -> None:
    http, _ = client(always(response))
    with pytest.raises(InternalError, match=f"^{re.escape(message)}$"):
        http.json("GET", "/a")


# -- what every request carries --------------------------------------------------------------
def test_requests_name_the_client_and_its_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "ana")
    monkeypatch.setenv("USER", "ana")
    http, server = client(always(httpx.Response(200)))
    http.request("GET", "/a", params={"q": "1"})
    sent = server.requests[0]
    assert sent.url == "http://x/a?q=1"
    assert sent.headers["user-agent"].startswith("labtrack/")
    assert sent.headers["x-labtrack-user"]
