"""Fuzzing the server: whatever a client sends, the answer is never a 500 or a traceback.

MLflow's endpoints get Hypothesis-generated JSON bodies and query strings built from
the field names they use (with wrong types, huge and odd values), and bodies of the
shapes attackers send (lone surrogates, arrays and objects where a key is expected,
nesting far past any real request, over-long strings); labtrack's own endpoints are
fuzzed by Schemathesis from their OpenAPI document. Every test runs against a real
server on SQLite and on PostgreSQL, over one keep-alive connection, which must never be
dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err

from databases import fresh_database
from livesrv import serve_in_thread

FIELDS = [
    "run_id",
    "run_uuid",
    "experiment_id",
    "experiment_ids",
    "name",
    "key",
    "value",
    "timestamp",
    "step",
    "metrics",
    "params",
    "tags",
    "filter",
    "order_by",
    "max_results",
    "page_token",
    "status",
    "end_time",
    "start_time",
    "run_name",
    "new_name",
    "artifact_location",
    "view_type",
    "run_view_type",
    "metric_key",
    "path",
    "datasets",
    "model_json",
    "run_ids",
    "start_step",
    "end_step",
    "experiment_name",
    "user_id",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "0",
            "NaN",
            "Infinity",
            "../../etc/passwd",
            "%2e%2e",
            "' OR 1=1 --",
            "metrics.x > 1",
            "a" * 300,
            "\x00",
            "ACTIVE_ONLY",
            "FINISHED",
        ]
    )
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["key", "value", "timestamp", "step", "dataset"]), children, max_size=4
        )
    ),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)


# -- hostile shapes, as JSON text (httpx's encoder refuses lone surrogates, and Python's
# recursion limit stops any encoder from writing the deepest nesting) -------------------
def _nested(depth: int, kind: str) -> str:
    if kind == "[":
        return "[" * depth + "]" * depth
    return '{"key":' * depth + '"x"' + "}" * depth


surrogates = st.builds(
    lambda before, lone, after: json.dumps(before + lone + after),
    st.text(max_size=5),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.text(max_size=5),
)
deep = st.builds(_nested, st.integers(min_value=60, max_value=20_000), st.sampled_from("[{"))
long_strings = st.sampled_from([251, 256, 501, 6001, 8001, 20_001, 300_000]).map(
    lambda n: json.dumps("k" * n)
)
plain = values.map(json.dumps)
hostile_values = surrogates | deep | long_strings | plain


def _item(key: str, value: str) -> str:
    return f'{{"key": {key}, "value": {value}, "timestamp": 1, "step": 0}}'


containers = st.sampled_from(["[]", "{}", '["loss"]', '{"key": "loss"}', "[[]]"])
# log-batch style items whose key or value is hostile.
items = st.builds(_item, containers | surrogates | long_strings, hostile_values) | st.builds(
    _item, st.just('"loss"'), containers | surrogates | deep
)
item_lists = st.lists(items, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
field_names = st.sampled_from(FIELDS).map(json.dumps) | surrogates


@st.composite
def hostile_bodies(draw: st.DrawFn) -> str:
    """A JSON object (as text) with some of its fields hostile."""
    fields = draw(st.lists(st.tuples(field_names, hostile_values | item_lists), max_size=5))
    return "{" + ", ".join(f"{name}: {value}" for name, value in fields) + "}"


def mlflow_paths(method: str) -> list[str]:
    """The paths (under /api/2.0/mlflow) of MLflow's JSON endpoints that answer ``method``,
    from the server's route table."""
    import tempfile

    from labtrack.server.app import ServerConfig, ServerContext, route_table

    with tempfile.TemporaryDirectory() as tmp:
        context = ServerContext(
            ServerConfig(backend_store_uri=f"sqlite:///{tmp}/routes.db", artifacts_destination=tmp)
        )
        table = route_table(context)
    base = "/api/2.0/mlflow/"
    return sorted(
        {r.path[len(base) - 1 :] for r in table if r.path.startswith(base) and method in r.methods}
    )


