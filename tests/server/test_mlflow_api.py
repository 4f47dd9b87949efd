"""MLflow's REST API on a live labtrack server: shapes, errors and limits, as raw HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livesrv import serve_in_thread

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("server")
    with serve_in_thread(
        f"sqlite:///{tmp / 'db.db'}", str(tmp / "artifacts"), serve_artifacts=False
    ) as url:
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


@pytest.fixture
def run_id(http: httpx.Client) -> str:
    run = http.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"]
    return str(run["info"]["run_id"])


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def test_create_and_get_run_shapes(http: httpx.Client) -> None:
    created = http.post(
        f"{API}/runs/create",
        json={
            "experiment_id": "0",
            "run_name": "shape",
            "start_time": "1700000000000",  # int64 as a string, as protobuf JSON writers send it
            "tags": [{"key": "mlflow.user", "value": "ana"}],
        },
    )
    assert created.status_code == 200
    info = created.json()["run"]["info"]
    assert info["run_name"] == "shape"
    assert info["run_uuid"] == info["run_id"]
    assert info["user_id"] == "ana"
    assert info["start_time"] == 1700000000000
    assert info["status"] == "RUNNING"
    assert "end_time" not in info  # unset fields are left out, as in protobuf JSON
    run_id = info["run_id"]
    http.post(
        f"{API}/runs/log-batch",
        json={
            "run_id": run_id,
            "metrics": [
                {"key": "loss", "value": 0.5, "timestamp": 1, "step": 1},
                {"key": "loss", "value": "NaN", "timestamp": 2, "step": 2},
                {"key": "gain", "value": "Infinity", "timestamp": 1, "step": 0},
            ],
            "params": [{"key": "alpha", "value": "0.1"}],
        },
    ).raise_for_status()
    got = http.get(f"{API}/runs/get", params={"run_uuid": run_id}).json()["run"]
    metrics = {m["key"]: m for m in got["data"]["metrics"]}
    assert metrics["loss"] == {"key": "loss", "value": "NaN", "timestamp": 2, "step": 2}
    assert metrics["gain"]["value"] == "Infinity"
    assert got["data"]["params"] == [{"key": "alpha", "value": "0.1"}]
    summaries = {s["key"]: s for s in got["data"]["metric_summaries"]}
    assert summaries["loss"] == {"key": "loss", "min": 0.5, "max": 0.5, "count": 2}


def test_the_ui_base_path_serves_the_same_api(http: httpx.Client, run_id: str) -> None:
    got = http.get("/ajax-api/2.0/mlflow/runs/get", params={"run_id": run_id})
    assert got.json()["run"]["info"]["run_id"] == run_id


def test_empty_values_are_stored(http: httpx.Client, run_id: str) -> None:
    """An empty param or tag value is a value (MLflow stores it), and so is one left out."""
    for endpoint, body in (
        ("runs/log-parameter", {"run_id": run_id, "key": "p", "value": ""}),
        ("runs/log-parameter", {"run_id": run_id, "key": "q"}),
        ("runs/set-tag", {"run_id": run_id, "key": "t", "value": ""}),
        ("experiments/set-experiment-tag", {"experiment_id": "0", "key": "e", "value": ""}),
    ):
        response = http.post(f"{API}/{endpoint}", json=body)
        assert (response.status_code, response.json()) == (200, {}), endpoint
    data = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]
    assert {p["key"]: p["value"] for p in data["params"]} == {"p": "", "q": ""}
    assert {"key": "t", "value": ""} in data["tags"]
    experiment = http.get(f"{API}/experiments/get", params={"experiment_id": "0"}).json()
    assert {"key": "e", "value": ""} in experiment["experiment"]["tags"]
    # The key is still required.
    refused = http.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "", "value": "v"})
    assert error(refused)[:2] == (400, "INVALID_PARAMETER_VALUE")


def test_search_runs_by_get_with_repeated_query_keys(http: httpx.Client) -> None:
    exp = http.post(f"{API}/experiments/create", json={"name": "by-get"}).json()["experiment_id"]
    for i in range(3):
        rid = http.post(f"{API}/runs/create", json={"experiment_id": exp}).json()["run"]["info"][
            "run_id"
        ]
        http.post(
            f"{API}/runs/log-metric", json={"run_id": rid, "key": "m", "value": i, "timestamp": 1}
        )
    found = http.get(
        f"{API}/runs/search",
        params=[
            ("experiment_ids", exp),
            ("experiment_ids", "0"),
            ("order_by", "metrics.m DESC"),
            ("max_results", "2"),
        ],
    ).json()
    assert [r["data"]["metrics"][0]["value"] for r in found["runs"]] == [2.0, 1.0]
    assert found["next_page_token"]


def test_metric_history_pages(http: httpx.Client, run_id: str) -> None:
    metrics = [{"key": "h", "value": i, "timestamp": i, "step": i} for i in range(30)]
    http.post(
        f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics}
    ).raise_for_status()
    steps, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": "h", "max_results": "7"}
        if token:
            params["page_token"] = token
        page = http.get(f"{API}/metrics/get-history", params=params).json()
        steps += [m["step"] for m in page["metrics"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert steps == list(range(30))


def test_bulk_interval(http: httpx.Client, run_id: str) -> None:
    metrics = [{"key": "b", "value": i, "timestamp": i, "step": i} for i in range(100)]
    http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    got = http.get(
        "/api/2.11/mlflow/metrics/get-history-bulk-interval",
        params={
            "run_ids": run_id,
            "metric_key": "b",
            "start_step": 10,
            "end_step": 59,
            "max_results": 5,
        },
    ).json()["metrics"]
    assert [m["step"] for m in got] == [10, 22, 34, 47, 59]
    assert {m["run_id"] for m in got} == {run_id}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "fragment"),
    [
        (
            "GET",
            "/runs/get",
            {"run_id": "0123456789abcdef"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "not found",
        ),
        ("GET", "/runs/get", {}, 400, "INVALID_PARAMETER_VALUE", "'run_id'"),
        ("POST", "/experiments/create", {}, 400, "INVALID_PARAMETER_VALUE", "'name'"),
        (
            "POST",
            "/experiments/create",
            {"name": 5},
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid value 5 for parameter 'name' supplied:  Hint: Value was of type 'int'.",
        ),
        (
            "POST",
            "/runs/create",
            {"experiment_id": "0", "start_time": "soon"},
            400,
            "INVALID_PARAMETER_VALUE",
            "start_time",
        ),
        (
            "POST",
            "/runs/create",
            {"experiment_id": "999999"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "999999",
        ),
        (
            "POST",
            "/runs/search",
            {"experiment_ids": ["0"], "filter": "metrics.x <<< 1"},
            400,
            "INVALID_PARAMETER_VALUE",
            "position",
        ),
        (
            "POST",
            "/runs/search",
            {"experiment_ids": ["0"], "max_results": 50001},
            400,
            "INVALID_PARAMETER_VALUE",
            "max_results",
        ),
        (
            "POST",
            "/runs/update",
            {"run_id": "0123456789abcdef", "status": "SLEEPING"},
            400,
            "INVALID_PARAMETER_VALUE",
            "status",
        ),
        (
            "POST",
            "/registered-models/create",
            {"name": "a/b"},
            400,
            "INVALID_PARAMETER_VALUE",
            "Names cannot contain '/' or ':'",
        ),
        ("GET", "/no/such/endpoint", {}, 404, "ENDPOINT_NOT_FOUND", "/no/such/endpoint"),
    ],
)
def test_errors_are_mlflow_json(http, method, path, body, status, code, fragment) -> None:
    if method == "GET":
        response = http.get(API + path, params=body)
    else:
        response = http.post(API + path, json=body)
    got_status, got_code, message = error(response)
    assert (got_status, got_code) == (status, code)
    assert fragment in message


def test_unknown_fields_are_ignored_as_in_mlflow(http: httpx.Client) -> None:
    response = http.post(f"{API}/runs/create", json={"experiment_id": "0", "surprise": [1, 2]})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"experiment_id": "0"'],
)
def test_malformed_bodies(http: httpx.Client, body: bytes) -> None:
    response = http.post(
        f"{API}/runs/create", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "BAD_REQUEST"


def test_param_overwrite(http: httpx.Client, run_id: str) -> None:
    http.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "1"})
    status, code, message = error(
        http.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "2"})
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert "Changing param values is not allowed" in message


def test_log_batch_items_without_a_value_store_an_empty_string(
    http: httpx.Client, run_id: str
) -> None:
    """As MLflow, which reads an unset protobuf string as ""."""
    answer = http.post(
        f"{API}/runs/log-batch",
        json={"run_id": run_id, "params": [{"key": "no_value"}], "tags": [{"key": "bare"}]},
    )
    assert answer.status_code == 200, answer.text
    data = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]
    assert {"key": "no_value", "value": ""} in data["params"]
    assert {"key": "bare", "value": ""} in data["tags"]


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose experiment 1 has more runs than a search sends at once."""
    from labtrack.entities import Param, RunTag
    from labtrack.server.mlflow_api import SEARCH_PAGE_SIZE
    from labtrack.store.sql.store import SqlStore

    tmp = tmp_path_factory.mktemp("many")
    db = f"sqlite:///{tmp / 'db.db'}"
    store = SqlStore(db, str(tmp / "artifacts"))
    experiment = store.create_experiment("many")
    for i in range(SEARCH_PAGE_SIZE + 100):
        run = store.create_run(experiment, "ana", 1_000_000 + i, [RunTag("i", str(i))], f"r{i}")
        if i % 100 == 0:  # text that JSON may write escaped or not
            store.log_batch(run.info.run_id, params=[Param("p", f'ü " \\ {i}')])
    store.engine.dispose()
    with serve_in_thread(db, str(tmp / "artifacts"), serve_artifacts=False) as url:
        yield url


