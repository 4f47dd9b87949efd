"""The tracking service's own rules, over a real SQLite store.

tests/store/test_store_contract.py checks what every store does (names taken, cascades,
immutable params, history order); tests/test_validation.py tables each validator. This
file checks what the service adds between the API and the store: which validator guards
which argument, the defaults it fills in (run name, user, start and end times, artifact
locations), and the errors it raises itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from labtrack._clock import now_ms
from labtrack._tags import MLFLOW_RUN_NAME, MLFLOW_USER
from labtrack.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from labtrack.errors import InvalidParameterValue, NotImplementedYet, ResourceDoesNotExist
from labtrack.store.sql.store import SqlStore
from labtrack.tracking.service import TrackingService, run_user
from labtrack.validation import INT64_MAX, INT64_MIN

GENERATED_NAME = re.compile(r"^[a-z]+-[a-z]+-\d+$")
MISSING_RUN = "0" * 32

# How MLflow ends its message for a key that resolves to another path.
_RESOLVES = "supplied: Names may be treated as files"


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    return SqlStore(f"sqlite:///{tmp_path / 'tracking.db'}", (tmp_path / "artifacts").as_uri())


@pytest.fixture
def service(store: SqlStore) -> TrackingService:
    return TrackingService(store)


@pytest.fixture
def strict(store: SqlStore) -> TrackingService:
    """A service that refuses long values instead of truncating them."""
    return TrackingService(store, truncate_long_values=False)


@pytest.fixture
def run_id(service: TrackingService) -> str:
    return service.create_run("0", run_name="r").info.run_id


# -- experiments -----------------------------------------------------------------------
def test_create_experiment_with_tags_and_the_default_location(
    service: TrackingService, tmp_path: Path
) -> None:
    exp_id = service.create_experiment("fraud", tags={"team": "risk", "n": 3, "none": None})
    exp = service.get_experiment(exp_id)
    assert exp.name == "fraud"
    assert exp.tags == {"team": "risk", "n": "3", "none": "None"}  # values become strings
    assert exp.artifact_location == f"{(tmp_path / 'artifacts').as_uri()}/{exp_id}"
    assert service.get_experiment_by_name("fraud") == exp
    assert service.get_experiment(int(exp_id)) == exp  # type: ignore[arg-type]  # an int id


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("s3://bucket/prefix/", "s3://bucket/prefix"),  # no trailing slash
        ("mlflow-artifacts:/team/fraud", "mlflow-artifacts:/team/fraud"),
        ("file:///srv/artifacts", "file:///srv/artifacts"),
    ],
)
def test_explicit_artifact_locations_are_uris(
    service: TrackingService, given: str, expected: str
) -> None:
    exp_id = service.create_experiment("e", artifact_location=given)
    assert service.get_experiment(exp_id).artifact_location == expected


def test_a_local_path_as_artifact_location_becomes_an_absolute_file_uri(
    service: TrackingService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A relative path kept as given would resolve against whichever directory each
    # later reader (another script, the UI server) happens to run in.
    monkeypatch.chdir(tmp_path)
    relative = service.create_experiment("relative", artifact_location="out/artifacts")
    absolute = service.create_experiment("absolute", artifact_location=str(tmp_path / "abs"))
    assert service.get_experiment(relative).artifact_location == (
        (tmp_path / "out" / "artifacts").as_uri()
    )
    assert service.get_experiment(absolute).artifact_location == (tmp_path / "abs").as_uri()
    run = service.create_run(relative)
    assert run.info.artifact_uri == (
        f"{(tmp_path / 'out' / 'artifacts').as_uri()}/{run.info.run_id}/artifacts"
    )


def test_an_empty_artifact_location_means_the_default(
    service: TrackingService, tmp_path: Path
) -> None:
    exp_id = service.create_experiment("e", artifact_location="")
    root = (tmp_path / "artifacts").as_uri()
    assert service.get_experiment(exp_id).artifact_location == f"{root}/{exp_id}"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (None, r"^Invalid experiment name None: it must be a string, got NoneType$"),
        (7, r"^Invalid experiment name 7: it must be a string, got int$"),
        ("", r"^Invalid experiment name: it must not be empty$"),
        ("   ", r"^Invalid experiment name: it must not be empty$"),
        ("x" * 501, r"^Experiment name 'x{50}'\.\.\. is 501 characters long; the limit is 500$"),
    ],
)
def test_experiment_name_rules(service: TrackingService, name: object, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        service.create_experiment(name)  # type: ignore[arg-type]
    exp_id = service.create_experiment("kept")
    with pytest.raises(InvalidParameterValue, match=message):
        service.rename_experiment(exp_id, name)  # type: ignore[arg-type]
    assert service.get_experiment(exp_id).name == "kept"
    with pytest.raises(InvalidParameterValue, match=message):
        service.get_experiment_by_name(name)  # type: ignore[arg-type]


def test_longest_experiment_name(service: TrackingService) -> None:
    exp_id = service.create_experiment("x" * 500)
    assert service.get_experiment(exp_id).name == "x" * 500


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"artifact_location": 3},
            InvalidParameterValue,
            r"^Invalid artifact location 3: it must be a string$",
        ),
        (
            {"tags": {"../up": "v"}},
            InvalidParameterValue,
            r"^Invalid value \"\.\./up\" for parameter 'key' " + _RESOLVES,
        ),
        (
            {"tags": {"k": "x" * 20001}},
            InvalidParameterValue,
            r"^Value of experiment tag 'k' is 20001 characters long; the limit is 20000$",
        ),
    ],
)
def test_create_experiment_refusals(
    service: TrackingService, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        service.create_experiment("e", **kwargs)  # type: ignore[arg-type]
    assert service.get_experiment_by_name("e") is None  # nothing half-created


@pytest.mark.parametrize(
    ("experiment_id", "message"),
    [
        ("", r"^Invalid experiment ID ''$"),
        ("a b", r"^Invalid experiment ID 'a b'$"),
        ("-1", r"^Invalid experiment ID '-1'$"),
        (True, r"^Invalid experiment ID True$"),
        (None, r"^Invalid experiment ID None$"),
        ("1" * 65, r"^Invalid experiment ID '1{65}'$"),
        ("abc", r"^Invalid experiment ID 'abc'\. Experiment ID must be a valid integer\.$"),
    ],
)
def test_experiment_id_rules(service: TrackingService, experiment_id: object, message: str) -> None:
    calls = [
        lambda: service.get_experiment(experiment_id),  # type: ignore[arg-type]
        lambda: service.delete_experiment(experiment_id),  # type: ignore[arg-type]
        lambda: service.restore_experiment(experiment_id),  # type: ignore[arg-type]
        lambda: service.rename_experiment(experiment_id, "n"),  # type: ignore[arg-type]
        lambda: service.set_experiment_tag(experiment_id, "k", "v"),  # type: ignore[arg-type]
        lambda: service.delete_experiment_tag(experiment_id, "k"),  # type: ignore[arg-type]
        lambda: service.create_run(experiment_id),  # type: ignore[arg-type]
        lambda: service.search_runs([experiment_id]),  # type: ignore[list-item]
    ]
    for call in calls:
        with pytest.raises(InvalidParameterValue, match=message):
            call()


def test_experiment_lifecycle(service: TrackingService) -> None:
    exp_id = service.create_experiment("e")
    service.rename_experiment(exp_id, "renamed")
    assert service.get_experiment_by_name("e") is None
    service.delete_experiment(exp_id)
    assert service.get_experiment(exp_id).lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(
        InvalidParameterValue,
        match=rf"^Cannot rename a non-active experiment\. Experiment {exp_id} is deleted\.$",
    ):
        service.rename_experiment(exp_id, "again")
    service.restore_experiment(exp_id)
    restored = service.get_experiment(exp_id)
    assert (restored.name, restored.lifecycle_stage) == ("renamed", LifecycleStage.ACTIVE)
    with pytest.raises(
        InvalidParameterValue, match=r"^The default experiment \(ID 0\) cannot be deleted$"
    ):
        service.delete_experiment("0")
    with pytest.raises(ResourceDoesNotExist, match=r"^No Experiment with id=999 exists$"):
        service.get_experiment("999")


def test_experiment_tags(service: TrackingService, strict: TrackingService) -> None:
    exp_id = service.create_experiment("e")
    service.set_experiment_tag(exp_id, "n", 1.5)
    assert service.get_experiment(exp_id).tags == {"n": "1.5"}
    with pytest.raises(
        InvalidParameterValue,
        match=r"^Value of experiment tag 'n' is 20001 characters long; the limit is 20000$",
    ):
        strict.set_experiment_tag(exp_id, "n", "x" * 20001)  # never truncated
    with pytest.raises(InvalidParameterValue, match=r"^Experiment tag key must be a non-empty"):
        service.delete_experiment_tag(exp_id, "")
    service.delete_experiment_tag(exp_id, "n")
    with pytest.raises(
        ResourceDoesNotExist, match=rf"^No tag with name: n in experiment with id {exp_id}$"
    ):
        service.delete_experiment_tag(exp_id, "n")


def test_search_experiments_pages_and_views(service: TrackingService) -> None:
    ids = [service.create_experiment(f"e{i}") for i in range(3)]
    service.delete_experiment(ids[0])
    first = service.search_experiments(max_results=2, order_by="name")  # one string is a list
    assert [e.name for e in first] == ["Default", "e1"]
    assert first.token is not None
    rest = service.search_experiments(max_results=2, order_by="name", page_token=first.token)
    assert ([e.name for e in rest], rest.token) == (["e2"], None)
    for view_type in (ViewType.DELETED_ONLY, "deleted_only", "DELETED_ONLY"):
        assert [e.name for e in service.search_experiments(view_type)] == ["e0"]
    assert len(service.search_experiments("ALL")) == 4
    assert len(service.search_experiments(None)) == 3  # None is ACTIVE_ONLY
    found = service.search_experiments(filter_string="name LIKE 'e%'", order_by=["name DESC"])
    assert [e.name for e in found] == ["e2", "e1"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_results": 0}, "Invalid value 0 for parameter 'max_results' supplied"),
        ({"max_results": -1}, "Invalid value -1 for parameter 'max_results' supplied"),
        ({"max_results": 50_001}, "It must be a positive integer at most 50000$"),
        ({"max_results": True}, r"^Invalid max_results True for search_experiments: it must"),
        ({"max_results": "10"}, r"^Invalid max_results '10' for search_experiments: it must"),
        ({"view_type": "bogus"}, r"^Invalid view type 'bogus': expected ACTIVE_ONLY, DELETED"),
        ({"view_type": 4}, r"^Invalid view type 4$"),
    ],
)
def test_search_experiments_refusals(
    service: TrackingService, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        service.search_experiments(**kwargs)  # type: ignore[arg-type]


# -- runs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tags", "user_id", "expected"),
    [
        ({MLFLOW_USER: "ana"}, None, "ana"),
        ({MLFLOW_USER: "ana"}, "bo", "bo"),  # an explicit user wins over the tag
        ({MLFLOW_USER: "ana"}, "", ""),  # even an empty one
        ({}, None, ""),
        ({"user": "ana"}, None, ""),  # only mlflow.user counts
    ],
)
def test_run_user(tags: dict[str, str], user_id: str | None, expected: str) -> None:
    assert run_user(tags, user_id) == expected


def test_a_run_is_by_its_mlflow_user_tag(service: TrackingService) -> None:
    run = service.create_run("0", tags={MLFLOW_USER: "ana"})
    assert run.info.user_id == "ana"
    assert run.data.tags[MLFLOW_USER] == "ana"
    assert service.create_run("0", tags={MLFLOW_USER: "ana"}, user_id="bo").info.user_id == "bo"
    assert service.create_run("0").info.user_id == ""
    assert service.get_run(run.info.run_id).info.user_id == "ana"


def test_create_run_fills_in_name_start_time_and_tags(service: TrackingService) -> None:
    before = now_ms()
    run = service.create_run("0", tags=[RunTag("k", "v"), RunTag("n", 3)])  # type: ignore[arg-type]
    after = now_ms()
    assert GENERATED_NAME.match(run.info.run_name)
    assert run.data.tags == {"k": "v", "n": "3", MLFLOW_RUN_NAME: run.info.run_name}
    assert run.info.start_time is not None
    assert before <= run.info.start_time <= after
    assert run.info.end_time is None
    assert (run.info.status, run.info.lifecycle_stage) == (RunStatus.RUNNING, "active")
    assert run.info.experiment_id == "0"
    assert service.get_run(run.info.run_id) == run


@pytest.mark.parametrize(
    ("run_name", "tags", "expected"),
    [
        ("given", {}, "given"),
        (None, {MLFLOW_RUN_NAME: "from-tag"}, "from-tag"),
        ("same", {MLFLOW_RUN_NAME: "same"}, "same"),
        ("given", {MLFLOW_RUN_NAME: ""}, "given"),  # an empty tag is no name (as MLflow)
        ("", {MLFLOW_RUN_NAME: "from-tag"}, "from-tag"),  # nor an empty run_name
        ("x" * 250, {}, "x" * 250),
    ],
)
def test_run_name_from_the_argument_or_the_tag(
    service: TrackingService, run_name: str | None, tags: dict[str, str], expected: str
) -> None:
    run = service.create_run("0", run_name=run_name, tags=tags)
    assert run.info.run_name == expected
    assert run.data.tags[MLFLOW_RUN_NAME] == expected


@pytest.mark.parametrize("run_name", ["", None])
def test_a_run_without_a_name_gets_one(service: TrackingService, run_name: str | None) -> None:
    assert GENERATED_NAME.match(service.create_run("0", run_name=run_name).info.run_name)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"run_name": "a", "tags": {MLFLOW_RUN_NAME: "b"}},
            r"^Both run_name \('a'\) and the tag mlflow\.runName \('b'\) were given, "
            "with different values$",
        ),
        ({"run_name": 3}, r"^Invalid run name 3: it must be a string$"),
        (
            {"run_name": "x" * 251},
            r"^Run name 'x+'\.\.\. is 251 characters long; the limit is 250$",
        ),
        ({"start_time": -1}, r"^Got invalid start_time: -1 is negative$"),
        ({"start_time": 2**63}, r"^Got invalid start_time: 9223372036854775808 does not fit"),
        ({"start_time": True}, r"^Got invalid start_time: True is not an integer$"),
        ({"start_time": "now"}, r"^Got invalid start_time: 'now' is not an integer$"),
        ({"start_time": float("nan")}, r"^Got invalid start_time: nan is not an integer$"),
        ({"tags": {"": "v"}}, r"^Tag key must be a non-empty string$"),
        (
            {"tags": {"a//b": "v"}},
            r"^Invalid value \"a//b\" for parameter 'key' " + _RESOLVES,
        ),
        ({"tags": [RunTag(None, "v")]}, r"^Tag key must be a non-empty string$"),  # type: ignore[arg-type]
    ],
)
def test_create_run_refusals(
    service: TrackingService, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        service.create_run("0", **kwargs)  # type: ignore[arg-type]
    assert service.search_runs(["0"]) == []  # nothing was created


@pytest.mark.parametrize(("given", "stored"), [(0, 0), (INT64_MAX, INT64_MAX), (1.9, 1)])
def test_start_time_range(service: TrackingService, given: float, stored: int) -> None:
    run = service.create_run("0", start_time=given)  # type: ignore[arg-type]
    assert run.info.start_time == stored
    assert service.get_run(run.info.run_id).info.start_time == stored


def test_long_tag_values_are_truncated_unless_strict(
    service: TrackingService, strict: TrackingService
) -> None:
    run = service.create_run("0", tags={"k": "x" * 8001})
    assert run.data.tags["k"] == "x" * 8000
    with pytest.raises(
        InvalidParameterValue,
        match=r"^Value of tag 'k' is 8001 characters long; the limit is 8000$",
    ):
        strict.create_run("0", tags={"k": "x" * 8001})


def test_create_run_in_a_missing_or_deleted_experiment(service: TrackingService) -> None:
    with pytest.raises(ResourceDoesNotExist, match=r"^No Experiment with id=999 exists$"):
        service.create_run("999")
    exp_id = service.create_experiment("gone")
    service.delete_experiment(exp_id)
    with pytest.raises(InvalidParameterValue, match="active"):
        service.create_run(exp_id)


def test_update_run(service: TrackingService, run_id: str) -> None:
    info = service.update_run(run_id, RunStatus.SCHEDULED)
    assert (info.status, info.end_time, info.run_name) == (RunStatus.SCHEDULED, None, "r")
    info = service.update_run(run_id, run_name="renamed", end_time=INT64_MAX)
    assert (info.status, info.end_time, info.run_name) == (
        RunStatus.SCHEDULED,
        INT64_MAX,
        "renamed",
    )
    run = service.get_run(run_id)
    assert run.info == info
    assert run.data.tags[MLFLOW_RUN_NAME] == "renamed"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"status": "DONE"},
            r"^Invalid run status 'DONE': expected one of RUNNING, SCHEDULED, FINISHED, "
            "FAILED, KILLED$",
        ),
        ({"status": "finished"}, r"^Invalid run status 'finished'"),  # names are upper case
        ({"run_name": 3}, r"^Invalid run name 3: it must be a string$"),
        ({"run_name": "x" * 251}, r"^Run name 'x+'\.\.\. is 251 characters long"),
        ({"end_time": -5}, r"^Got invalid end_time: -5 is negative$"),
        ({"end_time": 2**64}, r"^Got invalid end_time: 18446744073709551616 does not fit"),
        ({"end_time": "soon"}, r"^Got invalid end_time: 'soon' is not an integer$"),
    ],
)
def test_update_run_refusals(
    service: TrackingService, run_id: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        service.update_run(run_id, **kwargs)  # type: ignore[arg-type]
    info = service.get_run(run_id).info
    assert (info.status, info.end_time, info.run_name) == (RunStatus.RUNNING, None, "r")


@pytest.mark.parametrize("status", sorted(RunStatus.TERMINATED))
def test_set_terminated_defaults_the_end_time_to_now(
    service: TrackingService, run_id: str, status: str
) -> None:
    before = now_ms()
    info = service.set_terminated(run_id, status)
    assert info.status == status
    assert info.end_time is not None
    assert before <= info.end_time <= now_ms()
    assert service.set_terminated(run_id, status, end_time=7).end_time == 7


def test_set_terminated_finishes_by_default(service: TrackingService, run_id: str) -> None:
    assert service.set_terminated(run_id).status == RunStatus.FINISHED


@pytest.mark.parametrize("status", [RunStatus.RUNNING, RunStatus.SCHEDULED, "DONE"])
def test_set_terminated_refuses_a_status_that_is_not_terminal(
    service: TrackingService, run_id: str, status: str
) -> None:
    with pytest.raises(
        InvalidParameterValue,
        match=rf"^Invalid terminal status '{status}': expected FINISHED, FAILED or KILLED$",
    ):
        service.set_terminated(run_id, status)
    assert service.get_run(run_id).info.status == RunStatus.RUNNING


def test_delete_and_restore_run(service: TrackingService, run_id: str) -> None:
    service.delete_run(run_id)
    assert service.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert service.search_runs(["0"]) == []
    assert [r.info.run_id for r in service.search_runs(["0"], view_type="DELETED_ONLY")] == [run_id]
    service.restore_run(run_id)
    assert service.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE


@pytest.mark.parametrize(
    ("run_id", "message"),
    [
        ("", r"^Invalid run ID ''$"),
        ("-abc", r"^Invalid run ID '-abc'$"),
        ("a/b", r"^Invalid run ID 'a/b'$"),
        ("a" * 257, r"^Invalid run ID 'a{257}'$"),
        (None, r"^Invalid run ID None$"),
        (42, r"^Invalid run ID 42$"),
    ],
)
def test_run_id_rules(service: TrackingService, run_id: object, message: str) -> None:
    calls = [
        lambda: service.get_run(run_id),  # type: ignore[arg-type]
        lambda: service.update_run(run_id, RunStatus.FINISHED),  # type: ignore[arg-type]
        lambda: service.set_terminated(run_id),  # type: ignore[arg-type]
        lambda: service.delete_run(run_id),  # type: ignore[arg-type]
        lambda: service.restore_run(run_id),  # type: ignore[arg-type]
        lambda: service.log_metric(run_id, "m", 1.0),  # type: ignore[arg-type]
        lambda: service.log_param(run_id, "p", 1),  # type: ignore[arg-type]
        lambda: service.set_tag(run_id, "t", 1),  # type: ignore[arg-type]
        lambda: service.delete_tag(run_id, "t"),  # type: ignore[arg-type]
        lambda: service.log_batch(run_id),  # type: ignore[arg-type]
        lambda: service.log_inputs(run_id, []),  # type: ignore[arg-type]
        lambda: service.get_metric_history(run_id, "m"),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(InvalidParameterValue, match=message):
            call()


def test_a_missing_run(service: TrackingService) -> None:
    with pytest.raises(ResourceDoesNotExist, match=rf"^Run with id={MISSING_RUN} not found$"):
        service.get_run(MISSING_RUN)
    with pytest.raises(ResourceDoesNotExist, match=rf"^Run with id={MISSING_RUN} not found$"):
        service.log_batch(MISSING_RUN)  # an empty batch still checks the run


# -- logging one value -------------------------------------------------------------------
def test_log_metric_defaults_step_and_timestamp(service: TrackingService, run_id: str) -> None:
    before = now_ms()
    service.log_metric(run_id, "loss", 1)  # an int value is stored as a float
    service.log_metric(run_id, "loss", 0.5, timestamp=5, step=INT64_MIN)
    (first, second) = sorted(service.get_metric_history(run_id, "loss"), key=lambda m: -m.step)
    assert (first.value, first.step) == (1.0, 0)
    assert type(first.value) is float
    assert before <= first.timestamp <= now_ms()
    assert second == Metric("loss", 0.5, 5, INT64_MIN)


@pytest.mark.parametrize(
    ("value", "timestamp", "step", "message"),
    [
        ("1", 0, 0, r"^Got invalid value '1' for metric 'm': the value must be a number"),
        (None, 0, 0, r"^Got invalid value None for metric 'm'"),
        (True, 0, 0, r"^Got invalid value True for metric 'm'"),
        (1.0, -1, 0, r"^Got invalid timestamp -1 for metric 'm': it must be a non-negative"),
        (1.0, 2**63, 0, r"^Got invalid timestamp of metric 'm': 9223372036854775808 does not"),
        (1.0, 0, 2**63, r"^Got invalid step of metric 'm': 9223372036854775808 does not fit"),
        (1.0, 0, -(2**63) - 1, r"^Got invalid step of metric 'm': -9223372036854775809 does"),
        (1.0, 0, "1", r"^Got invalid step of metric 'm': '1' is not an integer$"),
    ],
)
def test_log_metric_refusals(
    service: TrackingService,
    run_id: str,
    value: object,
    timestamp: object,
    step: object,
    message: str,
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        service.log_metric(run_id, "m", value, timestamp, step)  # type: ignore[arg-type]
    assert service.get_metric_history(run_id, "m") == []


def test_log_param_returns_the_value_and_stores_its_text(
    service: TrackingService, strict: TrackingService, run_id: str
) -> None:
    value = {"depth": 4}
    assert service.log_param(run_id, "cfg", value) is value
    service.log_param(run_id, "long", "x" * 6001)
    assert service.get_run(run_id).data.params == {"cfg": "{'depth': 4}", "long": "x" * 6000}
    with pytest.raises(
        InvalidParameterValue,
        match=r"^Value of param 'longer' is 6001 characters long; the limit is 6000$",
    ):
        strict.log_param(run_id, "longer", "x" * 6001)
    with pytest.raises(InvalidParameterValue, match=r"^Param key must be a string, got int$"):
        service.log_param(run_id, 3, "v")  # type: ignore[arg-type]


def test_set_and_delete_tag(service: TrackingService, run_id: str) -> None:
    service.set_tag(run_id, "k", None)
    assert service.get_run(run_id).data.tags["k"] == "None"
    service.delete_tag(run_id, "k")
    assert "k" not in service.get_run(run_id).data.tags
    with pytest.raises(
        ResourceDoesNotExist, match=rf"^No tag with name: k in run with id {run_id}$"
    ):
        service.delete_tag(run_id, "k")
    with pytest.raises(InvalidParameterValue, match=r"^Tag key must be a non-empty string$"):
        service.delete_tag(run_id, "")
    with pytest.raises(
        InvalidParameterValue,
        match=r"^Invalid value \"a\*\" for parameter 'key' supplied: Names may only",
    ):
        service.set_tag(run_id, "a*", "v")


# -- log_batch ---------------------------------------------------------------------------
def metrics(n: int) -> list[Metric]:
    return [Metric(f"m{i}", float(i), 0, 0) for i in range(n)]


def params(n: int) -> list[Param]:
    return [Param(f"p{i}", str(i)) for i in range(n)]


def tags(n: int) -> list[RunTag]:
    return [RunTag(f"t{i}", str(i)) for i in range(n)]


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (
            {"metrics": metrics(1001)},
            r"^A batch logging request can contain at most 1000 metrics\. Got 1001 metrics\.",
        ),
        (
            {"params": params(101)},
            r"^A batch logging request can contain at most 100 params\. Got 101 params\.",
        ),
        (
            {"tags": tags(101)},
            r"^A batch logging request can contain at most 100 tags\. Got 101 tags\.",
        ),
        (
            {"metrics": metrics(900), "params": params(100), "tags": tags(1)},
            r"^A batch logging request can contain at most 1000 metrics, params, and tags\. "
            r"Got 1001\.",
        ),
    ],
)
def test_mlflow_batch_limits(
    service: TrackingService, run_id: str, batch: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        service.log_batch(run_id, **batch, limits="mlflow")
    assert service.get_run(run_id).data.metrics == {}
    service.log_batch(run_id, **batch)  # labtrack's own callers have no such limit
    run = service.get_run(run_id).data
    assert len(run.metrics) + len(run.params) + len(run.tags) - 1 == sum(map(len, batch.values()))


def test_mlflow_batch_limits_are_inclusive(service: TrackingService, run_id: str) -> None:
    service.log_batch(run_id, metrics(900), params(100), limits="mlflow")
    service.log_batch(run_id, tags=tags(100), limits="mlflow")
    data = service.get_run(run_id).data
    assert (len(data.metrics), len(data.params), len(data.tags)) == (900, 100, 101)


def points(n: int, keys: int = 1) -> list[Metric]:
    return [Metric(f"m{i % keys}", float(i), 0, i) for i in range(n)]


@pytest.mark.parametrize(
    ("batch", "what", "limit", "got"),
    [
        ({"metrics": points(200_001)}, "metric points", 200_000, 200_001),
        ({"metrics": points(1001, keys=1001)}, "metric keys", 1000, 1001),
        ({"params": params(1001)}, "params", 1000, 1001),
        ({"tags": tags(1001)}, "tags", 1000, 1001),
    ],
    ids=["points", "keys", "params", "tags"],
)
def test_bulk_limits(
    service: TrackingService, run_id: str, batch: dict[str, Any], what: str, limit: int, got: int
) -> None:
    with pytest.raises(InvalidParameterValue) as refused:
        service.log_batch(run_id, **batch, limits="bulk")
    assert refused.value.message == (
        f"A bulk logging request can contain at most {limit} {what}. Got {got} {what}. "
        "Please split up the batch across several requests and try again."
    )
    assert service.get_run(run_id).data.metrics == {}


def test_the_bulk_limit_on_text_counts_values_as_stored(
    service: TrackingService, strict: TrackingService, run_id: str
) -> None:
    """At most 1,000,000 characters of param and tag keys and values per request, counted
    as they are stored: a value cut to MLflow's 6,000 counts 6,000."""
    long_params = [Param(f"p{i:03}", "x" * 4996) for i in range(200)]  # 1,000,000 in all
    service.log_batch(run_id, params=long_params, limits="bulk")
    one_more = [RunTag("t", "")]
    other = service.create_run("0", run_name="other").info.run_id
    with pytest.raises(InvalidParameterValue) as refused:
        service.log_batch(other, params=long_params, tags=one_more, limits="bulk")
    assert refused.value.message == (
        "A bulk logging request can contain at most 1000000 characters of param and tag keys "
        "and values. Got 1000001. Please split up the params and tags across several "
        "requests and try again."
    )
    assert service.get_run(other).data.params == {}
    # A value longer than MLflow's 6,000 is counted as it is stored: cut to 6,000.
    service.log_batch(other, params=[Param("long", "y" * 50_000)], limits="bulk")
    assert len(service.get_run(other).data.params["long"]) == 6000
    with pytest.raises(InvalidParameterValue, match="the limit is 6000"):
        strict.log_batch(other, params=[Param("long2", "y" * 50_000)], limits="bulk")


