"""Every UI page and its JSON twin, in process: content, paging, sorting, filters, nesting."""

from __future__ import annotations

import html
from urllib.parse import quote

import httpx
import pytest

from ui.conftest import DemoApp

pytestmark = pytest.mark.anyio


def pages(d: DemoApp) -> dict[str, str]:
    demo = d.demo
    best = demo.best_run_id
    return {
        "experiments": "/experiments",
        "deleted experiments": "/experiments?view=deleted",
        "runs": f"/runs?experiments={demo.experiment_id}",
        "runs of two experiments": f"/runs?experiments={demo.experiment_id},0",
        "runs as charts": f"/runs?experiments={demo.experiment_id}&show=chart&sort=metrics.rmse",
        "run": f"/runs/{best}",
        "metric": f"/runs/{best}/metrics/validation-rmse",
        "artifacts": f"/runs/{best}/artifacts",
        "model directory": f"/runs/{best}/artifacts?path=models_mlflow",
        "image": f"/runs/{best}/artifacts?path=feature_importance.png",
        "csv": f"/runs/{best}/artifacts?path=predictions.csv",
        "html": f"/runs/{best}/artifacts?path=report.html",
        "json": f"/runs/{best}/artifacts?path=params.json",
        "yaml": f"/runs/{best}/artifacts?path=conda.yaml",
        "binary": f"/runs/{best}/artifacts?path=models_mlflow/model.xgb",
        "compare runs": f"/compare?runs={','.join(demo.sweep_ids[:5])}",
        "compare search": f"/compare?experiments={demo.experiment_id}&filter=metrics.rmse+<+7",
        "models": "/models",
        "text": f"/runs/{best}/artifacts?path=models_mlflow/requirements.txt",
        "logged model files": f"/logged-models/{demo.model_id}/artifacts",
        "logged model file": f"/logged-models/{demo.model_id}/artifacts?path=MLmodel",
        "api docs": "/api/docs",
    }


PAGE_NAMES = [
    "experiments",
    "deleted experiments",
    "runs",
    "runs of two experiments",
    "runs as charts",
    "run",
    "metric",
    "artifacts",
    "model directory",
    "image",
    "csv",
    "html",
    "json",
    "yaml",
    "binary",
    "compare runs",
    "compare search",
    "models",
    "text",
    "logged model files",
    "logged model file",
    "api docs",
]


@pytest.mark.parametrize("name", PAGE_NAMES)
async def test_every_page_and_its_json_twin(
    http: httpx.AsyncClient, shared: DemoApp, name: str
) -> None:
    path = pages(shared)[name]
    page = await http.get(path)
    assert page.status_code == 200, page.text[:500]
    assert page.headers["content-type"].startswith("text/html")
    assert "<!doctype html>" in page.text
    assert 'name="csrf-token"' in page.text
    twin = await http.get(path + ("&" if "?" in path else "?") + "format=json")
    assert twin.status_code == 200
    assert twin.headers["content-type"] == "application/json"
    assert isinstance(twin.json(), dict)
    by_accept = await http.get(path, headers={"Accept": "application/json"})
    assert by_accept.json() == twin.json()


async def test_index_redirects_to_the_experiments(http: httpx.AsyncClient) -> None:
    response = await http.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/experiments"


