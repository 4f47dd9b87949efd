"""Input an attacker sends gets MLflow's error JSON and a 4xx naming the problem, never a 500:
strings that are not valid Unicode, arrays or objects where log-batch expects a key or a
value, JSON nested past any real request, artifact paths the filesystem refuses.

Each case runs against a real server on SQLite and on PostgreSQL, over one keep-alive
connection, and checks that nothing was stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from databases import fresh_database
from labtrack.server._body import MAX_JSON_DEPTH
from livesrv import serve_in_thread

API = "/api/2.0/mlflow"
UNICODE = "it is not a valid Unicode string"


@dataclass
class Server:
    http: httpx.Client
    artifacts: Path

    def post(self, path: str, body: str) -> httpx.Response:
        """POST the JSON text ``body`` as it is (httpx's own encoder refuses surrogates)."""
        return self.http.post(path, content=body, headers={"Content-Type": "application/json"})

    def post_json(self, path: str, data: Any) -> httpx.Response:
        """POST ``data`` as JSON with every non-ASCII character escaped, lone surrogates too."""
        return self.post(path, json.dumps(data))

    def run(self, experiment_id: str = "0") -> str:
        created = self.http.post(f"{API}/runs/create", json={"experiment_id": experiment_id})
        return str(created.json()["run"]["info"]["run_id"])

    def data(self, run_id: str) -> dict[str, Any]:
        got = self.http.get(f"{API}/runs/get", params={"run_id": run_id})
        return dict(got.json()["run"]["data"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"hostile-{request.param}")
    with (
        fresh_database(request.param, tmp) as db,
        serve_in_thread(db, str(tmp / "artifacts")) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        yield Server(http, tmp / "artifacts")


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    return response.status_code, body["error_code"], body["message"]


def invalid(response: httpx.Response) -> str:
    """The message of a 400 INVALID_PARAMETER_VALUE refusal."""
    status, code, message = refusal(response)
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE"), message
    return message


# -- strings that are not valid Unicode ----------------------------------------------------
LONE = "\ud800"


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("experiments/create", {"name": LONE}, "name"),
        (
            "experiments/create",
            {"name": "e", "tags": [{"key": "k", "value": LONE}]},
            "tags[0].value",
        ),
        ("registered-models/create", {"name": f"model{LONE}"}, "name"),
        ("runs/create", {"experiment_id": "0", "run_name": LONE}, "run_name"),
        (
            "runs/create",
            {"experiment_id": "0", "tags": [{"key": LONE, "value": "v"}]},
            "tags[0].key",
        ),
    ],
)
def test_a_lone_surrogate_in_a_create_is_refused(
    server: Server, endpoint: str, body: dict[str, Any], field: str
) -> None:
    before = server.http.post(f"{API}/experiments/search", json={}).json()
    message = invalid(server.post_json(f"{API}/{endpoint}", body))
    assert f"for parameter '{field}' supplied: {UNICODE}" in message, message
    assert "\\ud800" in message  # the value, escaped
    assert server.http.post(f"{API}/experiments/search", json={}).json() == before
    assert server.http.get(f"{API}/registered-models/search").json() == {}


@pytest.mark.parametrize(
    ("endpoint", "fields", "field"),
    [
        ("runs/set-tag", {"key": "t", "value": f"a{LONE}b"}, "value"),
        ("runs/set-tag", {"key": LONE, "value": "v"}, "key"),
        ("runs/log-parameter", {"key": "p", "value": "\udfff"}, "value"),
        (
            "runs/log-batch",
            {"params": [{"key": "p", "value": "ok"}, {"key": "q", "value": LONE}]},
            "params[1].value",
        ),
        ("runs/log-batch", {"tags": [{"key": LONE, "value": "v"}]}, "tags[0].key"),
        (
            "runs/log-batch",
            {"metrics": [{"key": LONE, "value": 1, "timestamp": 1}]},
            "metrics[0].key",
        ),
    ],
)
def test_a_lone_surrogate_in_a_logged_value_is_refused(
    server: Server, endpoint: str, fields: dict[str, Any], field: str
) -> None:
    run_id = server.run()
    before = server.data(run_id)
    message = invalid(server.post_json(f"{API}/{endpoint}", {"run_id": run_id, **fields}))
    assert f"for parameter '{field}' supplied: {UNICODE}" in message, message
    assert server.data(run_id) == before


def test_a_surrogate_pair_is_a_character_and_is_stored(server: Server) -> None:
    """Only a lone surrogate is refused: an escaped pair is one character (an emoji)."""
    run_id = server.run()
    response = server.post(
        f"{API}/runs/set-tag", f'{{"run_id": "{run_id}", "key": "mood", "value": "\\ud83d\\ude00"}}'
    )
    assert response.status_code == 200, response.text
    assert {"key": "mood", "value": "\U0001f600"} in server.data(run_id)["tags"]


def test_a_surrogate_in_a_field_name_is_refused(server: Server) -> None:
    message = refusal(server.post(f"{API}/experiments/create", '{"name": "x", "\\udc80": 1}'))[2]
    assert UNICODE in message
    assert "field name" in message


# -- arrays and objects where log-batch expects a key or a value -------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"params": [{"key": [], "value": "1"}]}, "params[0].key"),
        ({"params": [{"key": "p", "value": {}}]}, "params[0].value"),
        ({"params": [{"key": "p", "value": "1"}, {"key": "q", "value": ["1"]}]}, "params[1].value"),
        ({"tags": [{"key": {}, "value": "1"}]}, "tags[0].key"),
        ({"tags": [{"key": "t", "value": [1]}]}, "tags[0].value"),
        ({"metrics": [{"key": [], "value": 1, "timestamp": 1, "step": 0}]}, "metrics[0].key"),
        ({"metrics": [{"key": {"a": 1}, "value": 1, "timestamp": 1}]}, "metrics[0].key"),
    ],
)
def test_log_batch_refuses_an_array_or_object_as_a_key_or_value(
    server: Server, fields: dict[str, Any], field: str
) -> None:
    run_id = server.run()
    before = server.data(run_id)
    message = invalid(server.post_json(f"{API}/runs/log-batch", {"run_id": run_id, **fields}))
    assert f"'{field}'" in message, message
    assert server.data(run_id) == before


