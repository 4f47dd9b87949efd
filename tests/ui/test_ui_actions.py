"""The UI's write actions (form posts), and the model registry pages built on them."""

from __future__ import annotations

import json
from urllib.parse import unquote

import httpx
import pytest

from ui.conftest import DemoApp, post_form

pytestmark = pytest.mark.anyio


async def test_experiments_create_rename_delete_restore(
    fresh_http: httpx.AsyncClient, fresh: DemoApp
) -> None:
    service = fresh.app.state.context.service
    created = await post_form(fresh_http, "/experiments", "/experiments", {"name": "churn"})
    assert created.status_code == 303
    experiment = service.get_experiment_by_name("churn")
    assert created.headers["location"] == f"/runs?experiments={experiment.experiment_id}"
    page = await fresh_http.get(created.headers["location"])
    assert "Created experiment &#39;churn&#39;" in page.text  # the flash message, once
    assert "Created experiment" not in (await fresh_http.get("/experiments")).text
    eid = experiment.experiment_id
    await post_form(fresh_http, "/experiments", f"/experiments/{eid}/rename", {"name": "churn-2"})
    assert service.get_experiment(eid).name == "churn-2"
    clash = await post_form(
        fresh_http, "/experiments", f"/experiments/{eid}/rename", {"name": "nyc-taxi-xgboost"}
    )
    assert clash.status_code == 303
    assert "already exists" in unquote(clash.headers["set-cookie"])
    shown = await fresh_http.get(clash.headers["location"])
    assert 'class="flash flash-error"' in shown.text
    await post_form(fresh_http, "/experiments", f"/experiments/{eid}/delete", {})
    assert service.get_experiment(eid).lifecycle_stage == "deleted"
    deleted = (await fresh_http.get("/experiments?view=deleted&format=json")).json()
    assert [e["name"] for e in deleted["experiments"]] == ["churn-2"]
    await post_form(fresh_http, "/experiments?view=deleted", f"/experiments/{eid}/restore", {})
    assert service.get_experiment(eid).lifecycle_stage == "active"


async def test_run_rename_tags_description_delete_restore(
    fresh_http: httpx.AsyncClient, fresh: DemoApp
) -> None:
    service = fresh.app.state.context.service
    run_id = fresh.demo.best_run_id
    page = f"/runs/{run_id}"
    await post_form(fresh_http, page, f"{page}/rename", {"name": "best-of-sweep"})
    assert service.get_run(run_id).info.run_name == "best-of-sweep"
    await post_form(fresh_http, page, f"{page}/tags", {"key": "stage", "value": "candidate"})
    assert service.get_run(run_id).data.tags["stage"] == "candidate"
    await post_form(fresh_http, page, f"{page}/tags/delete", {"key": "stage"})
    assert "stage" not in service.get_run(run_id).data.tags
    await post_form(fresh_http, page, f"{page}/description", {"description": "line 1\r\nline 2"})
    assert service.get_run(run_id).data.tags["mlflow.note.content"] == "line 1\nline 2"
    await post_form(fresh_http, page, f"{page}/description", {"description": ""})
    assert "mlflow.note.content" not in service.get_run(run_id).data.tags
    await post_form(fresh_http, page, f"{page}/delete", {})
    assert service.get_run(run_id).info.lifecycle_stage == "deleted"
    deleted_page = (await fresh_http.get(page)).text
    assert "Restore" in deleted_page
    await post_form(fresh_http, page, f"{page}/restore", {})
    assert service.get_run(run_id).info.lifecycle_stage == "active"


