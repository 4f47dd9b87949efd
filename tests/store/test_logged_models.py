"""MLflow 3 logged models on every store: SqlStore on SQLite, PostgreSQL and MySQL, and
RestStore through a live server, driven through the tracking service (its validation
included)."""

from __future__ import annotations

import math
import re
import time

import pytest

from labtrack.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelDatasetFilter,
    LoggedModelInput,
    LoggedModelMetric,
    LoggedModelOrderBy,
    LoggedModelOutput,
    LoggedModelStatus,
)
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist
from labtrack.tracking.service import TrackingService

MISSING = "m-" + "0" * 32


@pytest.fixture
def service(store):
    return TrackingService(store)


def new_run(service: TrackingService, experiment_id: str = "0") -> str:
    return service.create_run(experiment_id, run_name="r").info.run_id


def point(key: str, value: float, model_id: str, step: int = 0, ts: int = 1000, **kw):
    return LoggedModelMetric(key, value, ts, step, model_id, **kw)


# -- create / get ----------------------------------------------------------------------
def test_create_and_get(service: TrackingService) -> None:
    exp_id = service.create_experiment("models")
    run_id = new_run(service, exp_id)
    before = int(time.time() * 1000)
    model = service.create_logged_model(
        exp_id,
        "clf",
        source_run_id=run_id,
        model_type="classifier",
        tags={"team": "ml", "n": 3},
        params={"alpha": 0.1, "depth": "4"},
    )
    assert re.fullmatch(r"m-[0-9a-f]{32}", model.model_id)
    assert model.model_uri == f"models:/{model.model_id}"
    assert model.experiment_id == exp_id
    assert model.name == "clf"
    assert model.status == LoggedModelStatus.PENDING
    assert model.source_run_id == run_id
    assert model.model_type == "classifier"
    assert model.tags == {"team": "ml", "n": "3"}
    assert model.params == {"alpha": "0.1", "depth": "4"}
    assert model.lifecycle_stage == LifecycleStage.ACTIVE
    assert model.creation_timestamp >= before
    assert model.last_updated_timestamp == model.creation_timestamp
    location = service.get_experiment(exp_id).artifact_location
    assert model.artifact_location == f"{location}/models/{model.model_id}/artifacts"
    assert service.get_logged_model(model.model_id) == model


def test_name_is_generated_or_checked(service: TrackingService) -> None:
    assert service.create_logged_model("0").name
    for bad in ("a/b", "a.b", "a:b", "50%", "it's", ""):
        with pytest.raises(InvalidParameterValue, match="Invalid model name"):
            service.create_logged_model("0", bad)


def test_many_params_at_creation(service: TrackingService) -> None:
    params = {f"p{i}": str(i) for i in range(250)}  # more than one request's worth
    model = service.create_logged_model("0", "many", params=params)
    assert model.params == params
    assert service.get_logged_model(model.model_id).params == params


def test_bad_experiment(service: TrackingService) -> None:
    with pytest.raises(ResourceDoesNotExist, match="No Experiment with id=424242 exists"):
        service.create_logged_model("424242", "m")
    with pytest.raises(
        InvalidParameterValue,
        match=re.escape(
            "Invalid experiment ID 'not-a-number'. Experiment ID must be a valid integer."
        ),
    ):
        service.create_logged_model("not-a-number", "m")
    exp_id = service.create_experiment("gone")
    service.delete_experiment(exp_id)
    with pytest.raises(InvalidParameterValue, match="active"):
        service.create_logged_model(exp_id, "m")


def test_missing_model(service: TrackingService) -> None:
    run_id = new_run(service)
    calls = [
        lambda: service.get_logged_model(MISSING),
        lambda: service.finalize_logged_model(MISSING, LoggedModelStatus.READY),
        lambda: service.delete_logged_model(MISSING),
        lambda: service.set_logged_model_tags(MISSING, {"a": "b"}),
        lambda: service.delete_logged_model_tag(MISSING, "a"),
        lambda: service.log_logged_model_params(MISSING, {"a": "b"}),
        lambda: service.log_outputs(run_id, [LoggedModelOutput(MISSING, 0)]),
        lambda: service.log_model_inputs(run_id, [LoggedModelInput(MISSING)]),
        lambda: service.log_model_metrics(run_id, [point("acc", 1.0, MISSING)]),
    ]
    for call in calls:
        with pytest.raises(ResourceDoesNotExist, match="not found"):
            call()
    with pytest.raises(InvalidParameterValue, match="Invalid logged model ID"):
        service.get_logged_model("no such/id")


