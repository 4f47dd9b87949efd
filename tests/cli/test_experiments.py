"""Tests for `labtrack experiments` on every database backend."""

from __future__ import annotations

import csv
import io
import json

import pytest

from labtrack.entities import LifecycleStage
from labtrack.tracking.client import TrackingClient

from .conftest import Invoke


def listed(invoke: Invoke, db_uri: str, *args: str) -> list[dict]:
    return json.loads(
        invoke("experiments", "list", "--tracking-uri", db_uri, "-o", "json", *args).stdout
    )


def test_create_then_list_in_every_format(invoke: Invoke, db_uri: str, tmp_path) -> None:
    location = (tmp_path / "elsewhere").as_uri()
    result = invoke(
        "experiments", "create", "fraud", "--artifact-location", location, "--tracking-uri", db_uri
    )
    client = TrackingClient(db_uri)
    created = client.get_experiment_by_name("fraud")
    assert created is not None
    assert result.stdout == f"Created experiment 'fraud' with ID {created.experiment_id}.\n"
    assert created.artifact_location == location
    client.set_experiment_tag(created.experiment_id, "team", "risk")

    found = listed(invoke, db_uri)
    assert [e["name"] for e in found] == ["Default", "fraud"]
    assert found[1]["experiment_id"] == created.experiment_id
    assert found[1]["tags"] == {"team": "risk"}
    assert found[1]["lifecycle_stage"] == "active"
    assert isinstance(found[1]["creation_time"], int)

    text = invoke("experiments", "list", "--tracking-uri", db_uri, "-o", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ["Default", "fraud"]
    assert rows[1]["tags.team"] == "risk"
    assert rows[0]["tags.team"] == ""
    assert rows[1]["artifact_location"] == location
    assert rows[1]["creation_time"].endswith("+00:00")

    table = invoke("experiments", "list", "--tracking-uri", db_uri).stdout.splitlines()
    assert table[0].split() == ["ID", "Name", "Stage", "Created", "Artifact", "location"]
    assert set(table[1]) == {"-", " "}
    assert table[3].split()[:3] == [created.experiment_id, "fraud", "active"]


def test_create_twice_is_an_error(invoke: Invoke, db_uri: str) -> None:
    invoke("experiments", "create", "twice", "--tracking-uri", db_uri)
    result = invoke("experiments", "create", "twice", "--tracking-uri", db_uri, exit_code=1)
    assert result.stderr == "Error: Experiment 'twice' already exists\n"


@pytest.mark.parametrize("by", ["id", "name"])
def test_rename_by_id_or_name(invoke: Invoke, db_uri: str, client: TrackingClient, by: str) -> None:
    experiment_id = client.create_experiment("old")
    ref = experiment_id if by == "id" else "old"
    result = invoke("experiments", "rename", ref, "new", "--tracking-uri", db_uri)
    assert result.stdout == f"Renamed experiment {experiment_id} from 'old' to 'new'.\n"
    assert client.get_experiment(experiment_id).name == "new"


def test_id_wins_over_a_name_made_of_digits(
    invoke: Invoke, db_uri: str, client: TrackingClient
) -> None:
    first = client.create_experiment("first")
    digits = client.create_experiment(first)  # an experiment *named* like the first one's id
    invoke("experiments", "delete", first, "--tracking-uri", db_uri)
    assert client.get_experiment(first).lifecycle_stage == LifecycleStage.DELETED
    assert client.get_experiment(digits).lifecycle_stage == LifecycleStage.ACTIVE


def test_a_name_made_of_digits_is_found_when_no_such_id(
    invoke: Invoke, db_uri: str, client: TrackingClient
) -> None:
    experiment_id = client.create_experiment("987654")
    assert experiment_id != "987654"
    invoke("experiments", "delete", "987654", "--tracking-uri", db_uri)
    assert client.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.DELETED


def test_delete_and_restore_with_views(invoke: Invoke, db_uri: str, client: TrackingClient) -> None:
    experiment_id = client.create_experiment("short-lived")
    run_id = client.create_run(experiment_id).info.run_id

    result = invoke("experiments", "delete", "short-lived", "--tracking-uri", db_uri)
    assert result.stdout.startswith(
        f"Deleted experiment {experiment_id} ('short-lived') and its runs."
    )
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert [e["name"] for e in listed(invoke, db_uri)] == ["Default"]
    assert [e["name"] for e in listed(invoke, db_uri, "--view", "deleted")] == ["short-lived"]
    assert [e["name"] for e in listed(invoke, db_uri, "--view", "all")] == [
        "Default",
        "short-lived",
    ]

    result = invoke("experiments", "restore", "short-lived", "--tracking-uri", db_uri)
    assert result.stdout == f"Restored experiment {experiment_id} ('short-lived') and its runs.\n"
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    assert [e["name"] for e in listed(invoke, db_uri, "--view", "deleted")] == []


def test_empty_view_says_so(invoke: Invoke, db_uri: str) -> None:
    result = invoke("experiments", "list", "--view", "deleted", "--tracking-uri", db_uri)
    assert result.stdout == ""
    assert result.stderr == "No deleted experiments.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("delete", "0"), "Error: The default experiment (ID 0) cannot be deleted\n"),
        (("delete", "Default"), "Error: The default experiment (ID 0) cannot be deleted\n"),
        (
            ("delete", "nope"),
            "Error: No experiment with ID or name 'nope' (see: labtrack experiments list "
            "--view all)\n",
        ),
        (
            ("restore", "424242"),
            "Error: No experiment with ID or name '424242' (see: labtrack experiments list "
            "--view all)\n",
        ),
        (("restore", "0"), "Error: Cannot restore experiment 0: it is not deleted\n"),
        (("rename", "missing", "x"), None),
    ],
)
def test_errors(invoke: Invoke, db_uri: str, args: tuple[str, ...], message: str | None) -> None:
    result = invoke("experiments", *args, "--tracking-uri", db_uri, exit_code=1)
    assert result.stdout == ""
    if message is not None:
        assert result.stderr == message
    assert "Traceback" not in result.output
    assert len(result.stderr.splitlines()) == 1
