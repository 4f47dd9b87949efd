"""Tests for `labtrack models` on every database backend."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from labtrack.tracking.client import TrackingClient

from .conftest import Invoke


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ana")


@pytest.fixture
def churn(client: TrackingClient) -> TrackingClient:
    """A model "churn" with three versions from one run: v1 Production, v2 Staging, v3 None,
    an alias champion -> 1, a tag and a description."""
    run = client.create_run("0")
    client.log_text(run.info.run_id, "flavors: {}\n", "model/MLmodel")
    for _ in range(3):
        client.register_model(f"runs:/{run.info.run_id}/model", "churn")
    client.update_registered_model("churn", "Who will leave")
    client.set_registered_model_tag("churn", "team", "growth")
    client.transition_model_version_stage("churn", 1, "Production")
    client.transition_model_version_stage("churn", 2, "Staging")
    client.set_registered_model_alias("churn", "champion", 1)
    client.create_registered_model("fraud")
    return client


def run_json(invoke: Invoke, db_uri: str, *args: str) -> Any:
    return json.loads(invoke("models", *args, "--tracking-uri", db_uri, "-o", "json").stdout)


def table(invoke: Invoke, db_uri: str, *args: str) -> list[list[str]]:
    """The table's rows (header first, rule skipped), split on runs of two spaces."""
    lines = invoke("models", *args, "--tracking-uri", db_uri).stdout.splitlines()
    assert set(lines[1]) <= {"-", " "}
    return [
        [cell.strip() for cell in line.split("  ") if cell.strip()]
        for line in [lines[0], *lines[2:]]
    ]


def test_list(invoke: Invoke, db_uri: str, churn: TrackingClient) -> None:
    rows = table(invoke, db_uri, "list")
    assert rows[0] == ["Name", "Latest versions", "Aliases", "Updated", "Description"]
    assert rows[1][:3] == ["churn", "None:3, Staging:2, Production:1", "champion=1"]
    assert rows[1][-1] == "Who will leave"
    assert rows[2][0] == "fraud"
    found = run_json(invoke, db_uri, "list")
    assert [m["name"] for m in found] == ["churn", "fraud"]
    assert found[0]["aliases"] == {"champion": 1}
    assert found[0]["tags"] == {"team": "growth"}
    assert {(v["version"], v["current_stage"]) for v in found[0]["latest_versions"]} == {
        (1, "Production"),
        (2, "Staging"),
        (3, "None"),
    }
    only = run_json(invoke, db_uri, "list", "-f", "tags.team = 'growth'")
    assert [m["name"] for m in only] == ["churn"]
    limited = invoke("models", "list", "--max-results", "1", "--tracking-uri", db_uri)
    assert "churn" in limited.stdout
    assert "fraud" not in limited.stdout
    assert "--max-results" in limited.stderr


def test_list_when_empty(invoke: Invoke, db_uri: str) -> None:
    result = invoke("models", "list", "--tracking-uri", db_uri)
    assert result.stdout == ""
    assert result.stderr == "No registered models.\n"


def test_show(invoke: Invoke, db_uri: str, churn: TrackingClient) -> None:
    text = invoke("models", "show", "churn", "--tracking-uri", db_uri).stdout
    fields = dict(line.split(":", 1) for line in text.split("\n\n")[0].splitlines() if ":" in line)
    assert fields["Name"].strip() == "churn"
    assert fields["Description"].strip() == "Who will leave"
    assert fields["Created by (claimed)"].strip() == "ana"
    assert "Tags (1)" in text
    assert "growth" in text
    assert "Aliases (1)" in text
    assert "Versions (3)" in text
    shown = run_json(invoke, db_uri, "show", "churn")
    assert shown["name"] == "churn"
    assert [v["version"] for v in shown["versions"]] == [3, 2, 1]
    assert shown["versions"][2]["aliases"] == ["champion"]


def test_versions(invoke: Invoke, db_uri: str, churn: TrackingClient) -> None:
    rows = table(invoke, db_uri, "versions", "churn")
    assert rows[0] == ["Version", "Stage", "Aliases", "Run", "Source", "Created"]
    assert [r[0] for r in rows[1:]] == ["3", "2", "1"]
    assert rows[3][:3] == ["1", "Production", "champion"]
    run_id = churn.get_model_version("churn", 1).run_id
    assert rows[1][2] == run_id  # no aliases: the run is the next cell
    versions = run_json(invoke, db_uri, "versions", "churn")
    assert [(v["version"], v["current_stage"]) for v in versions] == [
        (3, "None"),
        (2, "Staging"),
        (1, "Production"),
    ]
    assert versions[0]["run_id"] == run_id
    text = invoke("models", "versions", "churn", "-o", "csv", "--tracking-uri", db_uri).stdout
    records = list(csv.DictReader(io.StringIO(text)))
    assert [r["version"] for r in records] == ["3", "2", "1"]
    assert records[2]["aliases"] == "champion"
    assert records[0]["source"].endswith("/model")
    assert records[0]["created"].endswith("+00:00")


def test_versions_of_a_model_without_any(
    invoke: Invoke, db_uri: str, churn: TrackingClient
) -> None:
    result = invoke("models", "versions", "fraud", "--tracking-uri", db_uri)
    assert result.stderr == "Model 'fraud' has no versions.\n"