def paged_search(http: httpx.Client, max_results: int, **body: Any) -> list[dict[str, Any]]:
    """Every run of experiment 1, a page of ``max_results`` at a time (one answer each)."""
    runs: list[dict[str, Any]] = []
    token = None
    while True:
        page = http.post(
            f"{API}/runs/search",
            json={"experiment_ids": ["1"], "max_results": max_results, **body}
            | ({"page_token": token} if token else {}),
        ).json()
        runs += page["runs"]
        token = page.get("next_page_token")
        if not token:
            return runs


@pytest.mark.slow
def test_a_large_search_is_sent_in_parts_as_the_same_answer(many_runs: str) -> None:
    """runs/search answers up to 50,000 runs (MLflow's limit); more than a part's worth
    are read and sent a part at a time, and the client sees the same JSON."""
    with httpx.Client(base_url=many_runs, timeout=60) as http:
        expected = paged_search(http, 1000)
        assert len(expected) == 2600
        request = {"experiment_ids": ["1"], "max_results": 50_000}
        with http.stream("POST", f"{API}/runs/search", json=request) as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers  # sent in parts
            assert response.headers["content-type"] == "application/json"
            text = response.read()
        assert json.loads(text) == {"runs": expected}
        assert (
            text
            == json.dumps({"runs": expected}, ensure_ascii=False, separators=(",", ":")).encode()
        )
        # A large page that is not the last: the token leads on to the rest.
        first = http.post(
            f"{API}/runs/search", json={"experiment_ids": ["1"], "max_results": 2550}
        ).json()
        assert [r["info"]["run_id"] for r in first["runs"]] == [
            r["info"]["run_id"] for r in expected[:2550]
        ]
        rest = http.post(
            f"{API}/runs/search",
            json={
                "experiment_ids": ["1"],
                "max_results": 2550,
                "page_token": first["next_page_token"],
            },
        ).json()
        assert rest["runs"] == expected[2550:]
        assert "next_page_token" not in rest
        # A filter that matches few runs is one answer, as before.
        few = http.post(
            f"{API}/runs/search",
            json={"experiment_ids": ["1"], "filter": "tags.i = '7'", "max_results": 50_000},
        )
        assert "content-length" in few.headers
        assert [r["info"]["run_name"] for r in few.json()["runs"]] == ["r7"]
        # A bad request is refused before any of the answer is sent.
        bad = http.post(f"{API}/runs/search", json={"experiment_ids": ["1"], "max_results": 50_001})
        assert bad.status_code == 400
        assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_log_batch_limits(http: httpx.Client, run_id: str) -> None:
    too_many = [{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(1001)]
    status, code, message = error(
        http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": too_many})
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert "at most 1000 metrics" in message
    params = [{"key": f"p{i}", "value": "x" * 6000} for i in range(100)]
    tags = [{"key": f"t{i}", "value": "y" * 8000} for i in range(100)]
    status, code, message = error(
        http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "params": params, "tags": tags})
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert "at most 1000000 bytes" in message
    data = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]
    assert "metrics" not in data
    assert "params" not in data
    assert [t["key"] for t in data["tags"]] == ["mlflow.runName"]