async def test_experiments_list_run_counts_and_activity(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    data = (await http.get("/experiments?format=json")).json()
    by_name = {e["name"]: e for e in data["experiments"]}
    sweep = by_name["nyc-taxi-xgboost"]
    assert sweep["runs"] == 30 + 1 + 4 + 1  # sweep, parent, children, the XSS run
    assert sweep["last_activity"] >= sweep["creation_time"]
    assert by_name["Default"]["runs"] == 0
    found = (await http.get("/experiments?q=TAXI&format=json")).json()["experiments"]
    assert [e["name"] for e in found] == ["nyc-taxi-xgboost"]


async def test_runs_of_several_experiments_are_picked_on_the_experiments_page(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    page = (await http.get("/experiments")).text
    assert '<form id="open-runs" class="bulk" method="get" action="/runs">' in page
    assert 'name="experiments" value="0" form="open-runs"' in page
    both = (await http.get(f"/runs?experiments={shared.demo.experiment_id}&experiments=0")).text
    assert ">nyc-taxi-xgboost</a></td>" in both  # an experiment column, by name
    none = await http.get("/runs")
    assert none.status_code == 303
    assert none.headers["location"] == "/experiments"
    assert (await http.get("/runs?format=json")).status_code == 400


async def test_runs_table_pages_and_sorts_on_the_server(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    base = f"/runs?experiments={shared.demo.experiment_id}&nested=0&format=json"
    first = (await http.get(base + "&sort=metrics.rmse&dir=asc&size=10")).json()
    assert first["total"] == 36
    assert first["pages"] == 4
    values = [r["values"]["metrics.rmse"] for r in first["runs"]]
    assert values == sorted(values)
    assert first["runs"][0]["run_id"] == shared.demo.best_run_id
    second = (await http.get(base + "&sort=metrics.rmse&dir=asc&size=10&page=2")).json()
    assert second["first"] == 11
    assert min(r["values"]["metrics.rmse"] for r in second["runs"]) >= max(values)
    descending = (await http.get(base + "&sort=metrics.rmse&dir=desc&size=5")).json()
    top = [r["values"]["metrics.rmse"] for r in descending["runs"]]
    assert top == sorted(top, reverse=True)
    by_param = (await http.get(base + "&sort=params.max_depth&dir=asc&size=50")).json()
    depths = [r["values"].get("params.max_depth") for r in by_param["runs"]]
    assert depths[-1] is None  # runs without the param come last
    by_name = (await http.get(base + "&sort=attributes.run_name&dir=asc&size=3")).json()
    names = [r["name"] for r in by_name["runs"]]
    assert names == sorted(names)


async def test_sort_links_toggle_direction(http: httpx.AsyncClient, shared: DemoApp) -> None:
    url = f"/runs?experiments={shared.demo.experiment_id}&sort=metrics.rmse&dir=asc&format=json"
    data = (await http.get(url)).json()
    rmse = next(c for c in data["columns"] if c["id"] == "metrics.rmse")
    assert rmse["sorted"] == "asc"
    assert "dir=desc" in rmse["sort_url"]
    page = (await http.get(url.replace("&format=json", ""))).text
    assert 'aria-sort="ascending"' in page


async def test_filter_takes_the_search_grammar_with_or(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    query = "metrics.rmse < 6.5 OR tags.note LIKE '%img%'"
    url = (
        f"/runs?experiments={shared.demo.experiment_id}&nested=0&format=json&filter={quote(query)}"
    )
    data = (await http.get(url)).json()
    assert data["filter_error"] is None
    assert data["total"] >= 2
    for run in data["runs"]:
        assert run["values"]["metrics.rmse"] < 6.5 or run["run_id"] == shared.demo.xss_run_id


async def test_a_filter_that_does_not_parse_is_shown_where_it_fails(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    bad = "metrics.rmse << 7"
    url = f"/runs?experiments={shared.demo.experiment_id}&filter={quote(bad)}"
    data = (await http.get(url + "&format=json")).json()
    error = data["filter_error"]
    assert error["position"] == 13
    assert error["at"] == "<<"
    assert error["before"] == "metrics.rmse "
    assert data["runs"] == []
    page = await http.get(url)
    assert page.status_code == 200
    assert 'aria-invalid="true"' in page.text
    assert "<mark>&lt;&lt;</mark>" in page.text
    assert "position 13" in page.text
    assert html.escape(bad, quote=True) in page.text  # the filter stays in the box


async def test_an_unknown_attribute_in_a_filter_is_shown_too(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    url = (
        f"/runs?experiments={shared.demo.experiment_id}&format=json"
        "&filter=attributes.nope+%3D+%27x%27"
    )
    error = (await http.get(url)).json()["filter_error"]
    assert error is not None
    assert "nope" in error["message"]


async def test_nested_runs_are_folded_under_their_parent(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    demo = shared.demo
    base = f"/runs?experiments={demo.experiment_id}&size=100&format=json"
    folded = (await http.get(base)).json()
    ids = [r["run_id"] for r in folded["runs"]]
    assert demo.parent_run_id in ids
    assert not set(demo.child_ids) & set(ids)
    assert folded["total"] == 32
    parent = next(r for r in folded["runs"] if r["run_id"] == demo.parent_run_id)
    assert parent["children"] == 4
    assert parent["expanded"] is False
    assert f"expand={demo.parent_run_id}" in parent["toggle_url"]
    unfolded = (await http.get(base + f"&expand={demo.parent_run_id}")).json()
    rows = unfolded["runs"]
    at = next(i for i, r in enumerate(rows) if r["run_id"] == demo.parent_run_id)
    assert rows[at]["expanded"] is True
    assert {r["run_id"] for r in rows[at + 1 : at + 5]} == set(demo.child_ids)
    assert all(r["depth"] == 1 for r in rows[at + 1 : at + 5])
    flat = (await http.get(base + "&nested=0")).json()
    assert flat["total"] == 36


async def test_children_that_match_when_their_parent_does_not_are_shown(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    url = f"/runs?experiments={shared.demo.experiment_id}&format=json&filter=" + quote(
        "params.max_depth = '11'"
    )
    data = (await http.get(url)).json()
    assert [r["name"] for r in data["runs"]] == ["hyperopt-child-1"]


async def test_column_chooser(http: httpx.AsyncClient, shared: DemoApp) -> None:
    base = f"/runs?experiments={shared.demo.experiment_id}&format=json"
    default = (await http.get(base)).json()
    assert [c["id"] for c in default["columns"]][:3] == [
        "metrics.rmse",
        "metrics.train-loss",
        "metrics.validation-rmse",
    ]
    assert "max_depth" in default["available"]["params"]
    assert "developer" in default["available"]["tags"]
    chosen = (
        await http.get(base + "&col=metrics.validation-rmse@min&col=tags.developer&col=params.seed")
    ).json()
    assert [c["id"] for c in chosen["columns"]] == [
        "metrics.validation-rmse@min",
        "tags.developer",
        "params.seed",
    ]
    row = next(r for r in chosen["runs"] if r["run_id"] == shared.demo.best_run_id)
    assert row["values"]["tags.developer"] == "ana"
    assert row["values"]["params.seed"] == "42"
    assert row["values"]["metrics.validation-rmse@min"] < 7
    none = (await http.get(base + "&col=")).json()
    assert none["columns"] == []
    exact = (await http.get(base + "&keys=all")).json()
    assert exact["available"]["exact"] is True
    page = (await http.get(base.replace("&format=json", "") + "&col=tags.developer")).text
    assert 'value="tags.developer" checked' in page


async def test_an_unknown_column_is_an_error_page(http: httpx.AsyncClient, shared: DemoApp) -> None:
    response = await http.get(f"/runs?experiments={shared.demo.experiment_id}&col=bogus")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "Unknown column" in response.text


async def test_run_page_overview(http: httpx.AsyncClient, shared: DemoApp) -> None:
    demo = shared.demo
    data = (await http.get(f"/runs/{demo.best_run_id}?format=json")).json()
    assert data["status"] == "FINISHED"
    assert data["duration_ms"] > 0
    assert data["user"] == "ana"
    assert data["source"] == "duration-prediction.py"
    assert len(data["commit"]) == 40
    assert data["params"]["seed"] == "42"
    assert {m["key"] for m in data["metrics"]} == {"rmse", "train-loss", "validation-rmse"}
    assert data["description"].startswith("Best trial")
    assert data["datasets"][0]["name"] == "yellow_tripdata_2022-01"
    assert data["datasets"][0]["tags"] == {"mlflow.data.context": "training"}
    names = {e["name"] for e in data["artifacts"]["entries"]}
    assert {"feature_importance.png", "predictions.csv", "models_mlflow"} <= names
    assert data["artifacts"]["model_dirs"] == ["models_mlflow"]
    parent = (await http.get(f"/runs/{demo.parent_run_id}?format=json")).json()
    assert parent["children_total"] == 4
    child = (await http.get(f"/runs/{demo.child_ids[0]}?format=json")).json()
    assert child["parent"]["run_id"] == demo.parent_run_id


async def test_artifact_previews(http: httpx.AsyncClient, shared: DemoApp) -> None:
    run = f"/runs/{shared.demo.best_run_id}/artifacts"
    csv = (await http.get(f"{run}?path=predictions.csv&format=json")).json()["preview"]
    assert csv["kind"] == "csv"
    assert csv["table"]["header"] == ["trip_distance", "PU_DO", "duration", "prediction"]
    assert len(csv["table"]["rows"]) == 40
    as_json = (await http.get(f"{run}?path=params.json&format=json")).json()["preview"]
    assert as_json["text"] == '{\n  "max_depth": 21,\n  "learning_rate": 0.29\n}'
    model = (await http.get(f"{run}?path=models_mlflow&format=json")).json()["listing"]["model"]
    assert model["flavors"] == ["python_function", "xgboost"]
    assert model["inputs"] == [
        {"name": "trip_distance", "type": "double"},
        {"name": "PU_DO", "type": "string"},
    ]
    assert model["outputs"] == [{"name": "duration", "type": "double"}]
    page = (await http.get(f"{run}?path=report.html")).text
    assert 'sandbox=""' in page
    assert "allow-same-origin" not in page
    image = (await http.get(f"{run}?path=feature_importance.png")).text
    assert '<img src="/runs/' in image


async def test_raw_artifacts_are_sandboxed(http: httpx.AsyncClient, shared: DemoApp) -> None:
    raw = f"/runs/{shared.demo.best_run_id}/artifacts/raw"
    report = await http.get(f"{raw}?path=report.html")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert report.headers["content-security-policy"].startswith("sandbox;")
    assert "allow-scripts" not in report.headers["content-security-policy"]
    assert report.headers["x-content-type-options"] == "nosniff"
    assert report.headers["x-frame-options"] == "SAMEORIGIN"
    image = await http.get(f"{raw}?path=feature_importance.png")
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    binary = await http.get(f"{raw}?path=models_mlflow/model.xgb")
    assert binary.headers["content-type"] == "application/octet-stream"
    assert binary.headers["content-disposition"].startswith("attachment")
    download = await http.get(f"{raw}?path=report.html&download=1")
    assert download.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "a/../../b", "..%2f..%2fx"])
async def test_artifact_paths_cannot_escape(
    http: httpx.AsyncClient, shared: DemoApp, path: str
) -> None:
    for route in ("artifacts", "artifacts/raw"):
        response = await http.get(f"/runs/{shared.demo.best_run_id}/{route}?path={path}")
        assert response.status_code == 400, (route, path)
        assert "Invalid artifact path" in response.text, (route, path)
        assert "root:" not in response.text


async def test_compare_runs(http: httpx.AsyncClient, shared: DemoApp) -> None:
    demo = shared.demo
    ids = demo.sweep_ids[:6]
    data = (await http.get(f"/compare?runs={','.join(ids)}&format=json")).json()
    assert [r["run_id"] for r in data["runs"]] == ids
    assert "objective" not in data["differing_params"]
    assert data["same_params"]["objective"] == "reg:linear"
    assert "max_depth" in data["differing_params"]
    assert data["kinds"]["params.max_depth"] == "number"
    assert data["kinds"]["params.objective"] == "category"
    assert data["metric"] == "validation-rmse"  # the metric with a history
    assert len(data["columns"]["metrics.rmse"]) == 6
    state = (
        await http.get(
            f"/compare?runs={','.join(ids)}&format=json&dim=params.max_depth&dim=metrics.rmse"
            "&color=metrics.rmse&brush=metrics.rmse:6:6.9&brush=metrics.rmse:7:8"
        )
    ).json()
    assert state["dims"] == ["params.max_depth", "metrics.rmse"]
    assert state["brush"] == {"metrics.rmse": [[6.0, 6.9], [7.0, 8.0]]}
    page = (await http.get(f"/compare?runs={','.join(ids)}")).text
    assert '<script type="application/json" id="compare-data">' in page


async def test_compare_a_search(http: httpx.AsyncClient, shared: DemoApp) -> None:
    url = (
        f"/compare?experiments={shared.demo.experiment_id}&filter={quote('metrics.rmse < 7')}"
        "&sort=metrics.rmse&dir=asc&limit=5&format=json"
    )
    data = (await http.get(url)).json()
    assert data["count"] == 5
    assert data["source"]["matching"] >= 5
    values = data["columns"]["metrics.rmse"]
    assert values == sorted(values)
    history = (
        await http.get(
            f"/compare/metric-history?runs={data['runs'][0]['run_id']}&key=validation-rmse&points=20"
        )
    ).json()
    series = history["series"][data["runs"][0]["run_id"]]
    assert series["count"] == 60
    assert series["downsampled"] is True


async def test_compare_needs_runs(http: httpx.AsyncClient) -> None:
    response = await http.get("/compare")
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]


async def test_static_files_and_plotly_are_cached_for_long(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    page = (await http.get("/experiments")).text
    css = page.split('rel="stylesheet" href="')[1].split('"')[0]
    response = await http.get(css)
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["content-type"].startswith("text/css")
    run_page = (await http.get(f"/runs/{shared.demo.best_run_id}")).text  # a chart page
    plotly = run_page.split('<script src="')[1].split('"')[0]
    compare = (await http.get("/compare?runs=x,y")).text  # loads Plotly after its own chart
    assert f'<meta name="plotly-src" content="{plotly}">' in compare
    assert plotly.startswith("/static/plotly/")
    js = await http.get(plotly, headers={"Accept-Encoding": "gzip"})
    assert js.status_code == 200
    assert js.headers["content-encoding"] == "gzip"
    assert "immutable" in js.headers["cache-control"]
    assert b"plotly" in js.content[:2000].lower()
    missing = await http.get("/static/abc/nope.js")
    assert missing.status_code == 404
    traversal = await http.get("/static/abc/../../pyproject.toml")
    assert traversal.status_code == 404


async def test_metric_history_is_downsampled_on_the_server(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    from ui.demo import LONG_HISTORY

    url = f"/runs/{shared.demo.best_run_id}/metrics/train-loss?format=json"
    whole = (await http.get(url)).json()
    assert whole["count"] == LONG_HISTORY
    assert whole["downsampled"] is True
    buckets = whole["buckets"]
    assert len(buckets["mean"]) == 500  # points=1000 by default: 500 (min, max) pairs
    assert sum(buckets["count"]) == LONG_HISTORY
    window = (await http.get(url + "&from=1000&to=1499")).json()
    assert window["downsampled"] is False
    assert window["points"]["step"] == list(range(1000, 1500))
    fewer = (await http.get(url + "&points=100")).json()
    assert len(fewer["buckets"]["mean"]) == 50
    short = (
        await http.get(f"/runs/{shared.demo.best_run_id}/metrics/validation-rmse?format=json")
    ).json()
    assert short["downsampled"] is False
    assert len(short["points"]["value"]) == 60
    missing = await http.get(f"/runs/{shared.demo.best_run_id}/metrics/nope")
    assert missing.status_code == 404


async def test_many_points_at_few_steps_are_downsampled_too(
    fresh_http: httpx.AsyncClient, fresh: DemoApp
) -> None:
    """A metric logged 5,000 times at steps 0 and 1 (no step given, say): a window of two
    steps still holds 5,000 points, which must not all be sent to the browser."""
    from labtrack.entities import Metric

    service = fresh.app.state.context.service
    run_id = service.create_run(fresh.demo.experiment_id).info.run_id
    service.log_batch(run_id, [Metric("acc", i / 5000, 1000 + i, i % 2) for i in range(5000)])
    window = (await fresh_http.get(f"/runs/{run_id}/metrics/acc?format=json&from=0&to=1")).json()
    assert window["count"] == 5000
    assert window["downsampled"] is True
    assert sum(window["buckets"]["count"]) == 5000


async def test_pages_show_odd_data_instead_of_failing(
    fresh_http: httpx.AsyncClient, fresh: DemoApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start time no calendar holds (nanoseconds logged as milliseconds), a CSV with a
    field beyond the csv module's limit, and a store whose listing fails."""
    from labtrack.artifacts.local import LocalArtifactRepository
    from labtrack.errors import LabtrackError

    service = fresh.app.state.context.service
    run = service.create_run(fresh.demo.experiment_id, start_time=2**62)
    run_id = run.info.run_id
    repo = fresh.app.state.context.repository_for(run.info.artifact_uri)
    repo.log_bytes(("a,b\n" + "x" * 200_000 + ",1\n").encode(), "wide.csv")

    page = await fresh_http.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert f"{2**62} ms" in page.text
    listed = await fresh_http.get(f"/runs?experiments={fresh.demo.experiment_id}")
    assert listed.status_code == 200

    preview = (await fresh_http.get(f"/runs/{run_id}/artifacts?path=wide.csv&format=json")).json()[
        "preview"
    ]
    assert preview["kind"] == "text"  # shown as text, not as a table
    assert preview["text"].startswith("a,b\nxxx")

    def refuse(self: LocalArtifactRepository, path: str | None = None) -> list[object]:
        raise LabtrackError("Access denied to the artifact store")

    monkeypatch.setattr(LocalArtifactRepository, "list_artifacts", refuse)
    for url in (f"/runs/{run_id}", f"/runs/{run_id}/artifacts"):
        failed = await fresh_http.get(url)
        assert failed.status_code == 200, url
        assert "Access denied to the artifact store" in failed.text


async def test_a_crashed_run_says_so(
    fresh_http: httpx.AsyncClient, fresh: DemoApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose process stopped sending heartbeats (see tests/store/test_crashed_runs.py)."""
    import time

    monkeypatch.setenv("LABTRACK_HEARTBEAT_TIMEOUT", "0.2")
    service = fresh.app.state.context.service
    run_id = service.create_run(fresh.demo.experiment_id, run_name="doomed").info.run_id
    service.heartbeat([run_id])
    time.sleep(0.4)
    page = (await fresh_http.get(f"/runs/{run_id}")).text
    assert page.count(">KILLED · crashed</span>") == 2  # the title and the overview
    assert "its process died without ending it" in page
    twin = (await fresh_http.get(f"/runs/{run_id}?format=json")).json()
    assert (twin["status"], twin["crashed"]) == ("KILLED", True)
    table = f"/runs?experiments={fresh.demo.experiment_id}&filter=tags.`labtrack.crashed`='true'"
    rows = (await fresh_http.get(table + "&format=json")).json()["runs"]
    assert [(r["run_id"], r["crashed"]) for r in rows] == [(run_id, True)]
    assert ">KILLED · crashed</span>" in (await fresh_http.get(table)).text
