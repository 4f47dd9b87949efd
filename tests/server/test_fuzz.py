"""Fuzzing the server: whatever a client sends, the answer is never a 500 or a traceback.

MLflow's endpoints get Hypothesis-generated JSON bodies and query strings built from
the field names they use (with wrong types, huge and odd values); labtrack's own
endpoints are fuzzed by Schemathesis from their OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with serve_in_thread(f"sqlite:///{tmp / 'db.db'}", str(tmp / "artifacts")) as url:
        yield url


@pytest.fixture(scope="module")
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        # Some real data so fuzzed ids and filters sometimes hit something.
        client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
        yield client


def check(response: httpx.Response) -> None:
    assert response.status_code < 500 or response.status_code == 501, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error_code", "message"}, body
        assert "Traceback" not in body["message"]


@pytest.mark.parametrize("path", POST_ROUTES)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_post_endpoints_answer_every_body(http: httpx.Client, path: str, body: dict) -> None:
    check(http.post(f"/api/2.0/mlflow{path}", json=body))


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