def test_oversized_body_is_refused_before_it_is_read(server: str) -> None:
    """A body announced as a terabyte is refused at once, without waiting for it."""
    import socket

    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST {API}/experiments/create HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {10**12}\r\n\r\n{{}}".encode()
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(65536)
        head, _, body = reply.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    "location",
    ["/etc", "file:///etc", "../../outside", "/tmp", "file:/root"],
)
def test_experiments_cannot_point_at_server_files(http: httpx.Client, location: str) -> None:
    status, code, message = error(
        http.post(
            f"{API}/experiments/create",
            json={"name": f"evil-{location}", "artifact_location": location},
        )
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert "not allowed" in message


@pytest.mark.parametrize("location", ["s3://bucket/prefix", "mlflow-artifacts:/team"])
def test_remote_artifact_locations_are_allowed(http: httpx.Client, location: str) -> None:
    response = http.post(
        f"{API}/experiments/create", json={"name": f"ok-{location}", "artifact_location": location}
    )
    assert response.status_code == 200


def test_labtrack_bulk_endpoint_applies_a_request_once(http: httpx.Client, run_id: str) -> None:
    body = {
        "run_id": run_id,
        "request_id": "retry-me",
        "metrics": {
            "keys": ["x", "y"],
            "key_index": [0, 1, 0],
            "values": [1.0, "NaN", 3.0],
            "timestamps": [1, 1, 2],
            "steps": [0, 0, 1],
        },
        "params": [{"key": "bulk", "value": "yes"}],
    }
    for _ in range(3):
        assert http.post("/api/2.0/labtrack/runs/log-bulk", json=body).json() == {
            "metrics": 3,
            "params": 1,
            "tags": 0,
        }
    columns = http.get(
        "/api/2.0/labtrack/metrics/history-columns", params={"run_id": run_id, "key": "x"}
    ).json()
    assert columns["steps"] == [0, 1]
    assert columns["values"] == [1.0, 3.0]


@pytest.mark.parametrize(
    "metrics",
    [
        {
            "keys": ["x"],
            "key_index": [0, 0],
            "values": [1.0],
            "timestamps": [1, 1],
            "steps": [0, 1],
        },
        {"keys": ["x"], "key_index": [3], "values": [1.0], "timestamps": [1], "steps": [0]},
        {"keys": ["bad key!"], "key_index": [0], "values": [1.0], "timestamps": [1], "steps": [0]},
        {"keys": ["x"], "key_index": [0], "values": ["many"], "timestamps": [1], "steps": [0]},
    ],
)
def test_bulk_endpoint_rejects_bad_columns(http: httpx.Client, run_id: str, metrics) -> None:
    response = http.post(
        "/api/2.0/labtrack/runs/log-bulk", json={"run_id": run_id, "metrics": metrics}
    )
    assert response.status_code == 400
    assert response.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")


def test_bulk_endpoint_bounds_what_one_request_stores(http: httpx.Client, run_id: str) -> None:
    """One request cannot make a run large for every later read (MLflow's log-batch caps
    at 100 params; the bulk endpoint at 1,000 params and 1,000,000 characters)."""
    too_many = [{"key": f"p{i}", "value": "v"} for i in range(1001)]
    status, code, message = error(
        http.post("/api/2.0/labtrack/runs/log-bulk", json={"run_id": run_id, "params": too_many})
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("A bulk logging request can contain at most 1000 params. Got 1001")
    long_tags = [{"key": f"t{i}", "value": "v" * 8000} for i in range(130)]
    status, code, message = error(
        http.post("/api/2.0/labtrack/runs/log-bulk", json={"run_id": run_id, "tags": long_tags})
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert "at most 1000000 characters of param and tag keys and values" in message
    run = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert "params" not in run["data"]
    assert [t["key"] for t in run["data"]["tags"]] == ["mlflow.runName"]


def test_openapi_documents_the_extensions(http: httpx.Client) -> None:
    spec = http.get("/api/2.0/labtrack/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/api/2.0/labtrack/runs/log-bulk",
        "/api/2.0/labtrack/runs/heartbeat",
        "/api/2.0/labtrack/metrics/history-columns",
        "/api/2.0/labtrack/server-info",
    }


def test_heartbeats_and_their_errors(http: httpx.Client, run_id: str) -> None:
    """What labtrack's clients send for the runs they run (tests/store/test_crashed_runs.py
    has what the heartbeats do)."""
    beat = "/api/2.0/labtrack/runs/heartbeat"
    assert "runs/heartbeat" in http.get("/api/2.0/labtrack/server-info").json()["capabilities"]
    assert http.post(beat, json={"run_ids": [run_id]}).json() == {}
    assert http.post(beat, json={"run_ids": []}).json() == {}
    bulk = {"run_id": run_id, "params": [{"key": "p", "value": "1"}], "heartbeat": True}
    assert http.post("/api/2.0/labtrack/runs/log-bulk", json=bulk).status_code == 200
    unknown = "0123456789abcdef0123456789abcdef"
    assert error(http.post(beat, json={"run_ids": [unknown]}))[:2] == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert error(http.post(beat, json={"run_ids": ["../x"]})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid run ID '../x'",
    )
    assert error(http.post(beat, json={"run_ids": [run_id] * 101})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "A heartbeat names at most 100 runs, got 101",
    )
    for body in ({}, {"run_ids": "x"}, {"run_ids": [run_id], "extra": 1}):
        assert error(http.post(beat, json=body))[0] == 400


def test_health_and_version(http: httpx.Client) -> None:
    """/version answers what MLflow's client parses as a current MLflow (it refuses some
    calls below 3.4); labtrack's own version is its local label, a header and its own
    endpoint."""
    from packaging.version import Version

    from labtrack import __version__

    assert http.get("/health").text == "OK"
    answered = http.get("/version")
    assert answered.text == f"3.17.2+labtrack.{__version__}"
    assert Version(answered.text) >= Version("3.4")
    assert Version(answered.text).local == f"labtrack.{__version__}"
    assert answered.headers["x-labtrack-version"] == __version__
    own = http.get("/api/2.0/labtrack/version")
    assert (own.text, own.headers["x-labtrack-version"]) == (__version__, __version__)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0", "3.17.2+labtrack.0.1.0"),
        ("0.2.0.dev3+g1a2b3c", "3.17.2+labtrack.0.2.0.dev3.g1a2b3c"),
        ("1.0rc1", "3.17.2+labtrack.1.0rc1"),
    ],
)
def test_version_text_is_a_valid_version(
    monkeypatch: pytest.MonkeyPatch, version: str, expected: str
) -> None:
    from packaging.version import Version

    from labtrack.server import app

    monkeypatch.setattr(app, "__version__", version)
    assert app.mlflow_version_text() == expected
    assert str(Version(expected)) == expected.lower()


def test_large_json_payload_round_trip(http: httpx.Client, run_id: str, tmp_path: Path) -> None:
    tag_value = "é" * 8000
    http.post(
        f"{API}/runs/set-tag", json={"run_id": run_id, "key": "long", "value": tag_value}
    ).raise_for_status()
    tags = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]["tags"]
    assert {"key": "long", "value": tag_value} in tags
    assert json.dumps(tags)  # valid JSON all the way


