"""A logged model's files in the UI: a tree, previews, downloads, and the links to them.

MLflow 3's ``log_model`` keeps a model's files at the logged model's own location, outside
the run's artifacts; ``/logged-models/<id>/artifacts`` browses them with the run artifact
browser's previews and sandboxing.
"""

from __future__ import annotations

import httpx
import pytest

from ui.conftest import DemoApp, post_form

pytestmark = pytest.mark.anyio


def _files(d: DemoApp) -> str:
    return f"/logged-models/{d.demo.model_id}/artifacts"


async def test_the_tree_of_a_logged_models_files(http: httpx.AsyncClient, shared: DemoApp) -> None:
    page = await http.get(_files(shared))
    assert page.status_code == 200
    assert "Files of model taxi-model" in page.text
    data = (await http.get(_files(shared) + "?format=json")).json()
    listing = data["listing"]
    names = [(e["name"], e["kind"]) for e in listing["entries"]]
    assert names == [
        ("metadata", "dir"),
        ("MLmodel", "yaml"),
        ("conda.yaml", "yaml"),
        ("model.xgb", "other"),
        ("python_env.yaml", "yaml"),
        ("requirements.txt", "text"),
    ]
    assert listing["crumbs"] == [{"name": "files", "url": _files(shared)}]
    entry = next(e for e in listing["entries"] if e["name"] == "requirements.txt")
    assert entry["url"] == f"{_files(shared)}?path=requirements.txt"
    assert data["logged_model"]["uri"] == f"models:/{shared.demo.model_id}"
    assert data["logged_model"]["run"]["run_id"] == shared.demo.best_run_id
    sub = (await http.get(_files(shared) + "?path=metadata&format=json")).json()["listing"]
    assert [e["path"] for e in sub["entries"]] == ["metadata/input_example.json"]


@pytest.mark.parametrize(
    ("path", "kind", "text"),
    [
        ("MLmodel", "yaml", "flavors:"),
        ("requirements.txt", "text", "mlflow==3.1.0\nxgboost==2.0.3\n"),
        ("conda.yaml", "yaml", "name: mlflow-env\n"),
        ("python_env.yaml", "yaml", "python: 3.11.7\n"),
    ],
)
async def test_previews(
    http: httpx.AsyncClient, shared: DemoApp, path: str, kind: str, text: str
) -> None:
    preview = (await http.get(f"{_files(shared)}?path={path}&format=json")).json()["preview"]
    assert preview["kind"] == kind
    assert text in preview["text"]
    raw = f"{_files(shared)}/raw?path={path}"
    assert preview["raw_url"] == raw
    assert preview["download_url"] == f"{raw}&download=1"
    page = (await http.get(f"{_files(shared)}?path={path}")).text
    assert f'href="{raw}&amp;download=1" download' in page


async def test_downloads_are_the_files_bytes_and_sandboxed(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    raw = f"{_files(shared)}/raw"
    download = await http.get(f"{raw}?path=requirements.txt&download=1")
    assert download.status_code == 200
    assert download.content == b"mlflow==3.1.0\nxgboost==2.0.3\n"
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''requirements.txt"
    )
    assert download.headers["content-security-policy"].startswith("sandbox;")
    binary = await http.get(f"{raw}?path=model.xgb")
    assert binary.content == b"\x00\x01binary"
    assert binary.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "a/../../b"])
async def test_paths_cannot_escape(http: httpx.AsyncClient, shared: DemoApp, path: str) -> None:
    for route in ("", "/raw"):
        response = await http.get(f"{_files(shared)}{route}?path={path}")
        assert response.status_code == 400, (route, path)
        assert "Invalid artifact path" in response.text


async def test_an_unknown_model_is_not_found(http: httpx.AsyncClient) -> None:
    response = await http.get("/logged-models/m-0123456789abcdef0123456789abcdef/artifacts")
    assert response.status_code == 404
    missing = await http.get(
        "/logged-models/m-0123456789abcdef0123456789abcdef/artifacts",
        headers={"Accept": "application/json"},
    )
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


async def test_the_run_page_links_its_models_files(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    run = f"/runs/{shared.demo.best_run_id}"
    models = (await http.get(f"{run}?format=json")).json()["models"]
    by_kind = {m["kind"]: m["files_url"] for m in models}
    assert by_kind == {
        "logged": _files(shared),
        "artifacts": f"{run}/artifacts?path=models_mlflow",
    }
    page = (await http.get(run)).text
    assert f'<a href="{_files(shared)}">Browse files</a>' in page


async def test_the_version_page_links_the_files(
    fresh_http: httpx.AsyncClient, fresh: DemoApp
) -> None:
    run = f"/runs/{fresh.demo.best_run_id}"
    form = {"model_id": fresh.demo.model_id, "model_name": "taxi"}
    await post_form(fresh_http, run, f"{run}/register", form)
    version = (await fresh_http.get("/models/taxi/versions/1?format=json")).json()
    assert version["files_url"] == _files(fresh)
    assert f'<a href="{_files(fresh)}">' in (await fresh_http.get("/models/taxi/versions/1")).text
    form = {"path": "models_mlflow", "model_name": "taxi"}
    await post_form(fresh_http, run, f"{run}/register", form)
    second = (await fresh_http.get("/models/taxi/versions/2?format=json")).json()
    assert second["version"]["source"].endswith("/models_mlflow")
    assert second["files_url"] == f"{run}/artifacts?path=models_mlflow"