# -- finalize / delete -----------------------------------------------------------------
def test_finalize(service: TrackingService) -> None:
    model = service.create_logged_model("0", "m")
    ready = service.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY
    assert ready.last_updated_timestamp >= model.creation_timestamp
    assert service.get_logged_model(model.model_id).status == LoggedModelStatus.READY
    failed = service.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
    assert failed.status == LoggedModelStatus.FAILED
    for bad in (LoggedModelStatus.PENDING, LoggedModelStatus.UNSPECIFIED, "DONE"):
        with pytest.raises(InvalidParameterValue, match="Invalid status"):
            service.finalize_logged_model(model.model_id, bad)


def test_delete(service: TrackingService) -> None:
    model = service.create_logged_model("0", "m")
    service.delete_logged_model(model.model_id)
    with pytest.raises(
        ResourceDoesNotExist, match=r"Logged model with ID 'm-[0-9a-f]{32}' not found"
    ):
        service.get_logged_model(model.model_id)
    deleted = service.get_logged_model(model.model_id, allow_deleted=True)
    assert deleted.lifecycle_stage == LifecycleStage.DELETED
    service.delete_logged_model(model.model_id)  # again: a retried request succeeds
    with pytest.raises(
        ResourceDoesNotExist, match=r"Logged model with ID 'm-[0-9a-f]{32}' not found"
    ):
        service.set_logged_model_tags(model.model_id, {"a": "b"})
    assert service.search_logged_models(["0"]) == []


# -- tags / params ---------------------------------------------------------------------
def test_tags(service: TrackingService) -> None:
    model = service.create_logged_model("0", "m", tags={"a": "1"})
    service.set_logged_model_tags(model.model_id, {"a": "2", "b": "x" * 20_000, "c": ""})
    assert service.get_logged_model(model.model_id).tags == {"a": "2", "b": "x" * 20_000, "c": ""}
    service.delete_logged_model_tag(model.model_id, "a")
    assert set(service.get_logged_model(model.model_id).tags) == {"b", "c"}
    with pytest.raises(ResourceDoesNotExist, match="No tag"):
        service.delete_logged_model_tag(model.model_id, "a")
    with pytest.raises(
        InvalidParameterValue,
        match=re.escape("Invalid value \"../up\" for parameter 'key' supplied: Names may be"),
    ):
        service.set_logged_model_tags(model.model_id, {"../up": "x"})


def test_tag_keys_with_slashes_and_spaces(service: TrackingService) -> None:
    model = service.create_logged_model("0", "m")
    service.set_logged_model_tags(model.model_id, {"mlflow.a/b c": "1"})
    service.delete_logged_model_tag(model.model_id, "mlflow.a/b c")
    assert service.get_logged_model(model.model_id).tags == {}


def test_params_are_immutable(service: TrackingService) -> None:
    model = service.create_logged_model("0", "m", params={"a": "1"})
    service.log_logged_model_params(model.model_id, {"a": "1", "b": "2"})
    assert service.get_logged_model(model.model_id).params == {"a": "1", "b": "2"}
    with pytest.raises(InvalidParameterValue, match="Changing param values"):
        service.log_logged_model_params(model.model_id, {"a": "9", "c": "3"})
    assert service.get_logged_model(model.model_id).params == {"a": "1", "b": "2"}


