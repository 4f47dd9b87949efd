"""The model registry on every store: SqlStore on SQLite, PostgreSQL and MySQL, and
RestStore through a live server, driven through the tracking service (its validation
included), with MLflow's semantics and messages, and the event log of every change."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from typing import Any

import pytest

from labtrack.entities import (
    DatasetInput,
    ModelVersionStage,
    RegistryAction,
    RegistryEvent,
)
from labtrack.errors import (
    InvalidParameterValue,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from labtrack.store.rest import RestStore
from labtrack.tracking.client import TrackingClient
from labtrack.tracking.service import TrackingService

USER = "alice"


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every change is made as "alice" (the REST client sends it in X-Labtrack-User)."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", USER)


@pytest.fixture
def reg(store):
    return TrackingService(store)


@pytest.fixture
def client(store) -> TrackingClient:
    """A client of the same store (for what the client adds: lineage, register_model)."""
    return TrackingClient(store.uri if isinstance(store, RestStore) else store.db_uri)


def events(reg: TrackingService, name: str | None = None, **kw: Any) -> list[RegistryEvent]:
    return list(reg.registry.get_registry_events(name, **kw))


def changes(reg: TrackingService, name: str | None = None) -> list[tuple[Any, ...]]:
    """The events as (action, name, version, from, to, details), oldest first."""
    return [
        (e.action, e.name, e.version, e.from_value, e.to_value, e.details)
        for e in events(reg, name)
    ]


def new_version(reg: TrackingService, name: str, n: int = 0, **kw: Any) -> int:
    return reg.registry.create_model_version(name, f"s3://bucket/{name}/{n}", **kw).version


# -- registered models -------------------------------------------------------------------
def test_create_and_get_registered_model(reg: TrackingService) -> None:
    before = int(time.time() * 1000)
    created = reg.registry.create_registered_model(
        "churn", {"team": "ml", "n": 3}, "Predicts churn"
    )
    assert created.name == "churn"
    assert created.tags == {"team": "ml", "n": "3"}
    assert created.description == "Predicts churn"
    assert created.user_id == USER
    assert created.latest_versions == ()
    assert created.aliases == {}
    assert before <= created.creation_timestamp == created.last_updated_timestamp
    assert reg.registry.get_registered_model("churn") == created


def test_create_twice_is_an_error(reg: TrackingService) -> None:
    reg.registry.create_registered_model("churn")
    with pytest.raises(ResourceAlreadyExists, match=r"^Registered Model \(name=churn\) already"):
        reg.registry.create_registered_model("churn")


def test_missing_model(reg: TrackingService) -> None:
    with pytest.raises(ResourceDoesNotExist, match=r"^Registered Model with name=nope not found$"):
        reg.registry.get_registered_model("nope")
    for call in (
        lambda: reg.registry.create_model_version("nope", "s3://b/m"),
        lambda: reg.registry.delete_registered_model("nope"),
        lambda: reg.registry.rename_registered_model("nope", "other"),
        lambda: reg.registry.update_registered_model("nope", "d"),
        lambda: reg.registry.set_registered_model_tag("nope", "k", "v"),
        lambda: reg.registry.delete_registered_model_alias("nope", "a"),
        lambda: reg.registry.get_latest_versions("nope"),
        lambda: reg.registry.get_model_version("nope", 1),
    ):
        with pytest.raises(ResourceDoesNotExist, match="name=nope not found"):
            call()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Missing value for required parameter 'name'"),
        ("  ", "Missing value for required parameter 'name'"),
        ("a/b", "Names cannot contain '/' or ':'"),
        ("a:b", "Names cannot contain '/' or ':'"),
        ("..", "must not resolve to other names"),
        ("x" * 257, "exceeds the maximum length of 256"),
    ],
)
def test_invalid_model_names(reg: TrackingService, name: str, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        reg.registry.create_registered_model(name)


def test_names_mlflow_allows(reg: TrackingService) -> None:
    for name in ("my model", "my.model", "модель", "a-b_c", "x" * 256, "it's"):
        assert reg.registry.create_registered_model(name).name == name
        assert reg.registry.get_registered_model(name).name == name


def test_rename_keeps_versions_tags_and_aliases(reg: TrackingService) -> None:
    reg.registry.create_registered_model("old", {"k": "v"})
    new_version(reg, "old", 1)
    new_version(reg, "old", 2)
    reg.registry.set_registered_model_alias("old", "champion", 2)
    renamed = reg.registry.rename_registered_model("old", "new")
    assert renamed.name == "new"
    assert renamed.tags == {"k": "v"}
    assert renamed.aliases == {"champion": 2}
    assert [v.name for v in renamed.latest_versions] == ["new"]
    assert reg.registry.get_model_version("new", 1).source == "s3://bucket/old/1"
    assert reg.registry.get_model_version_by_alias("new", "champion").version == 2
    with pytest.raises(ResourceDoesNotExist, match="Registered Model with name=old not found"):
        reg.registry.get_registered_model("old")
    assert new_version(reg, "new", 3) == 3


def test_rename_onto_an_existing_name(reg: TrackingService) -> None:
    reg.registry.create_registered_model("a")
    reg.registry.create_registered_model("b")
    with pytest.raises(ResourceAlreadyExists, match=r"Registered Model \(name=b\) already exists"):
        reg.registry.rename_registered_model("a", "b")
    with pytest.raises(InvalidParameterValue, match="'new_name'"):
        reg.registry.rename_registered_model("a", "")


def test_update_description(reg: TrackingService) -> None:
    created = reg.registry.create_registered_model("m")
    time.sleep(0.002)
    updated = reg.registry.update_registered_model("m", "now documented")
    assert updated.description == "now documented"
    assert updated.last_updated_timestamp > created.last_updated_timestamp
    assert reg.registry.update_registered_model("m", None).description is None


def test_delete_model_deletes_its_versions(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m", {"k": "v"})
    new_version(reg, "m", 1)
    new_version(reg, "m", 2)
    reg.registry.set_registered_model_alias("m", "champion", 1)
    reg.registry.delete_registered_model("m")
    with pytest.raises(ResourceDoesNotExist, match="Registered Model with name=m not found"):
        reg.registry.get_model_version("m", 1)
    assert list(reg.registry.search_model_versions("name = 'm'")) == []
    # A new model of the same name starts afresh.
    recreated = reg.registry.create_registered_model("m")
    assert recreated.tags == {}
    assert recreated.aliases == {}
    assert new_version(reg, "m") == 1


# -- model versions ------------------------------------------------------------------------
def test_create_and_get_model_version(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    run = reg.create_run("0")
    source = f"{run.info.artifact_uri}/model"
    created = reg.registry.create_model_version(
        "m",
        source,
        run_id=run.info.run_id,
        tags={"k": "v"},
        run_link="http://ci/run/1",
        description="first",
    )
    assert created.name == "m"
    assert created.version == 1
    assert created.source == source
    assert created.run_id == run.info.run_id
    assert created.run_link == "http://ci/run/1"
    assert created.description == "first"
    assert created.tags == {"k": "v"}
    assert created.status == "READY"
    assert created.current_stage == "None"
    assert created.user_id == USER
    assert created.aliases == ()
    assert created.model_uri == "models:/m/1"
    assert reg.registry.get_model_version("m", 1) == created
    assert reg.registry.get_model_version("m", "1") == created
    assert reg.registry.get_model_version_download_uri("m", 1) == source
    model = reg.registry.get_registered_model("m")
    assert model.last_updated_timestamp == created.creation_timestamp
    assert model.latest_versions == (created,)


def test_version_numbers_are_never_reused(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    assert [new_version(reg, "m", i) for i in range(3)] == [1, 2, 3]
    reg.registry.delete_model_version("m", 3)
    assert new_version(reg, "m") == 4
    reg.registry.delete_model_version("m", 2)
    assert new_version(reg, "m") == 5
    with pytest.raises(
        ResourceDoesNotExist, match=r"^Model Version \(name=m, version=2\) not found"
    ):
        reg.registry.get_model_version("m", 2)
    with pytest.raises(
        ResourceDoesNotExist, match=r"Model Version \(name=m, version=2\) not found"
    ):
        reg.registry.delete_model_version("m", 2)


def test_concurrent_registrations_get_distinct_numbers(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    numbers: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            for i in range(5):
                numbers.append(new_version(reg, "m", i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(numbers) == list(range(1, 21))


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("x", "Parameter 'version' must be an integer, got 'x'"),
        ("1.5", "must be an integer"),
        (0, "must be a positive integer"),
        (-1, "must be a positive integer"),
        (True, "must be an integer"),
    ],
)
def test_invalid_versions(reg: TrackingService, version: Any, message: str) -> None:
    reg.registry.create_registered_model("m")
    new_version(reg, "m")
    with pytest.raises(InvalidParameterValue, match=message):
        reg.registry.get_model_version("m", version)


def test_create_version_needs_a_source(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    with pytest.raises(InvalidParameterValue, match="'source'"):
        reg.registry.create_model_version("m", "")
    with pytest.raises(InvalidParameterValue, match="Invalid run ID"):
        reg.registry.create_model_version("m", "s3://b/m", run_id="../x")


def test_update_model_version(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    new_version(reg, "m")
    updated = reg.registry.update_model_version("m", 1, "better")
    assert updated.description == "better"
    assert reg.registry.get_model_version("m", 1).description == "better"
    assert reg.registry.update_model_version("m", 1, None).description is None


# -- stages --------------------------------------------------------------------------------
def test_transition_stage_canonical_names(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    new_version(reg, "m")
    for given, canonical in (
        ("staging", "Staging"),
        ("PRODUCTION", "Production"),
        ("archived", "Archived"),
        ("none", "None"),
    ):
        moved = reg.registry.transition_model_version_stage("m", 1, given)
        assert moved.current_stage == canonical
        assert reg.registry.get_model_version("m", 1).current_stage == canonical
    with pytest.raises(InvalidParameterValue, match="Invalid Model Version stage: bogus"):
        reg.registry.transition_model_version_stage("m", 1, "bogus")


def test_archive_existing_only_archives_the_target_stage(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    for i in range(4):
        new_version(reg, "m", i)
    reg.registry.transition_model_version_stage("m", 1, "Production")
    reg.registry.transition_model_version_stage("m", 2, "Production")
    reg.registry.transition_model_version_stage("m", 3, "Staging")
    reg.registry.transition_model_version_stage(
        "m", 4, "Production", archive_existing_versions=True
    )
    stages = {v: reg.registry.get_model_version("m", v).current_stage for v in range(1, 5)}
    assert stages == {1: "Archived", 2: "Archived", 3: "Staging", 4: "Production"}
    with pytest.raises(InvalidParameterValue, match="'Archived' is not an Active stage"):
        reg.registry.transition_model_version_stage(
            "m", 1, "Archived", archive_existing_versions=True
        )


def test_latest_versions_per_stage(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    for i in range(5):
        new_version(reg, "m", i)
    reg.registry.transition_model_version_stage("m", 1, "Production")
    reg.registry.transition_model_version_stage("m", 2, "Production")
    reg.registry.transition_model_version_stage("m", 3, "Staging")
    latest = {v.current_stage: v.version for v in reg.registry.get_latest_versions("m")}
    assert latest == {"Production": 2, "Staging": 3, "None": 5}
    only = reg.registry.get_latest_versions("m", ["production", "Archived"])
    assert [(v.current_stage, v.version) for v in only] == [("Production", 2)]
    model = reg.registry.get_registered_model("m")
    assert [(v.version, v.current_stage) for v in model.latest_versions] == [
        (2, "Production"),
        (3, "Staging"),
        (5, "None"),
    ]
    with pytest.raises(InvalidParameterValue, match="Invalid Model Version stage"):
        reg.registry.get_latest_versions("m", ["nope"])


# -- aliases -------------------------------------------------------------------------------
def test_aliases(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    for i in range(3):
        new_version(reg, "m", i)
    reg.registry.set_registered_model_alias("m", "champion", 1)
    reg.registry.set_registered_model_alias("m", "challenger", "2")
    assert reg.registry.get_model_version_by_alias("m", "champion").version == 1
    assert reg.registry.get_model_version("m", 1).aliases == ("champion",)
    assert reg.registry.get_registered_model("m").aliases == {"challenger": 2, "champion": 1}
    reg.registry.set_registered_model_alias("m", "champion", 2)  # moves it
    assert reg.registry.get_model_version("m", 2).aliases == ("challenger", "champion")
    assert reg.registry.get_model_version("m", 1).aliases == ()
    assert reg.registry.get_model_version_by_alias("m", "latest").version == 3
    assert reg.registry.get_model_version_by_alias("m", "LATEST").version == 3
    reg.registry.delete_registered_model_alias("m", "challenger")
    reg.registry.delete_registered_model_alias(
        "m", "challenger"
    )  # not there: no error, as in MLflow
    assert reg.registry.get_registered_model("m").aliases == {"champion": 2}


def test_alias_of_a_deleted_version_is_gone(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    new_version(reg, "m", 1)
    new_version(reg, "m", 2)
    reg.registry.set_registered_model_alias("m", "champion", 2)
    reg.registry.delete_model_version("m", 2)
    with pytest.raises(InvalidParameterValue, match=r"^Registered model alias champion not found"):
        reg.registry.get_model_version_by_alias("m", "champion")
    assert reg.registry.get_registered_model("m").aliases == {}
    assert reg.registry.get_model_version_by_alias("m", "latest").version == 1


def test_alias_errors(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    with pytest.raises(ResourceDoesNotExist, match="Latest version not found for model m"):
        reg.registry.get_model_version_by_alias("m", "latest")
    new_version(reg, "m")
    with pytest.raises(ResourceDoesNotExist, match=r"Model Version \(name=m, version=9\)"):
        reg.registry.set_registered_model_alias("m", "a", 9)
    for alias, message in (
        ("latest", "'latest' alias name \\(case insensitive\\) is reserved"),
        ("Latest", "is reserved"),
        ("v3", "Version alias name 'v3' is reserved"),
        ("V12", "is reserved"),
        ("bad alias", "Invalid alias name: 'bad alias'"),
        ("a/b", "Invalid alias name"),
        ("", "cannot be empty"),
        ("a" * 256, "exceeds the maximum length of 255"),
    ):
        with pytest.raises(InvalidParameterValue, match=message):
            reg.registry.set_registered_model_alias("m", alias, 1)
    reg.registry.set_registered_model_alias("m", "a" * 255, 1)
    reg.registry.set_registered_model_alias("m", "v1x", 1)  # only v<digits> is reserved


# -- tags ----------------------------------------------------------------------------------
def test_registered_model_tags(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    reg.registry.set_registered_model_tag("m", "team", "ml")
    reg.registry.set_registered_model_tag("m", "team", "platform")
    reg.registry.set_registered_model_tag("m", "n", 5)
    assert reg.registry.get_registered_model("m").tags == {"team": "platform", "n": "5"}
    reg.registry.delete_registered_model_tag("m", "n")
    reg.registry.delete_registered_model_tag("m", "missing")  # no error, as in MLflow
    assert reg.registry.get_registered_model("m").tags == {"team": "platform"}


def test_model_version_tags(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    new_version(reg, "m")
    reg.registry.set_model_version_tag("m", 1, "validated", "true")
    reg.registry.set_model_version_tag("m", "1", "owner", "bob")
    assert reg.registry.get_model_version("m", 1).tags == {"validated": "true", "owner": "bob"}
    reg.registry.delete_model_version_tag("m", 1, "owner")
    reg.registry.delete_model_version_tag("m", 1, "owner")
    assert reg.registry.get_model_version("m", 1).tags == {"validated": "true"}
    with pytest.raises(ResourceDoesNotExist, match=r"version=7\) not found"):
        reg.registry.set_model_version_tag("m", 7, "k", "v")


def test_tag_limits(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    new_version(reg, "m")
    long = "x" * 100_000
    reg.registry.set_registered_model_tag("m", "long", long)
    reg.registry.set_model_version_tag("m", 1, "long", long)
    assert reg.registry.get_registered_model("m").tags["long"] == long
    assert reg.registry.get_model_version("m", 1).tags["long"] == long
    with pytest.raises(InvalidParameterValue, match="exceeds the maximum length of 100000"):
        reg.registry.set_registered_model_tag("m", "long", long + "x")
    with pytest.raises(InvalidParameterValue, match="exceeds the maximum length of 100000"):
        reg.registry.set_model_version_tag("m", 1, "long", long + "x")
    with pytest.raises(
        InvalidParameterValue,
        match=re.escape("Invalid value \"../k\" for parameter 'key' supplied: Names may be"),
    ):
        reg.registry.set_registered_model_tag("m", "../k", "v")
    with pytest.raises(InvalidParameterValue, match="cannot be None"):
        reg.registry.set_model_version_tag("m", 1, "k", None)


# -- sources and lineage ---------------------------------------------------------------------
def test_version_of_a_logged_model(reg: TrackingService) -> None:
    run = reg.create_run("0")
    logged = reg.create_logged_model("0", "clf", source_run_id=run.info.run_id)
    reg.registry.create_registered_model("m")
    version = reg.registry.create_model_version("m", logged.model_uri, model_id=logged.model_id)
    assert version.source == logged.model_uri
    assert version.model_id == logged.model_id
    assert version.run_id == run.info.run_id  # taken from the logged model
    assert reg.registry.get_model_version_download_uri("m", 1) == logged.artifact_location
    # model_id alone: the run comes from the logged model too.
    other = reg.registry.create_model_version(
        "m", f"{logged.artifact_location}/sub", model_id=logged.model_id
    )
    assert other.run_id == run.info.run_id
    with pytest.raises(ResourceDoesNotExist, match="Logged model"):
        reg.registry.create_model_version("m", "models:/m-" + "0" * 32)


def test_version_from_another_version(reg: TrackingService) -> None:
    reg.registry.create_registered_model("src")
    run = reg.create_run("0")
    reg.registry.create_model_version("src", "s3://bucket/model", run_id=run.info.run_id)
    reg.registry.create_model_version("src", "s3://bucket/model2")
    reg.registry.set_registered_model_alias("src", "champion", 1)
    reg.registry.transition_model_version_stage("src", 2, "Production")
    reg.registry.create_registered_model("dst")
    for uri, source, storage in (
        ("models:/src/1", "models:/src/1", "s3://bucket/model"),
        ("models:/src@champion", "models:/src/1", "s3://bucket/model"),
        ("models:/src/production", "models:/src/2", "s3://bucket/model2"),
        ("models:/src/latest", "models:/src/2", "s3://bucket/model2"),
    ):
        version = reg.registry.create_model_version("dst", uri)
        assert version.source == source
        assert reg.registry.get_model_version_download_uri("dst", version.version) == storage
    assert reg.registry.get_model_version("dst", 1).run_id == run.info.run_id
    with pytest.raises(ResourceDoesNotExist, match="version=9"):
        reg.registry.create_model_version("dst", "models:/src/9")
    with pytest.raises(InvalidParameterValue, match="Not a proper models:/ URI"):
        reg.registry.create_model_version("dst", "models:/a/b/c")


def test_version_from_a_run_uri(reg: TrackingService) -> None:
    run = reg.create_run("0")
    reg.registry.create_registered_model("m")
    version = reg.registry.create_model_version("m", f"runs:/{run.info.run_id}/model")
    assert version.source == f"runs:/{run.info.run_id}/model"
    assert version.run_id == run.info.run_id
    expected = f"{run.info.artifact_uri}/model"
    assert reg.registry.get_model_version_download_uri("m", 1) == expected
    # A run this store does not hold (tracking on another server): kept as MLflow keeps
    # it, the runs:/ URI being where a client finds the files.
    elsewhere = reg.registry.create_model_version("m", f"runs:/{'f' * 32}/model")
    assert (elsewhere.source, elsewhere.run_id) == (f"runs:/{'f' * 32}/model", "f" * 32)
    assert reg.registry.get_model_version_download_uri("m", 2) == f"runs:/{'f' * 32}/model"


def test_lineage(reg: TrackingService, client: TrackingClient) -> None:
    from labtrack.entities import Dataset, InputTag, Metric, Param

    run = reg.create_run("0")
    run_id = run.info.run_id
    reg.log_batch(run_id, [Metric("rmse", 0.5, 1000, 0)], [Param("alpha", "0.1")])
    dataset = Dataset("train", "abc123", "local", "/data/train.csv")
    reg.log_inputs(run_id, [DatasetInput(dataset, (InputTag("mlflow.data.context", "train"),))])
    logged = reg.create_logged_model("0", "clf", source_run_id=run_id)
    reg.registry.create_registered_model("m")
    reg.registry.create_model_version("m", logged.model_uri, model_id=logged.model_id)
    lineage = client.get_model_version_lineage("m", 1)
    assert lineage.model_version.version == 1
    assert lineage.run is not None
    assert lineage.run.info.run_id == run_id
    assert lineage.run.data.metrics == {"rmse": 0.5}
    assert lineage.run.data.params == {"alpha": "0.1"}
    assert lineage.logged_model is not None
    assert lineage.logged_model.model_id == logged.model_id
    assert [d.dataset.name for d in lineage.datasets] == ["train"]
    # A version without a run: nothing to follow.
    reg.registry.create_model_version("m", "s3://bucket/elsewhere")
    bare = client.get_model_version_lineage("m", 2)
    assert (bare.run, bare.logged_model, bare.datasets) == (None, None, ())


def test_register_model(
    reg: TrackingService, client: TrackingClient, capsys: pytest.CaptureFixture[str]
) -> None:
    run = reg.create_run("0")
    run_id = run.info.run_id
    client.log_text(run_id, "flavors: {}\n", "model/MLmodel")
    first = client.register_model(f"runs:/{run_id}/model", "m", tags={"k": "v"})
    # MLflow's lines, on the stream MLflow prints them to.
    assert capsys.readouterr().err == (
        "Successfully registered model 'm'.\nCreated version '1' of model 'm'.\n"
    )
    assert (first.version, first.run_id, first.tags) == (1, run_id, {"k": "v"})
    assert first.source == f"{run.info.artifact_uri}/model"
    second = client.register_model(f"runs:/{run_id}/model", "m")
    assert second.version == 2
    assert capsys.readouterr().err == (
        "Registered model 'm' already exists. Creating a new version of this model...\n"
        "Created version '2' of model 'm'.\n"
    )
    logged = reg.create_logged_model("0", "clf", source_run_id=run_id)
    third = client.register_model(logged.model_uri, "m")
    assert (third.model_id, third.run_id) == (logged.model_id, run_id)
    # The logged model lists the versions made from it (as MLflow does).
    tags = reg.get_logged_model(logged.model_id).tags
    assert tags["mlflow.modelVersions"] == '[{"name": "m", "version": 3}]'
    # runs:/<run>/<name> of a logged model the run produced (MLflow 3 models).
    from labtrack.entities import LoggedModelOutput

    reg.log_outputs(run_id, [LoggedModelOutput(logged.model_id, 0)])
    fourth = client.register_model(f"runs:/{run_id}/clf", "m")
    assert (fourth.source, fourth.model_id) == (logged.model_uri, logged.model_id)
    fifth = client.register_model("models:/m/1", "copy")
    assert (fifth.source, fifth.run_id) == ("models:/m/1", run_id)
    assert client.resolve_model_uri("models:/copy/1") == first.source
    assert client.resolve_model_uri(logged.model_uri) == logged.artifact_location
    assert client.get_model_version_from_uri("models:/m/latest").version == 4


def test_register_model_refuses_a_run_path_without_a_model(
    reg: TrackingService, client: TrackingClient
) -> None:
    """MLflow refuses a runs:/ URI that names neither a model nor a logged model; so does
    labtrack, before creating anything (no registered model left behind)."""
    run_id = reg.create_run("0").info.run_id
    client.log_text(run_id, "not a model", "notes/readme.txt")
    for path in ("model", "notes", ""):
        with pytest.raises(ResourceDoesNotExist) as caught:
            client.register_model(f"runs:/{run_id}/{path}", "empty")
        assert caught.value.message == (
            f"Unable to find a logged_model with artifact_path {path} under run {run_id}"
        )
    assert [m.name for m in reg.registry.search_registered_models()] == []


def test_versions_are_listed_on_their_logged_model(reg: TrackingService) -> None:
    """Whichever way a version is made from a logged model (here the service itself, as
    the server's create endpoint does), the model's mlflow.modelVersions tag lists it,
    in MLflow's shape: the version a JSON number, once."""
    run_id = reg.create_run("0").info.run_id
    logged = reg.create_logged_model("0", "clf", source_run_id=run_id)
    reg.registry.create_registered_model("a")
    reg.registry.create_registered_model("b")
    reg.registry.create_model_version("a", logged.model_uri, model_id=logged.model_id)
    reg.registry.create_model_version("b", logged.model_uri, model_id=logged.model_id)
    tag = reg.get_logged_model(logged.model_id).tags["mlflow.modelVersions"]
    assert json.loads(tag) == [{"name": "a", "version": 1}, {"name": "b", "version": 1}]


# -- search --------------------------------------------------------------------------------
def test_search_registered_models(reg: TrackingService) -> None:
    for name, team in (("alpha", "ml"), ("beta", "ml"), ("Gamma", "ops"), ("delta", None)):
        reg.registry.create_registered_model(name, {"team": team} if team else None)

    def names(filter_string: str | None = None, **kw: Any) -> list[str]:
        return [m.name for m in reg.registry.search_registered_models(filter_string, **kw)]

    assert names() == ["Gamma", "alpha", "beta", "delta"]
    assert names("name = 'alpha'") == ["alpha"]
    assert names("name != 'alpha'") == ["Gamma", "beta", "delta"]
    assert names("name LIKE '%a'") == ["Gamma", "alpha", "beta", "delta"]
    assert names("name LIKE 'g%'") == []
    assert names("name ILIKE 'g%'") == ["Gamma"]
    assert names("name IN ('alpha', 'delta')") == ["alpha", "delta"]
    assert names("attribute.name = 'beta'") == ["beta"]
    assert names("tags.team = 'ml'") == ["alpha", "beta"]
    assert names("tag.team != 'ml'") == ["Gamma"]
    assert names("tags.team = 'ml' AND name LIKE 'b%'") == ["beta"]
    assert names("name = 'alpha' OR tags.team = 'ops'") == ["Gamma", "alpha"]  # labtrack
    assert names("tags.team IS NULL") == ["delta"]  # labtrack
    # A long AND of tag tests (several share one subquery), with MLflow's prompt clause.
    many = ["tags.team LIKE '%'", "tags.team != 'ops'", "tags.team ILIKE 'M%'", "tags.x IS NULL"]
    many += ["tags.team IS NOT NULL", "tags.team = 'ml'", "tag.`mlflow.prompt.is_prompt` != 'true'"]
    assert names(" AND ".join(many)) == ["alpha", "beta"]
    # What MLflow's client adds to every search: models without the prompt tag match.
    assert names("tag.`mlflow.prompt.is_prompt` != 'true'") == ["Gamma", "alpha", "beta", "delta"]
    assert names("tags.`mlflow.prompt.is_prompt` = 'true'") == []
    assert names(order_by=["name DESC"]) == ["delta", "beta", "alpha", "Gamma"]
    reg.registry.update_registered_model("alpha", "touched")
    assert names(order_by=["last_updated_timestamp DESC"])[0] == "alpha"
    assert names(order_by=["timestamp DESC"])[0] == "alpha"
    with pytest.raises(InvalidParameterValue, match="unknown attribute 'run_id'"):
        names("run_id = 'x'")
    with pytest.raises(InvalidParameterValue, match="duplicate fields"):
        names(order_by=["name", "name DESC"])
    with pytest.raises(InvalidParameterValue, match="at most 1000"):
        names(max_results=1001)


def test_search_registered_models_pages(reg: TrackingService) -> None:
    for i in range(7):
        reg.registry.create_registered_model(f"m{i}")
    seen: list[str] = []
    token = None
    while True:
        page = reg.registry.search_registered_models(max_results=3, page_token=token)
        seen.extend(m.name for m in page)
        token = page.token
        if token is None:
            break
    assert seen == [f"m{i}" for i in range(7)]


def test_search_model_versions(reg: TrackingService) -> None:
    runs = [reg.create_run("0").info.run_id for _ in range(2)]
    reg.registry.create_registered_model("a")
    reg.registry.create_registered_model("b")
    reg.registry.create_model_version("a", "s3://bucket/a/1", run_id=runs[0], tags={"ok": "yes"})
    reg.registry.create_model_version("a", "s3://bucket/a/2", run_id=runs[1])
    reg.registry.create_model_version("b", "gs://other/b/1", run_id=runs[0])
    reg.registry.transition_model_version_stage("a", 2, "Production")

    def found(filter_string: str | None = None, **kw: Any) -> list[tuple[str, int]]:
        return [
            (v.name, v.version) for v in reg.registry.search_model_versions(filter_string, **kw)
        ]

    # Most recently updated first, then name, then newest version.
    assert found()[0] == ("a", 2)
    assert sorted(found()) == [("a", 1), ("a", 2), ("b", 1)]
    by_name = ["name ASC", "version_number ASC"]
    assert found("name = 'a'", order_by=by_name) == [("a", 1), ("a", 2)]
    assert found("version_number > 1") == [("a", 2)]
    assert found("version_number = 1", order_by=by_name) == [("a", 1), ("b", 1)]
    assert found(f"run_id = '{runs[0]}'", order_by=by_name) == [("a", 1), ("b", 1)]
    assert found(f"run_id IN ('{runs[1]}', 'x')") == [("a", 2)]
    assert found("source_path LIKE 'gs://%'") == [("b", 1)]
    assert found("tags.ok = 'yes'") == [("a", 1)]
    assert found("current_stage = 'production'") == [("a", 2)]  # labtrack
    assert found("name = 'b' OR version_number = 2", order_by=by_name) == [("a", 2), ("b", 1)]
    assert found(order_by=["version_number ASC", "name DESC"]) == [("b", 1), ("a", 1), ("a", 2)]
    page = reg.registry.search_model_versions(max_results=2, order_by=by_name)
    assert [(v.name, v.version) for v in page] == [("a", 1), ("a", 2)]
    rest = reg.registry.search_model_versions(
        max_results=2, order_by=by_name, page_token=page.token
    )
    assert [(v.name, v.version) for v in rest] == [("b", 1)]
    assert rest.token is None
    with pytest.raises(InvalidParameterValue, match="unknown attribute 'bogus'"):
        found("bogus = 'x'")
    with pytest.raises(InvalidParameterValue, match="numeric attribute 'version_number'"):
        found("version_number = 1.5")
    with pytest.raises(InvalidParameterValue, match="cannot order model versions by tag"):
        found(order_by=["tags.ok"])


# -- the event log ---------------------------------------------------------------------------
def test_every_change_is_one_event(reg: TrackingService) -> None:
    A = RegistryAction
    reg.registry.create_registered_model("m", {"t": "1"}, "d1")
    reg.registry.update_registered_model("m", "d2")
    reg.registry.set_registered_model_tag("m", "t", "2")
    reg.registry.set_registered_model_tag("m", "new", "x")
    reg.registry.delete_registered_model_tag("m", "new")
    reg.registry.create_model_version("m", "s3://bucket/1", tags={"v": "1"}, description="v1")
    reg.registry.create_model_version("m", "s3://bucket/2")
    reg.registry.update_model_version("m", 1, "first")
    reg.registry.set_model_version_tag("m", 1, "v", "2")
    reg.registry.delete_model_version_tag("m", 1, "v")
    reg.registry.transition_model_version_stage("m", 1, "production")
    reg.registry.transition_model_version_stage(
        "m", 2, "Production", archive_existing_versions=True
    )
    reg.registry.set_registered_model_alias("m", "champion", 1)
    reg.registry.set_registered_model_alias("m", "champion", 2)
    reg.registry.delete_registered_model_alias("m", "champion")
    reg.registry.set_registered_model_alias("m", "champion", 2)
    reg.registry.delete_model_version("m", 2)
    reg.registry.rename_registered_model("m", "n")
    reg.registry.delete_registered_model("n")
    expected = [
        (A.MODEL_CREATED, "m", None, None, None, {"description": "d1", "tags": {"t": "1"}}),
        (A.MODEL_DESCRIPTION_UPDATED, "m", None, "d1", "d2", {}),
        (A.MODEL_TAG_SET, "m", None, "1", "2", {"key": "t"}),
        (A.MODEL_TAG_SET, "m", None, None, "x", {"key": "new"}),
        (A.MODEL_TAG_DELETED, "m", None, "x", None, {"key": "new"}),
        (
            A.VERSION_CREATED,
            "m",
            1,
            None,
            "s3://bucket/1",
            {"storage_location": "s3://bucket/1", "description": "v1", "tags": {"v": "1"}},
        ),
        (A.VERSION_CREATED, "m", 2, None, "s3://bucket/2", {"storage_location": "s3://bucket/2"}),
        (A.VERSION_DESCRIPTION_UPDATED, "m", 1, "v1", "first", {}),
        (A.VERSION_TAG_SET, "m", 1, "1", "2", {"key": "v"}),
        (A.VERSION_TAG_DELETED, "m", 1, "2", None, {"key": "v"}),
        (A.STAGE_TRANSITIONED, "m", 1, "None", "Production", {}),
        (A.STAGE_TRANSITIONED, "m", 1, "Production", "Archived", {"archived_by_version": 2}),
        (A.STAGE_TRANSITIONED, "m", 2, "None", "Production", {"archive_existing_versions": True}),
        (A.ALIAS_SET, "m", 1, None, "1", {"alias": "champion"}),
        (A.ALIAS_MOVED, "m", 2, "1", "2", {"alias": "champion"}),
        (A.ALIAS_DELETED, "m", 2, "2", None, {"alias": "champion"}),
        (A.ALIAS_SET, "m", 2, None, "2", {"alias": "champion"}),
        (A.VERSION_DELETED, "m", 2, "Production", None, {"aliases": ["champion"]}),
        (A.MODEL_RENAMED, "n", None, "m", "n", {}),
        (A.MODEL_DELETED, "n", None, None, None, {"versions": [1]}),
    ]
    assert changes(reg) == expected
    # The history of the model now called "n" includes the events of its old name.
    assert changes(reg, "n") == expected
    assert changes(reg, "m") == expected[:-1]  # up to the rename away from "m"
    log = events(reg)
    assert {e.claimed_user for e in log} == {USER}
    assert [e.event_id for e in log] == sorted(e.event_id for e in log)
    assert all(b.timestamp >= a.timestamp for a, b in itertools.pairwise(log))
    assert {e.action for e in log} == set(RegistryAction.ALL)


def test_changes_that_change_nothing_record_nothing(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m", {"t": "1"}, "d")
    new_version(reg, "m")
    reg.registry.set_registered_model_alias("m", "champion", 1)
    reg.registry.transition_model_version_stage("m", 1, "Staging")
    before = len(events(reg))
    reg.registry.update_registered_model("m", "d")
    reg.registry.set_registered_model_tag("m", "t", "1")
    reg.registry.delete_registered_model_tag("m", "missing")
    reg.registry.set_model_version_tag("m", 1, "k", "v")
    reg.registry.set_model_version_tag("m", 1, "k", "v")
    reg.registry.delete_model_version_tag("m", 1, "missing")
    reg.registry.set_registered_model_alias("m", "champion", 1)
    reg.registry.delete_registered_model_alias("m", "missing")
    reg.registry.transition_model_version_stage("m", 1, "staging")
    reg.registry.rename_registered_model("m", "m")
    assert [e.action for e in events(reg)[before:]] == [RegistryAction.VERSION_TAG_SET]


def test_failed_changes_record_nothing(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    reg.registry.create_registered_model("other")
    before = len(events(reg))
    for call in (
        lambda: reg.registry.create_registered_model("m"),
        lambda: reg.registry.rename_registered_model("m", "other"),
        lambda: reg.registry.set_registered_model_alias("m", "a", 5),
        lambda: reg.registry.create_model_version("m", "models:/nope/1"),
        lambda: reg.registry.transition_model_version_stage("m", 1, "Production"),
    ):
        with pytest.raises((ResourceAlreadyExists, ResourceDoesNotExist)):
            call()
    assert len(events(reg)) == before


def test_events_outlive_and_follow_renames(reg: TrackingService) -> None:
    reg.registry.create_registered_model("a")
    new_version(reg, "a")
    reg.registry.rename_registered_model("a", "b")
    reg.registry.create_registered_model("a")  # a new model takes the old name
    new_version(reg, "a")
    reg.registry.rename_registered_model("b", "c")
    history_c = [(e.action, e.name) for e in events(reg, "c")]
    assert history_c == [
        ("model_created", "a"),
        ("version_created", "a"),
        ("model_renamed", "b"),
        ("model_renamed", "c"),
    ]
    # The name "a": the first model up to its rename, then the new one.
    assert [(e.action, e.name) for e in events(reg, "a")] == [
        ("model_created", "a"),
        ("version_created", "a"),
        ("model_renamed", "b"),
        ("model_created", "a"),
        ("version_created", "a"),
    ]
    reg.registry.delete_registered_model("c")
    assert events(reg, "c")[-1].action == RegistryAction.MODEL_DELETED


def test_events_by_action_time_and_page(reg: TrackingService) -> None:
    reg.registry.create_registered_model("m")
    for i in range(3):
        new_version(reg, "m", i)
        reg.registry.transition_model_version_stage("m", i + 1, "Production", True)
    deployments = events(reg, actions=[RegistryAction.STAGE_TRANSITIONED])
    to_production = [e for e in deployments if e.to_value == ModelVersionStage.PRODUCTION]
    assert [e.version for e in to_production] == [1, 2, 3]
    everything = events(reg)
    middle = everything[3].timestamp
    assert all(e.timestamp >= middle for e in events(reg, start_time=middle))
    assert all(e.timestamp < middle for e in events(reg, end_time=middle))
    pages: list[int] = []
    token = None
    while True:
        page = reg.registry.get_registry_events("m", max_results=2, page_token=token)
        pages.extend(e.event_id for e in page)
        token = page.token
        if token is None:
            break
    assert pages == [e.event_id for e in everything]
    with pytest.raises(InvalidParameterValue, match="Invalid registry action"):
        events(reg, actions=["deployed"])
    with pytest.raises(InvalidParameterValue, match="Invalid page token"):
        reg.registry.get_registry_events(page_token="garbage!")


# -- the migration ---------------------------------------------------------------------------
def test_migration_from_0003_creates_exactly_the_schema(sql_store) -> None:
    """A database at revision 0003 upgraded through 0004 has exactly today's tables, on
    every database (the SQLite schema snapshot 0003 is upgraded in test_migrations.py)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect, text

    from databases import downgrade
    from labtrack.store.sql import schema as s
    from labtrack.store.sql.migrate import HEAD_REVISION, upgrade

    engine = sql_store.engine
    added = (
        s.webhook_deliveries,  # 0005, also applied by the upgrade to the head
        s.webhooks,
        s.registry_events,
        s.registered_model_aliases,
        s.model_version_tags,
        s.model_versions,
        s.registered_model_tags,
        s.registered_models,
    )
    with engine.begin() as conn:
        downgrade(conn, "0005")  # 0006 changed tables that 0003 has
        for table in added:
            table.drop(conn)
        conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    try:
        assert (
            upgrade(engine, sql_store.db_uri)
            == f"upgraded schema from revision 0003 to {HEAD_REVISION}"
        )
    finally:
        with engine.begin() as conn:  # whatever happened, leave the database usable
            for table in reversed(added):
                table.create(conn, checkfirst=True)
            conn.execute(text(f"UPDATE alembic_version SET version_num = '{HEAD_REVISION}'"))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert list(compare_metadata(context, s.metadata)) == []
        foreign_keys = {
            fk["name"] for fk in inspect(conn).get_foreign_keys("registered_model_aliases")
        }
    assert "fk_registered_model_aliases_registered_model_id" in foreign_keys
    service = TrackingService(sql_store)
    service.registry.create_registered_model("works")
    assert new_version(service, "works") == 1