async def test_bulk_actions_on_selected_runs(fresh_http: httpx.AsyncClient, fresh: DemoApp) -> None:
    service = fresh.app.state.context.service
    ids = fresh.demo.sweep_ids[:3]
    runs_page = f"/runs?experiments={fresh.demo.experiment_id}"
    tagged = await post_form(
        fresh_http,
        runs_page,
        "/runs/actions",
        {"action": "tag", "run": ids, "tag_key": "review", "tag_value": "yes", "next": runs_page},
    )
    assert tagged.headers["location"] == runs_page
    assert all(service.get_run(r).data.tags["review"] == "yes" for r in ids)
    await post_form(fresh_http, runs_page, "/runs/actions", {"action": "delete", "run": ids})
    assert all(service.get_run(r).info.lifecycle_stage == "deleted" for r in ids)
    deleted = (await fresh_http.get(runs_page + "&view=deleted&format=json")).json()
    assert {r["run_id"] for r in deleted["runs"]} == set(ids)
    await post_form(fresh_http, runs_page, "/runs/actions", {"action": "restore", "run": ids})
    assert all(service.get_run(r).info.lifecycle_stage == "active" for r in ids)
    two = await post_form(
        fresh_http, runs_page, "/runs/actions", {"action": "rename", "run": ids[:2], "name": "x"}
    )
    assert "exactly one" in unquote(two.headers["set-cookie"])
    await post_form(
        fresh_http, runs_page, "/runs/actions", {"action": "rename", "run": ids[0], "name": "solo"}
    )
    assert service.get_run(ids[0]).info.run_name == "solo"