# -- runs: outputs, inputs, metrics ------------------------------------------------------
def test_outputs_and_inputs_of_runs(service: TrackingService) -> None:
    run_id = new_run(service)
    made = service.create_logged_model("0", "made", source_run_id=run_id)
    used = service.create_logged_model("0", "used")
    service.log_outputs(run_id, [LoggedModelOutput(made.model_id, 3)])
    service.log_outputs(run_id, [LoggedModelOutput(made.model_id, 3)])  # kept once
    service.log_model_inputs(run_id, [LoggedModelInput(used.model_id)])
    service.log_model_inputs(run_id, [LoggedModelInput(used.model_id)])
    run = service.get_run(run_id)
    assert run.outputs.model_outputs == (LoggedModelOutput(made.model_id, 3),)
    assert run.inputs.model_inputs == (LoggedModelInput(used.model_id),)
    [found] = service.search_runs(["0"], filter_string=f"attributes.run_id = '{run_id}'")
    assert found.outputs == run.outputs
    assert found.inputs == run.inputs
    service.delete_run(run_id)
    with pytest.raises(InvalidParameterValue, match="active"):
        service.log_outputs(run_id, [LoggedModelOutput(made.model_id, 4)])


def test_metrics_are_logged_to_the_run_and_linked(service: TrackingService) -> None:
    run_id = new_run(service)
    model = service.create_logged_model("0", "m", source_run_id=run_id)
    service.log_model_metrics(
        run_id,
        [
            point("acc", 0.5, model.model_id, step=0, ts=1000),
            point(
                "acc", 0.7, model.model_id, step=1, ts=2000, dataset_name="d", dataset_digest="x1"
            ),
            point("loss", math.nan, model.model_id, step=1, ts=2000),
        ],
    )
    history = service.get_metric_history(run_id, "acc")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.7)]
    got = service.get_logged_model(model.model_id)
    by_key = {(m.key, m.step): m for m in got.metrics}
    assert by_key["acc", 1] == LoggedModelMetric(
        "acc", 0.7, 2000, 1, model.model_id, run_id, "d", "x1"
    )
    assert by_key["acc", 0].run_id == run_id
    assert by_key["acc", 0].dataset_name is None
    assert math.isnan(by_key["loss", 1].value)

    # As mlflow's log_model does: the run's metrics at a step, again, naming a new model.
    other = service.create_logged_model("0", "other", source_run_id=run_id)
    again = [
        point("acc", 0.7, other.model_id, step=1, ts=2000, dataset_name="d", dataset_digest="x1")
    ]
    service.log_model_metrics(run_id, again)
    service.log_model_metrics(run_id, again)
    assert len(service.get_metric_history(run_id, "acc")) == 2  # not added to history again
    assert service.get_run(run_id).data.metric_summaries["acc"].count == 2
    assert len(service.get_logged_model(other.model_id).metrics) == 1
    assert len(service.get_logged_model(model.model_id).metrics) == 3


def test_linked_metrics_are_all_or_nothing(service: TrackingService) -> None:
    run_id = new_run(service)
    model = service.create_logged_model("0", "m")
    with pytest.raises(ResourceDoesNotExist, match=r"Logged model with ID 'm-0{32}' not found"):
        service.log_model_metrics(
            run_id, [point("acc", 1.0, model.model_id), point("acc", 2.0, MISSING, step=1)]
        )
    assert service.get_metric_history(run_id, "acc") == []
    assert service.get_logged_model(model.model_id).metrics == ()
    with pytest.raises(InvalidParameterValue, match="dataset_digest"):
        service.log_model_metrics(run_id, [point("acc", 1.0, model.model_id, dataset_name="d")])
    service.delete_run(run_id)
    with pytest.raises(InvalidParameterValue, match="active"):
        service.log_model_metrics(run_id, [point("acc", 1.0, model.model_id)])


# -- search ------------------------------------------------------------------------------
@pytest.fixture
def models(service: TrackingService):
    """Three models in a new experiment, created in order a, b, c, with metrics on them."""
    exp_id = service.create_experiment("search")
    run_id = new_run(service, exp_id)
    made: dict[str, LoggedModel] = {}
    for name, kind, acc in (("a", "clf", 0.9), ("b", "clf", 0.5), ("c", "reg", None)):
        model = service.create_logged_model(
            exp_id,
            name,
            source_run_id=run_id if name != "c" else None,
            model_type=kind,
            tags={"stage": "dev" if name == "a" else "prod"},
            params={"depth": str(len(made) + 1)},
        )
        made[name] = model
        if acc is not None:
            service.log_model_metrics(
                run_id,
                [
                    point(
                        "acc",
                        acc - 0.3,
                        model.model_id,
                        step=0,
                        ts=1,
                        dataset_name="val",
                        dataset_digest="v1",
                    ),
                    point(
                        "acc",
                        acc,
                        model.model_id,
                        step=1,
                        ts=2,
                        dataset_name="test",
                        dataset_digest="t1",
                    ),
                ],
            )
        time.sleep(0.002)  # distinct creation times
    service.finalize_logged_model(made["a"].model_id, LoggedModelStatus.READY)
    return exp_id, run_id, made