POST_ROUTES = mlflow_paths("POST")
GET_ROUTES = mlflow_paths("GET")
LOG_BULK = "/api/2.0/labtrack/runs/log-bulk"  # labtrack's own JSON body, parsed for FastAPI


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with (
        fresh_database(request.param, tmp) as db,
        serve_in_thread(db, str(tmp / "artifacts")) as url,
    ):
        yield url


class KeepAlive:
    """Fails the request that finds the connection of the previous one dropped: a new TCP
    connection opened right after an answer (uvicorn closes an idle one after 5 seconds)."""

    def __init__(self) -> None:
        self.previous = ""
        self.answered = time.monotonic()
        self.idle = 0.0

    def sending(self, request: httpx.Request) -> None:
        self.idle = time.monotonic() - self.answered
        request.extensions["trace"] = self.trace

    def received(self, response: httpx.Response) -> None:
        self.previous = f"{response.request.method} {response.request.url.path}"
        self.previous += f" (answered {response.status_code})"
        self.answered = time.monotonic()

    def trace(self, event: str, info: dict) -> None:
        if event == "connection.connect_tcp.complete" and self.previous and self.idle < 2:
            raise AssertionError(f"the server dropped the connection after {self.previous}")


@pytest.fixture(scope="module")
def http(server: str) -> Iterator[httpx.Client]:
    keep_alive = KeepAlive()
    hooks: dict[str, list[Callable[..., Any]]] = {
        "request": [keep_alive.sending],
        "response": [keep_alive.received],
    }
    with httpx.Client(base_url=server, timeout=30, event_hooks=hooks) as client:
        # Some real data so fuzzed ids and filters sometimes hit something.
        client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
        yield client


def check(response: httpx.Response) -> None:
    assert response.status_code < 500 or response.status_code == 501, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error_code", "message"}, body
        assert "Traceback" not in body["message"]


def post_text(http: httpx.Client, path: str, text: str) -> httpx.Response:
    return http.post(path, content=text.encode(), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("path", POST_ROUTES)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_post_endpoints_answer_every_body(http: httpx.Client, path: str, body: dict) -> None:
    check(http.post(f"/api/2.0/mlflow{path}", json=body))


@pytest.mark.parametrize("path", [*(f"/api/2.0/mlflow{p}" for p in POST_ROUTES), LOG_BULK])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=hostile_bodies())
def test_post_endpoints_answer_hostile_bodies(http: httpx.Client, path: str, body: str) -> None:
    check(post_text(http, path, body))


@pytest.mark.parametrize("path", GET_ROUTES)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=40), max_size=5))
def test_get_endpoints_answer_every_query(http: httpx.Client, path: str, query: dict) -> None:
    check(http.get(f"/api/2.0/mlflow{path}", params=query))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_as_a_body(http: httpx.Client, raw: bytes) -> None:
    check(
        http.post(
            "/api/2.0/mlflow/runs/log-batch",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
    )


def labtrack_operations() -> list:
    """labtrack's own operations, from the OpenAPI document the server publishes."""
    import tempfile

    from labtrack.server.app import ServerConfig, create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            ServerConfig(backend_store_uri=f"sqlite:///{tmp}/spec.db", artifacts_destination=tmp)
        )
        spec = app.openapi()
    operations = []
    for result in schemathesis.openapi.from_dict(spec).get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operations.append(result.ok())
    return operations


OPERATIONS = labtrack_operations()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_labtrack_api_from_its_openapi_document(http: httpx.Client, operation) -> None:
    """Schemathesis generates requests from the published schema (valid and not)."""

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case) -> None:
        kwargs = case.as_transport_kwargs(base_url=str(http.base_url))
        response = http.request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params"),
            json=kwargs.get("json"),
            headers=kwargs.get("headers"),
        )
        check(response)

    run()