async def test_a_write_can_answer_json(fresh_http: httpx.AsyncClient, fresh: DemoApp) -> None:
    page = f"/runs/{fresh.demo.best_run_id}"
    html = (await fresh_http.get(page)).text
    from ui.conftest import BASE, csrf_of

    headers = {"Origin": BASE, "Accept": "application/json", "X-CSRF-Token": csrf_of(html)}
    ok = await fresh_http.post(f"{page}/tags", data={"key": "k", "value": "v"}, headers=headers)
    assert ok.json() == {"ok": True, "next": f"{page}#tags", "message": "Set tag 'k'"}
    bad = await fresh_http.post(f"{page}/tags", data={"key": "", "value": "v"}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


async def test_register_a_model_and_promote_it(
    fresh_http: httpx.AsyncClient, fresh: DemoApp
) -> None:
    service = fresh.app.state.context.service
    run_id = fresh.demo.best_run_id
    listing = f"/runs/{run_id}/artifacts?path=models_mlflow"
    assert 'action="/runs/' in (await fresh_http.get(listing)).text
    registered = await post_form(
        fresh_http,
        listing,
        f"/runs/{run_id}/register",
        {"model_name": "taxi-duration", "path": "models_mlflow"},
    )
    assert registered.status_code == 303
    assert registered.headers["location"] == "/models/taxi-duration/versions/1"
    version = service.registry.get_model_version("taxi-duration", 1)
    assert version.run_id == run_id
    assert version.source.endswith(f"{run_id}/artifacts/models_mlflow")
    again = await post_form(
        fresh_http,
        listing,
        f"/runs/{run_id}/register",
        {"model_name": "taxi-duration", "path": "models_mlflow"},
    )
    assert again.headers["location"] == "/models/taxi-duration/versions/2"
    no_model = await post_form(
        fresh_http, listing, f"/runs/{run_id}/register", {"model_name": "x", "path": ""}
    )
    assert "No model at" in unquote(no_model.headers["set-cookie"])

    model_page = "/models/taxi-duration"
    await post_form(
        fresh_http, model_page, f"{model_page}/aliases", {"alias": "champion", "version": "1"}
    )
    assert service.registry.get_model_version_by_alias("taxi-duration", "champion").version == 1
    await post_form(
        fresh_http,
        model_page,
        f"{model_page}/versions/2/stage",
        {"stage": "Production", "archive_existing": "1"},
    )
    assert service.registry.get_model_version("taxi-duration", 2).current_stage == "Production"
    await post_form(fresh_http, model_page, f"{model_page}/description", {"description": "ETA"})
    await post_form(
        fresh_http, model_page, f"{model_page}/versions/1/description", {"description": "first"}
    )

    models = (await fresh_http.get("/models?format=json")).json()
    assert [m["name"] for m in models["models"]] == ["taxi-duration"]
    assert models["models"][0]["aliases"] == {"champion": 1}
    detail = (await fresh_http.get(f"{model_page}?format=json")).json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["versions"][1]["aliases"] == ["champion"]
    assert detail["versions"][0]["stage"] == "Production"
    assert detail["model"]["description"] == "ETA"
    actions = [e["action"] for e in detail["events"]]
    assert {"model_created", "version_created", "alias_set", "stage_transitioned"} <= set(actions)
    assert detail["events"][0]["event_id"] > detail["events"][-1]["event_id"]  # newest first
    page = (await fresh_http.get(model_page)).text
    assert "@champion" in page
    # Who made each change is shown as what it is: a name the client claimed.
    from labtrack.tracking._registry_service import acting_user

    assert {e["claimed_user"] for e in detail["events"]} == {acting_user()}
    history = page[page.index('id="history"') :]
    assert history.count(f">claimed: {acting_user()}</span>") == len(detail["events"])
    version_page = (await fresh_http.get(f"{model_page}/versions/1?format=json")).json()
    assert version_page["run"]["run_id"] == run_id
    assert version_page["run"]["params"]["seed"] == "42"
    assert version_page["version"]["description"] == "first"
    await post_form(fresh_http, model_page, f"{model_page}/aliases/delete", {"alias": "champion"})
    assert service.registry.get_registered_model("taxi-duration").aliases == {}
    missing = await fresh_http.get("/models/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")

    # Tags on the model and on a version: set from the page, shown, deleted.
    version_one = f"{model_page}/versions/1"
    await post_form(fresh_http, model_page, f"{model_page}/tags", {"key": "team", "value": "eta"})
    await post_form(
        fresh_http, version_one, f"{version_one}/tags", {"key": "validated", "value": "yes"}
    )
    assert service.registry.get_registered_model("taxi-duration").tags == {"team": "eta"}
    assert service.registry.get_model_version("taxi-duration", 1).tags == {"validated": "yes"}
    assert '<td class="wrap">eta</td>' in (await fresh_http.get(model_page)).text
    assert '<td class="wrap">yes</td>' in (await fresh_http.get(version_one)).text
    await post_form(fresh_http, model_page, f"{model_page}/tags/delete", {"key": "team"})
    await post_form(fresh_http, version_one, f"{version_one}/tags/delete", {"key": "validated"})
    assert service.registry.get_registered_model("taxi-duration").tags == {}
    assert service.registry.get_model_version("taxi-duration", 1).tags == {}


async def test_register_a_logged_model_from_its_run(
    fresh_http: httpx.AsyncClient, fresh: DemoApp
) -> None:
    service = fresh.app.state.context.service
    run_id, model_id = fresh.demo.best_run_id, fresh.demo.model_id
    run_page = f"/runs/{run_id}"
    models = (await fresh_http.get(f"{run_page}?format=json")).json()["models"]
    assert [(m["kind"], m.get("name"), m["path"]) for m in models] == [
        ("logged", "taxi-model", ""),
        ("artifacts", None, "models_mlflow"),
    ]
    assert models[0]["source_uri"] == f"models:/{model_id}"
    assert models[0]["flavors"] == ["python_function", "xgboost"]
    assert f'name="model_id" value="{model_id}"' in (await fresh_http.get(run_page)).text
    registered = await post_form(
        fresh_http, run_page, f"{run_page}/register", {"model_name": "taxi", "model_id": model_id}
    )
    assert registered.headers["location"] == "/models/taxi/versions/1"
    version = service.registry.get_model_version("taxi", 1)
    assert (version.source, version.model_id, version.run_id) == (
        f"models:/{model_id}",
        model_id,
        run_id,
    )
    lineage = (await fresh_http.get("/models/taxi/versions/1?format=json")).json()
    assert lineage["logged_model"]["name"] == "taxi-model"
    assert lineage["run"]["run_id"] == run_id
    tag = service.get_logged_model(model_id).tags["mlflow.modelVersions"]
    assert json.loads(tag) == [{"name": "taxi", "version": 1}]  # MLflow writes a number
    await post_form(
        fresh_http,
        run_page,
        f"{run_page}/register",
        {"model_name": "taxi", "path": "models_mlflow"},
    )
    models = (await fresh_http.get(f"{run_page}?format=json")).json()["models"]
    assert [[(v["name"], v["version"]) for v in m["versions"]] for m in models] == [
        [("taxi", 1)],
        [("taxi", 2)],
    ]
    other = (
        fresh.demo.sweep_ids[0] if fresh.demo.sweep_ids[0] != run_id else fresh.demo.sweep_ids[1]
    )
    refused = await post_form(
        fresh_http,
        run_page,
        f"/runs/{other}/register",
        {"model_name": "taxi", "model_id": model_id},
    )
    assert "did not produce" in unquote(refused.headers["set-cookie"])
    assert len(service.registry.search_model_versions("name = 'taxi'", 10, None)) == 2