def names(page) -> list[str]:
    return [m.name for m in page]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, ["c", "b", "a"]),  # newest first
        ("name = 'b'", ["b"]),
        ("attributes.name != 'b'", ["c", "a"]),
        ("name LIKE '%'", ["c", "b", "a"]),
        ("name ILIKE 'A'", ["a"]),
        ("name IN ('a', 'c')", ["c", "a"]),
        ("model_type = 'clf'", ["b", "a"]),
        ("status = 'READY'", ["a"]),
        ("status = 'PENDING'", ["c", "b"]),
        ("tags.stage = 'prod'", ["c", "b"]),
        ("tags.stage != 'prod'", ["a"]),
        ("tags.missing IS NULL", ["c", "b", "a"]),
        ("params.depth = '2'", ["b"]),
        ("params.depth IN ('1', '3')", ["c", "a"]),
        ("metrics.acc > 0.8", ["a"]),
        ("metrics.acc >= 0.5", ["b", "a"]),
        ("metrics.acc < 0.3", ["b"]),
        ("metrics.acc > 0.8 OR model_type = 'reg'", ["c", "a"]),
        ("model_type = 'clf' AND (tags.stage = 'dev' OR params.depth = '2')", ["b", "a"]),
        ("creation_timestamp > 0", ["c", "b", "a"]),
        ("creation_time < 0", []),
    ],
)
def test_search_filters(service: TrackingService, models, filter_string, expected) -> None:
    exp_id, _, _ = models
    assert names(service.search_logged_models([exp_id], filter_string)) == expected


def test_search_by_source_run_and_model_id(service: TrackingService, models) -> None:
    exp_id, run_id, made = models
    found = service.search_logged_models([exp_id], f"source_run_id = '{run_id}'")
    assert names(found) == ["b", "a"]
    found = service.search_logged_models([exp_id], f"model_id = '{made['c'].model_id}'")
    assert names(found) == ["c"]
    assert names(service.search_logged_models(["0"])) == []
    assert len(service.search_logged_models([exp_id, "0"])) == 3


def test_search_with_datasets(service: TrackingService, models) -> None:
    exp_id, _, _ = models
    val = [LoggedModelDatasetFilter("val")]
    # On the validation set, a's accuracy is 0.6: no model reaches 0.8 there.
    assert names(service.search_logged_models([exp_id], "metrics.acc > 0.8", val)) == []
    test = [{"dataset_name": "test", "dataset_digest": "t1"}]
    assert names(service.search_logged_models([exp_id], "metrics.acc > 0.8", test)) == ["a"]
    # With no metric test, the models with any metric on the datasets.
    assert names(service.search_logged_models([exp_id], None, val)) == ["b", "a"]
    assert (
        names(service.search_logged_models([exp_id], None, [LoggedModelDatasetFilter("x")])) == []
    )
    with pytest.raises(InvalidParameterValue, match="dataset_name"):
        service.search_logged_models([exp_id], None, [{"dataset_digest": "t1"}])


def test_search_long_and_tests_each_comparison_on_any_point(
    service: TrackingService, models
) -> None:
    exp_id, _, _ = models
    # a's points are 0.6 (val) and 0.9 (test): each test holds for one point, none for both.
    terms = ["metrics.acc > 0.55", "metrics.acc < 0.65", "metrics.acc >= 0.9"]
    terms += ["metrics.acc != 0.5", "metrics.acc > 0", "tags.nope IS NULL", "params.depth != 'x'"]
    terms += ["params.nope IS NULL", "tags.stage IS NOT NULL", "model_type = 'clf'"]
    long_and = " AND ".join(terms)
    assert names(service.search_logged_models([exp_id], long_and)) == ["a"]
    on_test = [LoggedModelDatasetFilter("test")]
    assert names(service.search_logged_models([exp_id], long_and, on_test)) == []
    found = service.search_logged_models([exp_id], long_and.replace("0.65", "0.95"), on_test)
    assert names(found) == ["a"]


