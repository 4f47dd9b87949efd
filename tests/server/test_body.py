"""Every endpoint that reads a body goes through one reader (labtrack/server/_body.py).

The same request gets the same answer on a JSON endpoint (``experiments/create``), an
artifact endpoint that reads JSON (``mpu/create``) and an artifact upload: a client that
disconnects mid-body gets a 400 (and nothing is logged as a server error), a negative
or non-numeric Content-Length is a 400, and the size limit is enforced while reading.
Its JSON parser refuses what no handler could use (text that is not UTF-8 JSON, nesting
past the limit, lone surrogates), naming the field where there is one.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labtrack.errors import BadRequest, InvalidParameterValue
from labtrack.server._body import MAX_JSON_DEPTH, parse_json
from labtrack.server.app import ServerConfig, create_app

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts"
LIMIT = 10_000

JSON_ENDPOINT = ("POST", f"{API}/experiments/create")
MPU_ENDPOINT = ("POST", f"{ARTIFACTS}/mpu/create/1/run/artifacts")
UPLOAD_ENDPOINT = ("PUT", f"{ARTIFACTS}/artifacts/1/run/artifacts/f.bin")
ENDPOINTS = [JSON_ENDPOINT, MPU_ENDPOINT, UPLOAD_ENDPOINT]
LIMITED = [JSON_ENDPOINT, MPU_ENDPOINT, ("POST", "/api/2.0/labtrack/runs/log-bulk")]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Reply:
    status: int
    body: bytes
    received: int  # how many of the request's messages the server took

    def error(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        assert set(data) == {"error_code", "message"}, data
        return data


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return create_app(
        ServerConfig(
            backend_store_uri=f"sqlite:///{tmp_path / 'db.db'}",
            artifacts_destination=str(tmp_path / "artifacts"),
            max_body_bytes=LIMIT,
        )
    )


async def call(
    app: Any, method: str, path: str, headers: dict[str, str], messages: Iterator[dict[str, Any]]
) -> Reply:
    """One request straight to the ASGI app, its body sent as ``messages``."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    received = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return next(messages, {"type": "http.disconnect"})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Reply(start["status"], body, received)


def chunks(*parts: bytes, more: bool = False) -> Iterator[dict[str, Any]]:
    for i, part in enumerate(parts):
        yield {"type": "http.request", "body": part, "more_body": more or i < len(parts) - 1}


def endless(chunk: bytes) -> Iterator[dict[str, Any]]:
    while True:
        yield {"type": "http.request", "body": chunk, "more_body": True}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_a_client_that_disconnects_mid_body_gets_a_400(
    app: Any, method: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Half of a JSON object, then the client goes away.
    with caplog.at_level(logging.WARNING, logger="labtrack.server"):
        reply = await call(
            app, method, path, {"content-length": "40"}, chunks(b'{"name": "ha', more=True)
        )
    assert (reply.status, reply.error()["error_code"]) == (400, "BAD_REQUEST")
    assert "was interrupted: the client disconnected after 12 bytes" in reply.error()["message"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("length", ["-1", "-100", "ten", "1e3", "0x10", ""])
async def test_an_invalid_content_length_is_a_400(
    app: Any, method: str, path: str, length: str
) -> None:
    reply = await call(app, method, path, {"content-length": length}, chunks(b"{}"))
    assert reply.status == 400
    assert reply.error() == {
        "error_code": "BAD_REQUEST",
        "message": f"Invalid Content-Length header {length!r}",
    }


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_a_body_shorter_than_its_content_length_is_a_400(
    app: Any, method: str, path: str
) -> None:
    reply = await call(app, method, path, {"content-length": "100"}, chunks(b'{"path": "f"}'))
    assert reply.status == 400
    assert (
        "is incomplete: got 13 of the 100 bytes announced by Content-Length"
        in (reply.error()["message"])
    )


@pytest.mark.parametrize(("method", "path"), LIMITED)
async def test_a_body_over_the_limit_is_refused_while_it_is_read(
    app: Any, method: str, path: str
) -> None:
    """No Content-Length (chunked): the reader stops as soon as the limit is passed,
    without waiting for (or buffering) the rest of an endless body."""
    reply = await call(app, method, path, {}, endless(b" " * 1000))
    assert reply.status == 413
    assert reply.error() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": f"Request body of 11000 bytes is larger than the limit of {LIMIT}",
    }
    assert reply.received == LIMIT // 1000 + 1


@pytest.mark.parametrize(("method", "path"), LIMITED)
async def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(
    app: Any, method: str, path: str
) -> None:
    reply = await call(app, method, path, {"content-length": str(10**12)}, endless(b" "))
    assert reply.status == 413
    assert reply.error()["message"] == (
        f"Request body of {10**12} bytes is larger than the limit of {LIMIT}"
    )
    assert reply.received == 0


async def test_an_upload_is_not_limited_by_the_json_limit(app: Any) -> None:
    method, path = UPLOAD_ENDPOINT
    body = b"x" * (3 * LIMIT)
    reply = await call(app, method, path, {"content-length": str(len(body))}, chunks(body))
    assert (reply.status, json.loads(reply.body)) == (200, {})


# -- on a real server ------------------------------------------------------------------------
MB = 1024 * 1024


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from livesrv import serve_in_thread

    tmp = tmp_path_factory.mktemp("live-body")
    with serve_in_thread(
        f"sqlite:///{tmp / 'db.db'}", str(tmp / "artifacts"), max_body_bytes=MB
    ) as url:
        yield url


class Stream:
    """A body of ``megabytes`` MB sent a megabyte at a time, counting what the client sent."""

    def __init__(self, megabytes: int) -> None:
        self.megabytes = megabytes
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.megabytes):
            self.sent += 1
            yield b" " * MB