def test_a_wrong_type_in_log_batch_has_mlflows_message(server: Server) -> None:
    """MLflow's words for a value of the wrong type (``log-parameter`` with ``{}``)."""
    run_id = server.run()
    response = server.post_json(
        f"{API}/runs/log-batch", {"run_id": run_id, "params": [{"key": "p", "value": {}}]}
    )
    assert invalid(response) == (
        "Invalid value {} for parameter 'params[0].value' supplied:  Hint: Value was of type "
        "'dict'. See the API docs for more information about request parameters."
    )


def test_other_endpoints_refuse_an_object_as_a_tag(server: Server) -> None:
    for endpoint, body in (
        ("experiments/create", {"name": "tagged", "tags": [{"key": ["k"], "value": "v"}]}),
        ("runs/create", {"experiment_id": "0", "tags": [{"key": "k", "value": {"v": 1}}]}),
    ):
        assert "'tags[0]." in invalid(server.post_json(f"{API}/{endpoint}", body)), endpoint
    names = [
        e["name"]
        for e in server.http.post(f"{API}/experiments/search", json={}).json()["experiments"]
    ]
    assert "tagged" not in names


# -- nesting -------------------------------------------------------------------------------
def nested(depth: int, kind: str) -> str:
    if kind == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


DEEP = f"more than {MAX_JSON_DEPTH} levels deep"


@pytest.mark.parametrize("kind", ["[", "{"])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
@pytest.mark.parametrize(
    ("endpoint", "template"),
    [
        ("runs/search", '{"experiment_ids": %s}'),
        ("experiments/create", '{"name": %s}'),
        ("runs/log-metric", '{"run_id": "r", "key": "m", "value": %s, "timestamp": 1}'),
        ("runs/log-batch", '{"run_id": "r", "metrics": [%s]}'),
    ],
)
def test_json_nested_too_deep_is_refused(
    server: Server, endpoint: str, template: str, depth: int, kind: str
) -> None:
    response = server.post(f"{API}/{endpoint}", template % nested(depth, kind))
    status, code, message = refusal(response)
    assert (status, code) == (400, "BAD_REQUEST")
    assert DEEP in message