def test_bulk_limits_are_inclusive(service: TrackingService, run_id: str) -> None:
    service.log_batch(run_id, points(200_000, keys=1000), params(1000), tags(999), limits="bulk")
    data = service.get_run(run_id).data
    assert (len(data.metrics), len(data.params), len(data.tags)) == (1000, 1000, 1000)


def test_log_batch_checks_and_converts_every_item(service: TrackingService, run_id: str) -> None:
    service.log_batch(
        run_id,
        metrics=[Metric("a", 1, 2, 3), Metric("b", 0.5, INT64_MAX, INT64_MIN)],
        params=[Param("p", 1)],  # type: ignore[arg-type]
        tags=[RunTag("t", 2.5)],  # type: ignore[arg-type]
        request_id="r" * 64,
    )
    data = service.get_run(run_id).data
    assert data.params == {"p": "1"}
    assert data.tags["t"] == "2.5"
    assert service.get_metric_history(run_id, "a") == [Metric("a", 1.0, 2, 3)]
    assert service.get_metric_history(run_id, "b") == [Metric("b", 0.5, INT64_MAX, INT64_MIN)]


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (
            {"params": [Param("a", "1"), Param("b", "2"), Param("a", "1")]},
            r"^Duplicate parameter keys have been submitted: \['a'\]\. Please ensure",
        ),
        (
            {"metrics": [Metric("m", "x", 0, 0)]},  # type: ignore[arg-type]
            r"^Got invalid value 'x' for metric 'm' \(metrics\[1\]\): the value must be",
        ),
        (
            {"metrics": [Metric("m", 1.0, -1, 0)]},
            r"^Got invalid timestamp -1 for metric 'm' \(metrics\[1\]\): it must be",
        ),
        (
            {"metrics": [Metric("m", 1.0, 2**63, 0)]},
            r"^Got invalid timestamp of metric 'm' \(metrics\[1\]\): 9223372036854775808 does",
        ),
        (
            {"metrics": [Metric("m", 1.0, 0, 2**63)]},
            r"^Got invalid step of metric 'm' \(metrics\[1\]\): 9223372036854775808 does not",
        ),
        (
            {"metrics": [Metric("m", 1.0, 0, -(2**63) - 1)]},
            r"^Got invalid step of metric 'm' \(metrics\[1\]\): -9223372036854775809 does not",
        ),
        (
            {"metrics": [Metric("../m", 1.0, 0, 0)]},
            r"^Invalid value \"\.\./m\" for parameter 'metrics\[\d+\]\.name' " + _RESOLVES,
        ),
        ({"params": [Param("", "v")]}, r"^Param key must be a non-empty string$"),
        (
            {"tags": [RunTag("a b/", "v")]},
            r"^Invalid value \"a b/\" for parameter 'tags\[\d+\]\.key' " + _RESOLVES,
        ),
        ({"request_id": ""}, r"^Invalid request_id '': 1 to 64 characters$"),
        ({"request_id": "r" * 65}, r"^Invalid request_id 'r{65}': 1 to 64 characters$"),
        ({"request_id": 7}, r"^Invalid request_id 7: 1 to 64 characters$"),
    ],
)
def test_log_batch_refusals_write_nothing(
    service: TrackingService, run_id: str, batch: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):  # metrics[0] is valid
        service.log_batch(
            run_id,
            metrics=[Metric("before", 1.0, 0, 0), *batch.get("metrics", [])],  # type: ignore[misc]
            params=batch.get("params", ()),  # type: ignore[arg-type]
            tags=batch.get("tags", ()),  # type: ignore[arg-type]
            request_id=batch.get("request_id"),  # type: ignore[arg-type]
        )
    data = service.get_run(run_id).data
    assert (data.metrics, data.params) == ({}, {})


