"""The model registry's REST API on a live labtrack server, as raw HTTP.

The shapes and errors asserted here are those of MLflow 3.17's own server, recorded
once from a real ``mlflow server`` given the same requests (field names, which fields
are left out, status codes, error codes and messages), plus labtrack's event log.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livesrv import serve_in_thread

API = "/api/2.0/mlflow"
EVENTS = "/api/2.0/labtrack/registry/events"

# Every registry endpoint of MLflow's ModelRegistryService (from model_registry_pb2's
# descriptors), as (method, path).
MLFLOW_REGISTRY_ENDPOINTS = [
    ("POST", "registered-models/create"),
    ("POST", "registered-models/rename"),
    ("PATCH", "registered-models/update"),
    ("DELETE", "registered-models/delete"),
    ("GET", "registered-models/get"),
    ("GET", "registered-models/search"),
    ("POST", "registered-models/get-latest-versions"),
    ("GET", "registered-models/get-latest-versions"),
    ("POST", "model-versions/create"),
    ("PATCH", "model-versions/update"),
    ("POST", "model-versions/transition-stage"),
    ("DELETE", "model-versions/delete"),
    ("GET", "model-versions/get"),
    ("GET", "model-versions/search"),
    ("GET", "model-versions/get-download-uri"),
    ("POST", "registered-models/set-tag"),
    ("POST", "model-versions/set-tag"),
    ("DELETE", "registered-models/delete-tag"),
    ("DELETE", "model-versions/delete-tag"),
    ("POST", "registered-models/alias"),
    ("DELETE", "registered-models/alias"),
    ("GET", "registered-models/alias"),
]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("server")
    with serve_in_thread(
        f"sqlite:///{tmp / 'db.db'}", str(artifacts), serve_artifacts=False
    ) as url:
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


@pytest.fixture
def name() -> str:
    return f"model-{uuid.uuid4().hex[:8]}"


def call(http: httpx.Client, method: str, endpoint: str, **body: Any) -> httpx.Response:
    if method == "GET":
        return http.get(f"{API}/{endpoint}", params=body)
    return http.request(method, f"{API}/{endpoint}", json=body)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def new_run(http: httpx.Client) -> dict[str, Any]:
    return ok(http.post(f"{API}/runs/create", json={"experiment_id": "0"}))["run"]["info"]


@pytest.mark.parametrize(("method", "endpoint"), MLFLOW_REGISTRY_ENDPOINTS)
def test_every_mlflow_registry_endpoint_is_served(
    http: httpx.Client, method: str, endpoint: str
) -> None:
    for base in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):
        kwargs: dict[str, Any] = {} if method == "GET" else {"json": {}}
        response = http.request(method, f"{base}/{endpoint}", **kwargs)
        if endpoint.endswith("/search"):  # searching needs no parameter
            assert response.status_code == 200, (method, base, endpoint, response.text)
            continue
        # An empty request is answered like MLflow: a missing parameter, never 404 or 501.
        assert response.status_code == 400, (method, base, endpoint, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_registered_model_shapes(http: httpx.Client, name: str) -> None:
    created = ok(
        call(
            http,
            "POST",
            "registered-models/create",
            name=name,
            tags=[{"key": "t", "value": "v"}],
            description="d",
        )
    )["registered_model"]
    assert set(created) == {
        "name",
        "creation_timestamp",
        "last_updated_timestamp",
        "description",
        "tags",
        "user_id",  # labtrack records who created it (MLflow leaves it out)
    }
    assert created["tags"] == [{"key": "t", "value": "v"}]
    assert created["creation_timestamp"] == created["last_updated_timestamp"]
    bare = ok(call(http, "POST", "registered-models/create", name=name + "-bare"))
    assert "tags" not in bare["registered_model"]
    assert "latest_versions" not in bare
    got = ok(call(http, "GET", "registered-models/get", name=name))
    assert got == {"registered_model": created}


def test_model_version_shapes(http: httpx.Client, name: str) -> None:
    run = new_run(http)
    ok(call(http, "POST", "registered-models/create", name=name))
    source = f"{run['artifact_uri']}/model"
    created = ok(
        call(
            http,
            "POST",
            "model-versions/create",
            name=name,
            source=source,
            run_id=run["run_id"],
            tags=[{"key": "k", "value": "v"}],
            run_link="http://x",
            description="vd",
        )
    )["model_version"]
    assert created["version"] == "1"  # a string, as in MLflow
    assert created["current_stage"] == "None"
    assert created["status"] == "READY"
    assert created["source"] == source
    assert created["run_id"] == run["run_id"]
    assert created["run_link"] == "http://x"
    assert created["description"] == "vd"
    assert created["tags"] == [{"key": "k", "value": "v"}]
    assert "aliases" not in created  # empty repeated fields are left out
    assert isinstance(created["creation_timestamp"], int)
    assert ok(call(http, "GET", "model-versions/get", name=name, version="1")) == {
        "model_version": created
    }
    uri = ok(call(http, "GET", "model-versions/get-download-uri", name=name, version="1"))
    assert uri == {"artifact_uri": source}

    ok(call(http, "POST", "registered-models/alias", name=name, alias="champion", version="1"))
    by_alias = ok(call(http, "GET", "registered-models/alias", name=name, alias="champion"))
    assert by_alias["model_version"]["aliases"] == ["champion"]
    model = ok(call(http, "GET", "registered-models/get", name=name))["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]
    assert [v["version"] for v in model["latest_versions"]] == ["1"]


def test_writes_answer_like_mlflow(http: httpx.Client, name: str) -> None:
    ok(call(http, "POST", "registered-models/create", name=name))
    ok(call(http, "POST", "model-versions/create", name=name, source="s3://b/1"))
    ok(call(http, "POST", "model-versions/create", name=name, source="s3://b/2"))
    # Empty answers: tags, aliases, deletes.
    assert ok(call(http, "POST", "registered-models/set-tag", name=name, key="k", value="v")) == {}
    assert ok(call(http, "DELETE", "registered-models/delete-tag", name=name, key="nokey")) == {}
    assert (
        ok(call(http, "POST", "model-versions/set-tag", name=name, version="1", key="k", value="v"))
        == {}
    )
    assert (
        ok(call(http, "DELETE", "model-versions/delete-tag", name=name, version="1", key="nokey"))
        == {}
    )
    assert ok(call(http, "DELETE", "registered-models/alias", name=name, alias="nope")) == {}
    # Updates answer the entity.
    updated = ok(call(http, "PATCH", "registered-models/update", name=name, description="new"))
    assert updated["registered_model"]["description"] == "new"
    mv = ok(call(http, "PATCH", "model-versions/update", name=name, version="1", description="x"))
    assert mv["model_version"]["description"] == "x"
    moved = ok(
        call(
            http,
            "POST",
            "model-versions/transition-stage",
            name=name,
            version="1",
            stage="production",
        )
    )
    assert moved["model_version"]["current_stage"] == "Production"
    archived = ok(
        call(
            http,
            "POST",
            "model-versions/transition-stage",
            name=name,
            version="2",
            stage="Production",
            archive_existing_versions=True,
        )
    )
    assert archived["model_version"]["current_stage"] == "Production"
    stage_of_1 = ok(call(http, "GET", "model-versions/get", name=name, version="1"))
    assert stage_of_1["model_version"]["current_stage"] == "Archived"
    # get-latest-versions by GET (all stages) and POST (some).
    latest = ok(call(http, "GET", "registered-models/get-latest-versions", name=name))
    assert {(v["version"], v["current_stage"]) for v in latest["model_versions"]} == {
        ("1", "Archived"),
        ("2", "Production"),
    }
    some = ok(
        call(
            http, "POST", "registered-models/get-latest-versions", name=name, stages=["production"]
        )
    )
    assert [v["version"] for v in some["model_versions"]] == ["2"]
    assert ok(call(http, "DELETE", "model-versions/delete", name=name, version="2")) == {}
    renamed = ok(call(http, "POST", "registered-models/rename", name=name, new_name=name + "-2"))
    assert renamed["registered_model"]["name"] == name + "-2"
    assert ok(call(http, "DELETE", "registered-models/delete", name=name + "-2")) == {}


def test_search_shapes(http: httpx.Client, name: str) -> None:
    ok(call(http, "POST", "registered-models/create", name=name))
    for i in range(3):
        ok(call(http, "POST", "model-versions/create", name=name, source=f"s3://b/{i}"))
    found = ok(call(http, "GET", "registered-models/search", filter=f"name = '{name}'"))
    assert [m["name"] for m in found["registered_models"]] == [name]
    assert "next_page_token" not in found
    assert ok(call(http, "GET", "registered-models/search", filter="name = 'zzz-none'")) == {}
    page = ok(call(http, "GET", "model-versions/search", filter=f"name = '{name}'", max_results=1))
    assert len(page["model_versions"]) == 1
    assert page["next_page_token"]
    rest = ok(
        call(
            http,
            "GET",
            "model-versions/search",
            filter=f"name = '{name}'",
            max_results=5,
            page_token=page["next_page_token"],
        )
    )
    assert len(rest["model_versions"]) == 2
    assert "next_page_token" not in rest
    ordered = http.get(
        f"{API}/model-versions/search",
        params=[("filter", f"name = '{name}'"), ("order_by", "version_number ASC")],
    ).json()
    assert [v["version"] for v in ordered["model_versions"]] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("method", "endpoint", "body", "expected"),
    [
        (
            "GET",
            "registered-models/get",
            {"name": "nope"},
            (404, "RESOURCE_DOES_NOT_EXIST", "Registered Model with name=nope not found"),
        ),
        (
            "POST",
            "registered-models/create",
            {"name": "a/b"},
            (
                400,
                "INVALID_PARAMETER_VALUE",
                "Invalid model name 'a/b'. Names cannot contain '/' or ':'.",
            ),
        ),
        (
            "POST",
            "model-versions/create",
            {"name": "nope", "source": "s3://bucket/model"},
            (404, "RESOURCE_DOES_NOT_EXIST", "Registered Model with name=nope not found"),
        ),
        (
            "DELETE",
            "registered-models/alias",
            {"name": "nope", "alias": "nope"},
            (404, "RESOURCE_DOES_NOT_EXIST", "Registered Model with name=nope not found"),
        ),
    ],
)
def test_errors_like_mlflow(
    http: httpx.Client, method: str, endpoint: str, body: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    assert error(call(http, method, endpoint, **body)) == expected


def test_version_errors_like_mlflow(http: httpx.Client, name: str) -> None:
    ok(call(http, "POST", "registered-models/create", name=name))
    ok(call(http, "POST", "model-versions/create", name=name, source="s3://b/1"))
    assert error(call(http, "POST", "registered-models/create", name=name)) == (
        400,
        "RESOURCE_ALREADY_EXISTS",
        f"Registered Model (name={name}) already exists.",
    )
    assert error(call(http, "GET", "model-versions/get", name=name, version="x")) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Parameter 'version' must be an integer, got 'x'.",
    )
    assert error(call(http, "GET", "model-versions/get", name=name, version="99")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Model Version (name={name}, version=99) not found",
    )
    assert error(
        call(http, "POST", "model-versions/transition-stage", name=name, version="1", stage="bogus")
    ) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid Model Version stage: bogus. Value must be one of None, Staging, Production, "
        "Archived.",
    )
    for alias, message in (
        ("v3", "Version alias name 'v3' is reserved."),
        ("latest", "'latest' alias name (case insensitive) is reserved."),
        (
            "bad alias",
            "Invalid alias name: 'bad alias'. Names may only contain alphanumerics, underscores "
            "(_), and dashes (-).",
        ),
    ):
        assert error(
            call(http, "POST", "registered-models/alias", name=name, alias=alias, version="1")
        ) == (400, "INVALID_PARAMETER_VALUE", message)
    assert error(call(http, "GET", "registered-models/alias", name=name, alias="nope")) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Registered model alias nope not found.",
    )
    assert error(call(http, "POST", "registered-models/rename", name=name)) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'new_name'. See the API docs for more "
        "information about request parameters.",
    )
    # MLflow answers 500 INTERNAL_ERROR here (a bug); labtrack says what is wrong, with a 400.
    status, code, message = error(
        call(
            http,
            "POST",
            "model-versions/transition-stage",
            name=name,
            version="1",
            stage="Archived",
            archive_existing_versions=True,
        )
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert "'Archived' is not an Active stage" in message
    status, code, message = error(
        call(http, "GET", "registered-models/search", filter="run_id = 'x'")
    )
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert "run_id" in message


# -- model version sources, checked as MLflow's server checks them --------------------------
def test_sources_that_could_reach_server_files_are_refused(
    http: httpx.Client, name: str, artifacts: Path
) -> None:
    ok(call(http, "POST", "registered-models/create", name=name))
    run = new_run(http)
    other = new_run(http)
    relative = (
        "If supplying a source as an http, https, local file path, ftp, objectstore, or "
        "mlflow-artifacts uri, an absolute path must be provided without relative path "
        "references present. Please provide an absolute path."
    )
    local = (
        "To use a local path as a model version source, the run_id request parameter has "
        "to be specified and the local path has to be contained within the artifact "
        "directory of the run specified by the run_id."
    )
    for source, run_id, message in (
        ("s3://bucket/../model", None, relative),
        ("s3://bucket/a/..%2f..%2fb", None, relative),
        ("/etc/passwd", None, local),
        (f"{other['artifact_uri']}/model", run["run_id"], local),
        (f"{run['artifact_uri']}/../../x", run["run_id"], local),
        (
            f"runs:/{other['run_id']}/model",
            run["run_id"],
            "The run_id request parameter must identify the resource that contains the source.",
        ),
        (
            "mlflow-artifacts:/0/abc/artifacts/model",
            None,
            "The run_id request parameter must identify the resource that contains the source.",
        ),
    ):
        body: dict[str, Any] = {"name": name, "source": source}
        if run_id:
            body["run_id"] = run_id
        assert error(call(http, "POST", "model-versions/create", **body)) == (
            400,
            "INVALID_PARAMETER_VALUE",
            f"Invalid model version source: '{source}'. {message}",
        ), source
    # Inside the run's own artifacts, an object store, another run by runs:/: accepted.
    for body in (
        {"source": f"{run['artifact_uri']}/model", "run_id": run["run_id"]},
        {"source": "s3://bucket/model"},
        {"source": f"runs:/{run['run_id']}/model", "run_id": run["run_id"]},
        {"source": f"runs:/{run['run_id']}/model"},  # labtrack: the run id comes from the URI
        # A run this server does not hold (tracking on another server), as MLflow accepts.
        {"source": f"runs:/{'f' * 32}/model", "run_id": "f" * 32},
    ):
        ok(call(http, "POST", "model-versions/create", name=name, **body))


def test_logged_model_sources(http: httpx.Client, name: str) -> None:
    run = new_run(http)
    model = ok(
        http.post(
            f"{API}/logged-models",
            json={"experiment_id": "0", "name": "clf", "source_run_id": run["run_id"]},
        )
    )["model"]["info"]
    ok(call(http, "POST", "registered-models/create", name=name))
    created = ok(
        call(
            http,
            "POST",
            "model-versions/create",
            name=name,
            source=f"models:/{model['model_id']}",
            model_id=model["model_id"],
        )
    )["model_version"]
    assert created["model_id"] == model["model_id"]
    assert created["run_id"] == run["run_id"]
    uri = ok(call(http, "GET", "model-versions/get-download-uri", name=name, version="1"))
    assert uri["artifact_uri"] == model["artifact_uri"]
    # The server lists the version on its logged model, as MLflow's server does.
    got = ok(http.get(f"{API}/logged-models/{model['model_id']}"))["model"]["info"]
    tags = {t["key"]: t["value"] for t in got["tags"]}
    assert json.loads(tags["mlflow.modelVersions"]) == [{"name": name, "version": 1}]
    other = "m-" + "1" * 32
    assert error(
        call(
            http,
            "POST",
            "model-versions/create",
            name=name,
            source=f"models:/{model['model_id']}",
            model_id=other,
        )
    ) == (
        400,
        "INVALID_PARAMETER_VALUE",
        f"Invalid model version source: 'models:/{model['model_id']}'. The model_id request "
        "parameter must identify the resource that contains the source.",
    )


# -- who, and the event log --------------------------------------------------------------------
def test_events_record_the_user_the_request_claims(http: httpx.Client, name: str) -> None:
    http.post(
        f"{API}/registered-models/create",
        json={"name": name},
        headers={"X-Labtrack-User": "b%C3%A9a"},  # percent-encoded UTF-8
    ).raise_for_status()
    ok(call(http, "POST", "model-versions/create", name=name, source="s3://b/1"))  # no header
    page = ok(http.get(EVENTS, params={"name": name}))
    assert [(e["action"], e["claimed_user"]) for e in page["events"]] == [
        ("model_created", "béa"),
        ("version_created", "unknown"),
    ]
    assert page["next_page_token"] is None
    event = page["events"][1]
    assert set(event) == {
        "event_id",
        "timestamp",
        "claimed_user",
        "action",
        "name",
        "version",
        "from_value",
        "to_value",
        "details",
    }
    assert (event["version"], event["to_value"]) == (1, "s3://b/1")
    model = ok(call(http, "GET", "registered-models/get", name=name))["registered_model"]
    assert model["user_id"] == "béa"


def test_events_endpoint_filters_and_pages(http: httpx.Client, name: str) -> None:
    ok(call(http, "POST", "registered-models/create", name=name))
    for i in range(3):
        ok(call(http, "POST", "model-versions/create", name=name, source=f"s3://b/{i}"))
    first = ok(http.get(EVENTS, params={"name": name, "max_results": 2}))
    assert len(first["events"]) == 2
    assert first["next_page_token"]
    second = ok(http.get(EVENTS, params={"name": name, "page_token": first["next_page_token"]}))
    assert [e["version"] for e in second["events"]] == [2, 3]
    created = ok(http.get(EVENTS, params=[("name", name), ("action", "version_created")]))["events"]
    assert [e["version"] for e in created] == [1, 2, 3]
    assert error(http.get(EVENTS, params={"action": "nope"}))[:2] == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert error(http.get(EVENTS, params={"max_results": 0}))[:2] == (400, "BAD_REQUEST")


def test_openapi_documents_the_events_endpoint(http: httpx.Client) -> None:
    schema = ok(http.get("/api/2.0/labtrack/openapi.json"))
    operation = schema["paths"][EVENTS]["get"]
    assert {p["name"] for p in operation["parameters"]} == {
        "name",
        "action",
        "start_time",
        "end_time",
        "max_results",
        "page_token",
    }
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert response["$ref"].endswith("/RegistryEventsResponse")
    assert "RegistryEventModel" in schema["components"]["schemas"]