def test_nesting_up_to_the_limit_is_parsed(server: Server) -> None:
    """The limit is on the parser, not on what endpoints accept: a deep value that fits is
    refused by the endpoint's own rule (a name must be a string)."""
    body = f'{{"name": {nested(MAX_JSON_DEPTH - 1, "[")}}}'
    message = invalid(server.post(f"{API}/experiments/create", body))
    assert message.startswith("Invalid value [[["), message
    assert "Hint: Value was of type 'list'" in message


def test_labtracks_own_endpoints_bound_nesting_too(server: Server) -> None:
    body = f'{{"run_id": "r", "metrics": {nested(5000, "{")}}}'
    response = server.post("/api/2.0/labtrack/runs/log-bulk", body)
    assert refusal(response)[:2] == (400, "BAD_REQUEST")
    assert DEEP in refusal(response)[2]
    surrogate = server.post("/api/2.0/labtrack/runs/log-bulk", '{"run_id": "\\ud800"}')
    assert UNICODE in invalid(surrogate)


def test_model_json_is_parsed_with_the_same_bounds(server: Server) -> None:
    run_id = server.run()
    body = {"run_id": run_id, "model_json": nested(2000, "[")}
    assert DEEP in invalid(server.post_json(f"{API}/runs/log-model", body))
    assert "mlflow.log-model.history" not in {t["key"] for t in server.data(run_id)["tags"]}


# -- artifact paths the filesystem refuses -------------------------------------------------
@pytest.fixture(scope="module")
def local_run(server: Server) -> str:
    """A run whose artifacts are files under the server's destination, with a symlink loop."""
    location = (server.artifacts / "local").as_uri()
    created = server.http.post(
        f"{API}/experiments/create", json={"name": "local-artifacts", "artifact_location": location}
    )
    run_id = server.run(created.json()["experiment_id"])
    info = server.http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["info"]
    root = Path(info["artifact_uri"].removeprefix("file://"))
    root.mkdir(parents=True)
    (root / "model.txt").write_text("fine")
    (root / "data").mkdir()
    os.symlink("loop", root / "loop")
    return run_id


TOO_LONG = "n" * 300
REFUSED_PATHS = [
    (TOO_LONG, "is too long"),
    (f"data/{TOO_LONG}", "is too long"),
    ("loop", "symlink"),
    ("loop/inside.txt", "symlink"),
]


@pytest.mark.parametrize(("path", "reason"), REFUSED_PATHS)
def test_the_artifact_list_refuses_a_path_the_filesystem_refuses(
    server: Server, local_run: str, path: str, reason: str
) -> None:
    response = server.http.get(f"{API}/artifacts/list", params={"run_id": local_run, "path": path})
    assert reason in invalid(response)
    files = server.http.get(f"{API}/artifacts/list", params={"run_id": local_run}).json()["files"]
    assert [f["path"] for f in files] == ["data", "model.txt"]


@pytest.mark.parametrize(("path", "reason"), REFUSED_PATHS)
@pytest.mark.parametrize("page", ["artifacts", "artifacts/raw"])
def test_the_ui_refuses_an_artifact_path_the_filesystem_refuses(
    server: Server, local_run: str, page: str, path: str, reason: str
) -> None:
    html = server.http.get(f"/runs/{local_run}/{page}", params={"path": path})
    assert html.status_code == 400, html.text
    assert "text/html" in html.headers["content-type"]
    twin = server.http.get(f"/runs/{local_run}/{page}", params={"path": path, "format": "json"})
    assert reason in invalid(twin)


def test_a_long_name_under_a_missing_directory_is_simply_missing(
    server: Server, local_run: str
) -> None:
    params = {"run_id": local_run, "path": f"missing/{TOO_LONG}"}
    listing = server.http.get(f"{API}/artifacts/list", params=params)
    assert listing.status_code == 200
    assert "files" not in listing.json()
    page = server.http.get(f"/runs/{local_run}/artifacts/raw", params={"path": params["path"]})
    assert page.status_code == 404