def test_log_batch_truncates_long_values_unless_strict(
    service: TrackingService, strict: TrackingService, run_id: str
) -> None:
    service.log_batch(run_id, params=[Param("p", "x" * 6001)], tags=[RunTag("t", "y" * 8001)])
    data = service.get_run(run_id).data
    assert (len(data.params["p"]), len(data.tags["t"])) == (6000, 8000)
    with pytest.raises(InvalidParameterValue, match=r"^Value of param 'q' is 6001 characters long"):
        strict.log_batch(run_id, params=[Param("q", "x" * 6001)])
    with pytest.raises(InvalidParameterValue, match=r"^Value of tag 'u' is 8001 characters long"):
        strict.log_batch(run_id, tags=[RunTag("u", "y" * 8001)])


def test_a_repeated_request_id_is_applied_once(service: TrackingService, run_id: str) -> None:
    for _ in range(2):
        service.log_batch(run_id, metrics=[Metric("m", 1.0, 0, 0)], request_id="req-1")
    assert len(service.get_metric_history(run_id, "m")) == 1


# -- log_inputs --------------------------------------------------------------------------
def dataset_input(
    name: str = "train", digest: str = "abc", tags: tuple[InputTag, ...] = ()
) -> DatasetInput:
    return DatasetInput(Dataset(name, digest, "local", "{}"), tags)