def test_experiment_location_cannot_reach_the_servers_staging_area(http: httpx.Client) -> None:
    status, code, message = error(
        http.post(
            f"{API}/experiments/create",
            json={
                "name": "sneaky",
                "artifact_location": "mlflow-artifacts:/.labtrack-tmp-server/x",
            },
        )
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert "reserved" in message


def test_mlflow3_server_info(http: httpx.Client) -> None:
    info = http.get("/api/3.0/mlflow/server-info").json()
    assert info["store_type"] == "SqlStore"
    assert info["multipart_uploads_enabled"] is False  # never advertised for a local destination


# -- cross-site requests ---------------------------------------------------------------------
def _experiment(http: httpx.Client, name: str) -> str:
    response = http.post(f"{API}/experiments/create", json={"name": name})
    return str(response.json()["experiment_id"])


def test_a_page_on_another_site_cannot_delete_an_experiment(http: httpx.Client) -> None:
    """The classic attack: a form (text/plain, no preflight) posted from evil.example."""
    experiment_id = _experiment(http, "cross-site-target")
    forged = http.post(
        f"{API}/experiments/delete",
        content=json.dumps({"experiment_id": experiment_id}),
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
    )
    status, code, message = error(forged)
    assert (status, code) == (403, "PERMISSION_DENIED")
    assert "Cross-site request refused" in message
    got = http.get(f"{API}/experiments/get", params={"experiment_id": experiment_id})
    assert got.json()["experiment"]["lifecycle_stage"] == "active"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port or subdomain of the same site
        {"Referer": "https://evil.example/page"},
    ],
)
def test_other_browser_marks_of_a_foreign_page_are_refused(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    response = http.post(f"{API}/runs/create", json={"experiment_id": "0"}, headers=headers)
    assert error(response)[:2] == (403, "PERMISSION_DENIED")


def test_same_site_browsers_clients_and_proxies_pass(server: str, http: httpx.Client) -> None:
    for headers in (
        {},  # the mlflow client, curl, labtrack's own client
        {"Origin": server},  # the UI's own scripts
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": "https://tracking.example.org", "X-Forwarded-Host": "tracking.example.org"},
    ):
        response = http.post(f"{API}/runs/create", json={"experiment_id": "0"}, headers=headers)
        assert response.status_code == 200, (headers, response.text)
    # Reads change nothing and are never refused.
    read = http.get(
        f"{API}/experiments/get-by-name",
        params={"experiment_name": "Default"},
        headers={"Origin": "https://evil.example"},
    )
    assert read.status_code == 200


# -- origins allowed to call the API from a browser (CORS) -----------------------------------
APP = "https://notebook.corp.example"


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("cors")
    with serve_in_thread(
        f"sqlite:///{tmp / 'db.db'}",
        str(tmp / "artifacts"),
        cors_allowed_origins=(APP, "http://localhost:*"),
    ) as url:
        yield url


def test_an_allowed_origin_calls_the_api_from_a_browser(cors_server: str) -> None:
    """What a browser does for a JSON POST from another site: a preflight, then the
    request; both must carry the CORS headers or the page cannot read the answer."""
    with httpx.Client(base_url=cors_server, timeout=30) as http:
        preflight = http.options(
            f"{API}/experiments/create",
            headers={
                "Origin": APP,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,authorization",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == APP
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        for origin in (APP, "http://localhost:8888"):
            created = http.post(
                f"{API}/experiments/create",
                json={"name": f"from {origin}"},
                headers={"Origin": origin, "Sec-Fetch-Site": "cross-site"},
            )
            assert created.status_code == 200, created.text
            assert created.headers["access-control-allow-origin"] == origin
        # Other sites are still refused, and get no CORS headers to read the refusal.
        refused = http.options(
            f"{API}/experiments/create",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert error(refused)[:2] == (403, "PERMISSION_DENIED")
        assert "access-control-allow-origin" not in refused.headers
        forged = http.post(
            f"{API}/experiments/create",
            json={"name": "forged"},
            headers={"Origin": "https://evil.example"},
        )
        status, code, message = error(forged)
        assert (status, code) == (403, "PERMISSION_DENIED")
        assert "--cors-allowed-origins" in message
        assert "access-control-allow-origin" not in forged.headers
        found = http.get(f"{API}/experiments/get-by-name", params={"experiment_name": "forged"})
        assert found.status_code == 404


def test_an_allowed_origin_cannot_post_the_ui_forms(cors_server: str) -> None:
    """CORS opens the API, not the UI's forms: those still need the UI's own origin."""
    with httpx.Client(base_url=cors_server, timeout=30) as http:
        response = http.post("/experiments", data={"name": "via-form"}, headers={"Origin": APP})
        assert response.status_code == 403
        found = http.get(f"{API}/experiments/get-by-name", params={"experiment_name": "via-form"})
        assert found.status_code == 404


def test_without_allowed_origins_no_cors_headers_are_sent(http: httpx.Client) -> None:
    response = http.get(
        f"{API}/experiments/get-by-name",
        params={"experiment_name": "Default"},
        headers={"Origin": APP},
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


# -- integers beyond 64 bits -------------------------------------------------------------------
HUGE = "9" * 30


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/experiments/get", {"experiment_id": HUGE}),
        ("POST", "/runs/create", {"experiment_id": HUGE}),
        ("POST", "/runs/create", {"experiment_id": "0", "start_time": int(HUGE)}),
        ("GET", "/model-versions/get", {"name": "m", "version": HUGE}),
    ],
)
def test_integers_beyond_64_bits_are_refused_clearly(
    http: httpx.Client, method: str, path: str, body: dict[str, Any]
) -> None:
    if method == "GET":
        response = http.get(f"{API}{path}", params=body)
    else:
        response = http.post(f"{API}{path}", json=body)
    status, code, message = error(response)
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE"), message
    assert "64" in message


@pytest.mark.parametrize(
    "filter_string",
    [
        f"attributes.start_time > {HUGE}",
        f"metrics.rmse < {HUGE}",
        f"attributes.end_time = -{HUGE}",
    ],
)
def test_search_compares_with_integers_beyond_64_bits(
    http: httpx.Client, run_id: str, filter_string: str
) -> None:
    http.post(
        f"{API}/runs/log-metric",
        json={"run_id": run_id, "key": "rmse", "value": 2.5, "timestamp": 0, "step": 0},
    )
    response = http.post(
        f"{API}/runs/search", json={"experiment_ids": ["0"], "filter": filter_string}
    )
    assert response.status_code == 200, response.text
    found = {r["info"]["run_id"] for r in response.json().get("runs", [])}
    assert (run_id in found) == filter_string.startswith("metrics.rmse <")


def test_model_version_search_with_a_huge_version_number(http: httpx.Client) -> None:
    response = http.get(
        f"{API}/model-versions/search", params={"filter": f"version_number = {HUGE}"}
    )
    assert response.status_code == 200, response.text
    assert response.json().get("model_versions", []) == []


# -- DNS rebinding -------------------------------------------------------------------------------
def test_a_rebound_host_name_is_refused(server: str, http: httpx.Client) -> None:
    """A page on evil.example whose name now resolves to the server's address: the
    browser sends Host: evil.example (and no Origin on a same-origin GET)."""
    port = httpx.URL(server).port
    for method, path in (("GET", "/experiments/search"), ("POST", "/experiments/create")):
        response = http.request(
            method,
            f"{API}{path}",
            headers={"Host": f"evil.example:{port}"},
            json={"name": "rebound"} if method == "POST" else None,
            params={"max_results": 10} if method == "GET" else None,
        )
        status, code, message = error(response)
        assert (status, code) == (403, "PERMISSION_DENIED")
        assert "--allowed-hosts evil.example" in message
    page = http.get("/", headers={"Host": "evil.example"})
    assert page.status_code == 403
    assert "text/html" in page.headers["content-type"]
    # Health checks hold no data and answer whatever the name.
    assert http.get("/health", headers={"Host": "lb.internal"}).status_code == 200
    # Nothing was created.
    found = http.get(f"{API}/experiments/get-by-name", params={"experiment_name": "rebound"})
    assert found.status_code == 404


def test_allowed_hosts_reach_every_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    from labtrack.server.app import ServerConfig

    config = ServerConfig(
        allowed_hosts=("tracking.example.org", "*.corp.example"),
        cors_allowed_origins=(APP, "http://localhost:*"),
    )
    for key, value in config.to_environ().items():
        monkeypatch.setenv(key, value)
    assert ServerConfig.from_environ().allowed_hosts == config.allowed_hosts
    assert ServerConfig.from_environ().cors_allowed_origins == config.cors_allowed_origins