def test_search_order_by(service: TrackingService, models) -> None:
    exp_id, _, _ = models

    def ordered(*order_by):
        return names(service.search_logged_models([exp_id], order_by=list(order_by)))

    # A metric orders by each model's latest point; a model without it comes last.
    assert ordered({"field_name": "metrics.acc", "ascending": False}) == ["a", "b", "c"]
    assert ordered(LoggedModelOrderBy("metrics.acc")) == ["b", "a", "c"]
    on_val = LoggedModelOrderBy("metrics.acc", False, dataset_name="val", dataset_digest="v1")
    assert ordered(on_val) == ["a", "b", "c"]
    assert ordered(LoggedModelOrderBy("name", ascending=False)) == ["c", "b", "a"]
    assert ordered(LoggedModelOrderBy("creation_timestamp")) == ["a", "b", "c"]
    assert ordered(LoggedModelOrderBy("model_type"), LoggedModelOrderBy("name")) == ["a", "b", "c"]
    for bad in ("nope", "params.depth", "tags.stage"):
        with pytest.raises(InvalidParameterValue, match="order by"):
            ordered(LoggedModelOrderBy(bad))


def test_search_pages(service: TrackingService, models) -> None:
    exp_id, _, _ = models
    first = service.search_logged_models([exp_id], max_results=2)
    assert names(first) == ["c", "b"]
    assert first.token
    second = service.search_logged_models([exp_id], max_results=2, page_token=first.token)
    assert names(second) == ["a"]
    assert second.token is None


def test_search_errors(service: TrackingService, models) -> None:
    exp_id, _, _ = models
    for bad, reason in [
        ("name = ", "expected a quoted string for attribute 'name', got end of input"),
        ("metrics.acc LIKE 'x'", "operator LIKE is not allowed for metric 'acc'"),
        ("nonsense = 'x'", "unknown attribute 'nonsense' for logged model search"),
        ("datasets.name = 'x'", "unknown entity 'datasets' for logged model search"),
    ]:
        message = re.escape(f" '{bad}' at position ") + ".*" + re.escape(reason)
        with pytest.raises(InvalidParameterValue, match=message):
            service.search_logged_models([exp_id], bad)
    with pytest.raises(InvalidParameterValue, match="max_results"):
        service.search_logged_models([exp_id], max_results=0)


# -- schema --------------------------------------------------------------------------------
def test_migration_creates_exactly_the_schema(sql_store) -> None:
    """A database at revision 0002 upgraded through 0003 has exactly today's tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import text

    from databases import downgrade
    from labtrack.store.sql import schema as s
    from labtrack.store.sql.migrate import HEAD_REVISION, upgrade

    engine = sql_store.engine
    added = (
        # 0005 (webhooks): upgrading from 0002 creates these too
        s.webhook_deliveries,
        s.webhooks,
        # 0004 (the model registry): upgrading from 0002 creates these too
        s.registry_events,
        s.registered_model_aliases,
        s.model_version_tags,
        s.model_versions,
        s.registered_model_tags,
        s.registered_models,
        # 0003
        s.run_model_inputs,
        s.run_model_outputs,
        s.logged_model_metrics,
        s.logged_model_params,
        s.logged_model_tags,
        s.logged_models,
    )
    with engine.begin() as conn:
        downgrade(conn, "0005")  # 0006 changed tables that 0002 has
        for table in added:
            table.drop(conn)
        conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    try:
        assert upgrade(engine, sql_store.db_uri).startswith("upgraded schema from revision 0002")
    finally:
        with engine.begin() as conn:  # whatever happened, leave the database usable
            for table in reversed(added):
                table.create(conn, checkfirst=True)
            conn.execute(text(f"UPDATE alembic_version SET version_num = '{HEAD_REVISION}'"))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert list(compare_metadata(context, s.metadata)) == []
    model = TrackingService(sql_store).create_logged_model("0", "works")
    assert sql_store.get_logged_model(model.model_id) == model