def test_log_inputs_at_the_limits(service: TrackingService, run_id: str) -> None:
    item = dataset_input("n" * 500, "d" * 36, (InputTag("k" * 255, "v" * 500),))
    service.log_inputs(run_id, [item])
    assert service.get_run(run_id).inputs.dataset_inputs == (item,)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (dataset_input(name=""), r"^Invalid dataset name '': 1 to 500 characters$"),
        (dataset_input(name="n" * 501), r"^Invalid dataset name 'n{50}': 1 to 500 characters$"),
        (dataset_input(digest=""), r"^Invalid dataset digest '': 1 to 36 characters$"),
        (dataset_input(digest="d" * 37), r"^Invalid dataset digest 'd{37}': 1 to 36 characters$"),
        (dataset_input(tags=(InputTag("", "v"),)), r"^Invalid input tag key ''$"),
        (dataset_input(tags=(InputTag("k" * 256, "v"),)), r"^Invalid input tag key 'k{256}'$"),
        (
            dataset_input(tags=(InputTag("k", "v" * 501),)),
            r"^Value of input tag 'k' is longer than 500 characters$",
        ),
    ],
)
def test_log_inputs_refusals(
    service: TrackingService, run_id: str, item: DatasetInput, message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        service.log_inputs(run_id, [dataset_input("first"), item])
    assert service.get_run(run_id).inputs.dataset_inputs == ()


# -- reading -----------------------------------------------------------------------------
def test_metric_history_pages(service: TrackingService, run_id: str) -> None:
    service.log_batch(run_id, [Metric("m", float(i), i, i) for i in range(5)])
    first = service.get_metric_history(run_id, "m", max_results=2)
    assert [m.step for m in first] == [0, 1]
    assert first.token is not None
    second = service.get_metric_history(run_id, "m", max_results=2, page_token=first.token)
    last = service.get_metric_history(run_id, "m", max_results=2, page_token=second.token)
    assert ([m.step for m in second], [m.step for m in last], last.token) == ([2, 3], [4], None)
    everything = service.get_metric_history(run_id, "m", max_results=2**31 - 1)
    assert len(everything) == 5


@pytest.mark.parametrize(
    ("key", "max_results", "message"),
    [
        ("m", 0, r"^Invalid value 0 for parameter 'max_results' supplied\. It must be a "),
        ("m", 2**31, r"at most 2147483647$"),
        ("m", 1.5, r"^Invalid max_results 1\.5 for get_metric_history: it must be a positive"),
        ("", None, r"^Metric key must be a non-empty string$"),
        (
            "../m",
            None,
            r"^Invalid value \"\.\./m\" for parameter 'name' " + _RESOLVES,
        ),
    ],
)
def test_metric_history_refusals(
    service: TrackingService, run_id: str, key: str, max_results: object, message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        service.get_metric_history(run_id, key, max_results)  # type: ignore[arg-type]


def test_search_runs_pages_filters_and_views(service: TrackingService) -> None:
    exp_id = service.create_experiment("e")
    ids = [service.create_run(exp_id, run_name=f"r{i}", start_time=i).info.run_id for i in range(3)]
    service.log_metric(ids[1], "acc", 0.9)
    service.delete_run(ids[2])
    by_start = service.search_runs(exp_id, order_by="attributes.start_time")  # strings are lists
    assert [r.info.run_id for r in by_start] == ids[:2]
    first = service.search_runs([exp_id], max_results=1, view_type="ALL")
    assert first.token is not None
    rest = service.search_runs([exp_id], max_results=5, view_type="ALL", page_token=first.token)
    assert {r.info.run_id for r in [*first, *rest]} == set(ids)
    assert rest.token is None
    found = service.search_runs([exp_id, 0], "metrics.acc > 0.5")  # type: ignore[list-item]
    assert [r.info.run_id for r in found] == [ids[1]]
    assert [r.info.run_id for r in service.search_runs([exp_id], view_type=2)] == [ids[2]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filter_string": 3}, r"^Invalid filter 3: it must be a string$"),
        ({"max_results": 0}, r"^Invalid value 0 for parameter 'max_results' supplied"),
        ({"max_results": 50_001}, r"at most 50000$"),
        ({"max_results": None}, r"^Invalid max_results None for search_runs: it must be"),
        ({"view_type": "archived"}, r"^Invalid view type 'archived': expected ACTIVE_ONLY"),
        (
            {"filter_string": "metrics.acc >"},
            r"^Invalid clause\(s\) in filter string 'metrics\.acc >'",
        ),
    ],
)
def test_search_runs_refusals(
    service: TrackingService, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        service.search_runs(["0"], **kwargs)  # type: ignore[arg-type]


# -- stores without a part ---------------------------------------------------------------
def test_a_store_without_logged_models() -> None:
    service = TrackingService(object())  # type: ignore[arg-type]
    with pytest.raises(NotImplementedYet, match=r"^object does not store logged models$"):
        service.get_logged_model("m-1")
    with pytest.raises(NotImplementedYet, match=r"^object does not store logged models$"):
        service.log_outputs(MISSING_RUN, [])


# -- logged models: the service's own checks (tests/store/test_logged_models.py has the rest)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source_run_id": "a" * 33}, r"^Invalid source run ID 'a{33}': at most 32 characters$"),
        ({"source_run_id": "a b"}, r"^Invalid run ID 'a b'$"),
        ({"model_type": 3}, r"^Invalid model_type 3: it must be a string$"),
        ({"model_type": "t" * 501}, r"^Invalid model_type: 501 characters long; the limit is 500$"),
        ({"tags": ["k"]}, r"^Invalid logged model tags \['k'\]: expected a mapping$"),
        ({"tags": {"k": "v" * 100_001}}, r"^Invalid value of tag 'k': 100001 characters long"),
        ({"params": ["p"]}, r"^Invalid logged model params \['p'\]: expected a mapping$"),
        ({"name": "n" * 501}, r"^Invalid model name: 501 characters long; the limit is 500$"),
        ({"name": 5}, r"^Invalid model name \(5\) provided\. Model name must be a non-empty"),
    ],
)
def test_create_logged_model_refusals(
    service: TrackingService, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        service.create_logged_model("0", **kwargs)  # type: ignore[arg-type]


def test_logged_model_tag_values_become_strings(service: TrackingService) -> None:
    model = service.create_logged_model("0", "m", tags={"n": 3, "f": 0.5})
    assert model.tags == {"n": "3", "f": "0.5"}


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        ({"field_name": "name", "ascending": "yes"}, r"^Invalid ascending 'yes': expected true"),
        ({"ascending": True}, r"^Invalid order_by .*: field_name must be given$"),
        ({"field_name": 3}, r"^Invalid field_name 3: it must be a string$"),
        (
            {"field_name": "metrics.acc", "dataset_digest": "d"},
            r"^Invalid order_by 'metrics\.acc': dataset_digest is given without dataset_name$",
        ),
    ],
)
def test_logged_model_order_by_refusals(
    service: TrackingService, order_by: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        service.search_logged_models(["0"], order_by=[order_by])


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (2**63, r"^Invalid step 9223372036854775808: it must be a 64-bit integer$"),
        (True, r"^Invalid step True: it must be a 64-bit integer$"),
        (1.0, r"^Invalid step 1\.0: it must be a 64-bit integer$"),
    ],
)
def test_log_outputs_step_rule(
    service: TrackingService, run_id: str, step: object, message: str
) -> None:
    from labtrack.entities import LoggedModelOutput

    model = service.create_logged_model("0", "m")
    with pytest.raises(InvalidParameterValue, match=message):
        service.log_outputs(run_id, [LoggedModelOutput(model.model_id, step)])  # type: ignore[arg-type]
    service.log_outputs(run_id, [LoggedModelOutput(model.model_id, INT64_MIN)])