def test_history(invoke: Invoke, db_uri: str, churn: TrackingClient) -> None:
    rows = table(invoke, db_uri, "history", "churn")
    assert rows[0] == ["When", "Claimed by", "Action", "Model", "Version", "Change"]
    actions = [r[2] for r in rows[1:]]
    assert actions == [
        "model_created",
        "version_created",
        "version_created",
        "version_created",
        "model_description_updated",
        "model_tag_set",
        "stage_transitioned",
        "stage_transitioned",
        "alias_set",
    ]
    assert all(r[1] == "ana" for r in rows[1:])
    assert rows[7][-1] == "None -> Production"
    assert rows[9][-2:] == ["1", "champion: 1"]
    assert rows[6][-1] == "team: growth"
    events = run_json(invoke, db_uri, "history", "churn")
    assert events[6]["from_value"] == "None"
    assert events[6]["to_value"] == "Production"
    assert events[6]["claimed_user"] == "ana"
    # The history outlives the model.
    churn.delete_registered_model("churn")
    after = run_json(invoke, db_uri, "history", "churn")
    assert after[-1]["action"] == "model_deleted"
    nothing = invoke("models", "history", "nope", "--tracking-uri", db_uri)
    assert nothing.stderr == "No registry events for model 'nope'.\n"


def test_set_alias(invoke: Invoke, db_uri: str, churn: TrackingClient) -> None:
    result = invoke("models", "set-alias", "churn", "champion", "2", "--tracking-uri", db_uri)
    assert result.stdout == "Alias 'champion' of model 'churn' now points to version 2.\n"
    assert churn.get_model_version_by_alias("churn", "champion").version == 2
    events = run_json(invoke, db_uri, "history", "churn")
    assert (events[-1]["action"], events[-1]["from_value"], events[-1]["to_value"]) == (
        "alias_moved",
        "1",
        "2",
    )
    deleted = invoke(
        "models", "set-alias", "churn", "champion", "--delete", "--tracking-uri", db_uri
    )
    assert deleted.stdout == "Deleted alias 'champion' of model 'churn'.\n"
    assert churn.get_registered_model("churn").aliases == {}


def test_set_alias_errors(invoke: Invoke, db_uri: str, churn: TrackingClient) -> None:
    result = invoke(
        "models", "set-alias", "churn", "v2", "2", "--tracking-uri", db_uri, exit_code=1
    )
    assert result.stderr == "Error: Version alias name 'v2' is reserved.\n"
    missing = invoke(
        "models", "set-alias", "churn", "x", "9", "--tracking-uri", db_uri, exit_code=1
    )
    assert missing.stderr == "Error: Model Version (name=churn, version=9) not found\n"
    usage = invoke("models", "set-alias", "churn", "x", "--tracking-uri", db_uri, exit_code=2)
    assert "Missing argument 'VERSION'" in usage.stderr
    both = invoke(
        "models", "set-alias", "churn", "x", "1", "--delete", "--tracking-uri", db_uri, exit_code=2
    )
    assert "--delete takes no VERSION" in both.stderr


def test_transition(invoke: Invoke, db_uri: str, churn: TrackingClient) -> None:
    result = invoke("models", "transition", "churn", "3", "production", "--tracking-uri", db_uri)
    assert result.stdout == "Model 'churn' version 3 is now in stage Production.\n"
    assert churn.get_model_version("churn", 1).current_stage == "Production"  # not archived
    archived = invoke(
        "models",
        "transition",
        "churn",
        "2",
        "Production",
        "--archive-existing",
        "--tracking-uri",
        db_uri,
    )
    assert archived.stdout == (
        "Model 'churn' version 2 is now in stage Production.\n"
        "Archived the previous Production versions: [1, 3].\n"
    )
    stages = {v: churn.get_model_version("churn", v).current_stage for v in (1, 2, 3)}
    assert stages == {1: "Archived", 2: "Production", 3: "Archived"}


def test_transition_errors(invoke: Invoke, db_uri: str, churn: TrackingClient) -> None:
    bad = invoke(
        "models", "transition", "churn", "1", "live", "--tracking-uri", db_uri, exit_code=2
    )
    assert "'live' is not one of" in bad.stderr
    result = invoke(
        "models",
        "transition",
        "churn",
        "1",
        "Archived",
        "--archive-existing",
        "--tracking-uri",
        db_uri,
        exit_code=1,
    )
    assert result.stderr.startswith("Error: Model version transition cannot archive")
    assert len(result.stderr.splitlines()) == 1
    missing = invoke(
        "models", "transition", "nope", "1", "None", "--tracking-uri", db_uri, exit_code=1
    )
    assert missing.stderr == "Error: Registered Model with name=nope not found\n"


def test_show_missing_model(invoke: Invoke, db_uri: str) -> None:
    result = invoke("models", "show", "nope", "--tracking-uri", db_uri, exit_code=1)
    assert result.stderr == "Error: Registered Model with name=nope not found\n"


def test_group_lists_its_commands(invoke: Invoke) -> None:
    text = invoke("models", "--help").stdout
    for command in ("list", "show", "versions", "history", "set-alias", "transition"):
        assert command in text