@pytest.mark.parametrize(
    ("path", "content_type", "limit"),
    [
        ("/api/2.0/labtrack/runs/log-bulk", "application/json", MB),
        ("/api/2.0/mlflow/experiments/create", "application/json", MB),
        ("/experiments", "application/x-www-form-urlencoded", 1024 * 1024),  # a UI form
    ],
)
def test_a_streamed_200_mb_body_is_refused_without_being_read(
    live_server: str, path: str, content_type: str, limit: int
) -> None:
    """The server answers 413 once the limit is passed and closes the connection; the
    client stops sending long before the end of its 200 MB (it would send it all if the
    server went on reading)."""
    import httpx

    body = Stream(200)
    response = httpx.post(
        live_server + path, content=body, headers={"content-type": content_type}, timeout=60
    )
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert body.sent < 50
    if path.startswith("/api/"):
        error = response.json()
        assert error["error_code"] == "INVALID_PARAMETER_VALUE"
        message = error["message"]
    else:  # the UI's error page
        message = response.text
    received = re.search(r"of (\d+) bytes is larger than the limit of (\d+)", message)
    assert received is not None, message
    assert limit < int(received[1]) <= 2 * limit
    assert int(received[2]) == limit


def test_a_refused_body_closes_the_connection_and_a_read_one_keeps_it(live_server: str) -> None:
    import httpx

    with httpx.Client(base_url=live_server, timeout=30) as client:
        ok = client.post("/api/2.0/mlflow/experiments/create", json={"name": "kept"})
        assert ok.status_code == 200
        assert "connection" not in ok.headers  # kept alive
        refused = client.post("/api/2.0/mlflow/experiments/create", content=b" " * (2 * MB))
        assert refused.status_code == 413
        assert refused.headers["connection"] == "close"
        # The client opens a new connection for the next request.
        again = client.post("/api/2.0/mlflow/experiments/create", json={"name": "again"})
        assert again.status_code == 200


# -- the JSON parser ---------------------------------------------------------------------
def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"name": "\\ud83d\\ude00"}', {"name": "\U0001f600"}),  # a pair is one character
        ('{"name": "\\\\ud800"}', {"name": "\\ud800"}),  # an escaped backslash, not a surrogate
        ('{"name": "\\uD7FF"}', {"name": "\ud7ff"}),  # below the surrogates
        (f'{{"v": {nested(MAX_JSON_DEPTH - 1)}}}', {"v": json.loads(nested(MAX_JSON_DEPTH - 1))}),
        (f'{{"v": "{"[" * 500}"}}', {"v": "[" * 500}),  # brackets in strings do not nest
        ("[" + ",".join(["[]"] * 2000) + "]", [[]] * 2000),  # many brackets, shallow
    ],
)
async def test_json_that_is_parsed(text: str, expected: Any) -> None:
    assert parse_json(text.encode()) == expected
    assert parse_json(text) == expected


async def test_json_in_utf16_is_parsed_as_json_allows() -> None:
    assert parse_json('{"name": "é"}'.encode("utf-16")) == {"name": "é"}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"name": "\\ud800"}', "name"),
        ('{"name": "ok", "tags": [{"key": "k", "value": "a\\uDFFFb"}]}', "tags[0].value"),
        (
            '{"params": [{"key": "p", "value": "v"}, {"key": "\\udbff", "value": "v"}]}',
            "params[1].key",
        ),
        ('{"a": {"b": ["x", "\\ude00"]}}', "a.b[1]"),
        ('["\\ud800"]', "[0]"),
        ('"\\ud800"', "body"),
    ],
)
async def test_a_lone_surrogate_is_refused_naming_its_field(text: str, field: str) -> None:
    with pytest.raises(
        InvalidParameterValue, match=re.escape(f"for parameter '{field}' supplied:")
    ):
        parse_json(text.encode())


async def test_a_lone_surrogate_in_a_field_name_is_refused() -> None:
    with pytest.raises(InvalidParameterValue, match=r"Invalid field name .* not a valid Unicode"):
        parse_json(b'{"ok": {"\\ud800": 1}}')


@pytest.mark.parametrize(
    "text",
    [
        f'{{"v": {nested(MAX_JSON_DEPTH)}}}',
        f'{{"v": [{",".join([nested(3)] * 30 + [nested(MAX_JSON_DEPTH)])}]}}',
        '{"a":' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1),
        nested(100_000),  # past Python's own recursion limit
    ],
)
async def test_json_nested_past_the_limit_is_refused(text: str) -> None:
    with pytest.raises(BadRequest, match=f"more than {MAX_JSON_DEPTH} levels deep"):
        parse_json(text.encode())


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes (CESU), not UTF-8
        b'{"name": "\xff"}',
        b'{"name": ',
    ],
)
async def test_text_that_is_not_utf8_json_is_malformed(raw: bytes) -> None:
    with pytest.raises(BadRequest, match="Malformed JSON in request body"):
        parse_json(raw)
