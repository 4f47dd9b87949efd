"""The same bad requests to a real MLflow 3.17 server and to labtrack's: the same status,
error code and message, where MLflow's client, its tests or its users read the message.

Also what MLflow stores where labtrack once refused (empty values), the version MLflow's
client reads from ``/version``, and the endpoints MLflow serves outside its REST API.
Skipped when no MLflow server can be started (see test_wire.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from compat._support import MLFLOW_MISSING

pytest.importorskip("mlflow", reason=MLFLOW_MISSING)

from compat.test_wire import _find_mlflow_server, _mlflow_server

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"

Answer = tuple[int, Any]


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    executable = _find_mlflow_server()
    if executable is None:
        pytest.skip("no MLflow server to compare with (set LABTRACK_TEST_MLFLOW_BIN)")
    with _mlflow_server(executable, tmp_path_factory.mktemp("mlflow-messages")) as url:
        yield url


def _answers(url: str) -> dict[str, Answer]:
    """Each labelled bad request against the server at ``url``: (status, error JSON)."""
    http = httpx.Client(base_url=url, timeout=30)
    name = f"messages-{uuid.uuid4().hex[:8]}"
    experiment = http.post(f"{API}/experiments/create", json={"name": name}).json()
    run = http.post(f"{API}/runs/create", json={"experiment_id": experiment["experiment_id"]})
    run_id = run.json()["run"]["info"]["run_id"]
    out: dict[str, Answer] = {}

    def send(label: str, method: str, path: str, **kwargs: Any) -> None:
        response = http.request(method, path if path.startswith("/") else f"{API}/{path}", **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):  # MLflow adds "sqlstate"/"error_class"; not compared
            body = {k: v for k, v in body.items() if k in ("error_code", "message")}
        out[label] = (response.status_code, body)

    def post(label: str, path: str, body: dict[str, Any]) -> None:
        send(label, "POST", path, json=body)

    def get(label: str, path: str, params: Any) -> None:
        send(label, "GET", path, params=params)

    bad_chars, escaping = "bad?key", "a/../b"
    post("param key", "runs/log-parameter", {"run_id": run_id, "key": bad_chars, "value": "1"})
    post("tag key", "runs/set-tag", {"run_id": run_id, "key": escaping, "value": "1"})
    post(
        "metric key", "runs/log-metric", {"run_id": run_id, "key": "m!", "value": 1, "timestamp": 1}
    )
    post(
        "metric value",
        "runs/log-metric",
        {"run_id": run_id, "key": "m", "value": "abc", "timestamp": 1},
    )
    post("missing timestamp", "runs/log-metric", {"run_id": run_id, "key": "m", "value": 1})
    post(
        "batch param key",
        "runs/log-batch",
        {"run_id": run_id, "params": [{"key": "x?", "value": "1"}]},
    )
    post(
        "batch tag key",
        "runs/log-batch",
        {"run_id": run_id, "tags": [{"key": "ok", "value": "1"}, {"key": "a/./b", "value": "1"}]},
    )
    get("experiment id", "experiments/get", {"experiment_id": "abc"})
    get("run id", "runs/get", {"run_id": "nope"})
    for label, path in (("..", "../x"), ("absolute", "/etc")):
        get(f"list {label}", "artifacts/list", {"run_id": run_id, "path": path})
        get(f"get-artifact {label}", "/get-artifact", {"run_id": run_id, "path": path})
        get(f"proxy list {label}", "/api/2.0/mlflow-artifacts/artifacts", {"path": path})
    interval = "metrics/get-history-bulk-interval"
    get("interval runs", interval, {"run_ids": [run_id] * 101, "metric_key": "m"})
    get("interval no runs", interval, {"metric_key": "m"})
    get(
        "interval steps",
        interval,
        {"run_ids": run_id, "metric_key": "m", "start_step": 5, "end_step": 1},
    )
    get("interval one step", interval, {"run_ids": run_id, "metric_key": "m", "start_step": 5})
    get("interval max", interval, {"run_ids": run_id, "metric_key": "m", "max_results": 3000})
    bulk = f"{AJAX}/metrics/get-history-bulk"
    get("bulk no runs", bulk, {"metric_key": "m"})
    get("bulk no key", bulk, {"run_id": run_id})
    get("bulk runs", bulk, {"run_id": [run_id] * 101, "metric_key": "m"})
    post("datasets none", f"{AJAX}/experiments/search-datasets", {})
    post(
        "datasets many",
        f"{AJAX}/experiments/search-datasets",
        {"experiment_ids": list("0123456789") * 3},
    )
    upload = f"{AJAX}/upload-artifact"
    send("upload no run", "POST", upload, params={"path": "x"}, content=b"1")
    send("upload no path", "POST", upload, params={"run_uuid": run_id}, content=b"1")
    send("upload no data", "POST", upload, params={"run_uuid": run_id, "path": "x"})
    send("upload ..", "POST", upload, params={"run_uuid": run_id, "path": "../x"}, content=b"1")
    logged = f"{AJAX}/logged-models/m-{'0' * 32}/artifacts/files"
    get("logged model no path", logged, {})
    for label, path, body in _wrong_types(experiment["experiment_id"], run_id):
        post(f"wrong type: {label}", path, body)
    for case in SEARCH_ERRORS:
        field = "filter" if case.filter is not None else "order_by"
        value: Any = case.filter if case.filter is not None else [case.order_by]
        if case.search == "runs":
            post(case.label, "runs/search", {"experiment_ids": ["0"], field: value})
        elif case.search == "experiments":
            post(case.label, "experiments/search", {"max_results": 10, field: value})
        else:
            get(case.label, f"{case.search}/search", {field: value})
    # What MLflow stores (labtrack once refused the empty string as a missing value).
    post("empty param", "runs/log-parameter", {"run_id": run_id, "key": "p", "value": ""})
    post("empty tag", "runs/set-tag", {"run_id": run_id, "key": "t", "value": ""})
    post(
        "empty experiment tag",
        "experiments/set-experiment-tag",
        {"experiment_id": experiment["experiment_id"], "key": "e", "value": ""},
    )
    data = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]
    out["stored empties"] = (
        200,
        {
            "params": {p["key"]: p["value"] for p in data.get("params", [])},
            "t": {t["key"]: t["value"] for t in data.get("tags", [])}.get("t"),
        },
    )
    http.close()
    return out


def _wrong_types(experiment_id: str, run_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """A field of each protobuf type given a value of the wrong type, one per request."""
    metric = {"run_id": run_id, "key": "m", "value": 1, "timestamp": 1}
    version = {"name": "no-such-model", "version": "1"}
    return [
        # string
        ("name", "experiments/create", {"name": 123}),
        ("name a list", "experiments/create", {"name": ["a"]}),
        ("artifact_location", "experiments/create", {"name": "x", "artifact_location": 5}),
        ("experiment_id", "experiments/delete", {"experiment_id": 5}),
        ("experiment_id a bool", "runs/create", {"experiment_id": True}),
        ("run_name", "runs/create", {"experiment_id": experiment_id, "run_name": 5}),
        ("run_id", "runs/log-metric", {**metric, "run_id": 5}),
        ("metric key", "runs/log-metric", {**metric, "key": 5}),
        ("param value", "runs/log-parameter", {"run_id": run_id, "key": "p", "value": 5}),
        ("tag value", "runs/set-tag", {"run_id": run_id, "key": "t", "value": {"a": 1}}),
        ("filter", "runs/search", {"experiment_ids": [experiment_id], "filter": 5}),
        ("new_name", "registered-models/rename", {"name": "no-such-model", "new_name": 5}),
        ("stage", "model-versions/transition-stage", {**version, "stage": 5}),
        ("version", "model-versions/set-tag", {**version, "version": 1, "key": "k", "value": "v"}),
        # int64
        ("start_time", "runs/create", {"experiment_id": experiment_id, "start_time": "abc"}),
        ("timestamp", "runs/log-metric", {**metric, "timestamp": "x"}),
        ("step", "runs/log-metric", {**metric, "step": "x"}),
        ("end_time", "runs/update", {"run_id": run_id, "end_time": "x"}),
        # int32 (max_results), also out of its range
        ("max_results", "runs/search", {"experiment_ids": [experiment_id], "max_results": "x"}),
        ("max_results > int32", "runs/search", {"experiment_ids": ["0"], "max_results": 2**40}),
        # double
        ("metric value", "runs/log-metric", {**metric, "value": "x"}),
        # bool
        ("bool a string", "model-versions/transition-stage", _transition("yes")),
        ("bool 'true'", "model-versions/transition-stage", _transition("true")),
        ("bool a number", "model-versions/transition-stage", _transition(1)),
        # repeated (of strings, of messages)
        ("experiment_ids a string", "runs/search", {"experiment_ids": "0"}),
        ("experiment_ids an object", "runs/search", {"experiment_ids": {"a": 1}}),
        ("order_by items", "runs/search", {"experiment_ids": ["0"], "order_by": [5]}),
        ("order_by a string", "runs/search", {"experiment_ids": ["0"], "order_by": "x"}),
        ("stages a string", "registered-models/get-latest-versions", _stages("Staging")),
        ("stages items", "registered-models/get-latest-versions", _stages([5])),
        ("logged models experiment_ids", "logged-models/search", {"experiment_ids": "0"}),
        ("metrics an object", "runs/log-batch", {"run_id": run_id, "metrics": {"key": "m"}}),
        ("params a string", "runs/log-batch", {"run_id": run_id, "params": "x"}),
        ("tags a string", "experiments/create", {"name": "y", "tags": "x"}),
        ("datasets an object", "runs/log-inputs", {"run_id": run_id, "datasets": {"a": 1}}),
        # message (an item of a repeated message field, a field inside one)
        ("tags item", "runs/log-batch", {"run_id": run_id, "tags": ["x"]}),
        ("tag key inside", "runs/log-batch", {"run_id": run_id, "tags": [{"key": 5}]}),
        (
            "metric key inside",
            "runs/log-batch",
            {"run_id": run_id, "metrics": [{**metric, "key": 5}]},
        ),
        ("metric value a list", "runs/log-metric", {**metric, "value": [1]}),
        ("dataset name", "runs/log-inputs", {"run_id": run_id, "datasets": [_dataset(5)]}),
    ]


def _transition(archive: Any) -> dict[str, Any]:
    return {
        "name": "no-such-model",
        "version": "1",
        "stage": "Staging",
        "archive_existing_versions": archive,
    }


def _stages(stages: Any) -> dict[str, Any]:
    return {"name": "no-such-model", "stages": stages}


def _dataset(name: Any) -> dict[str, Any]:
    return {"dataset": {"name": name, "digest": "d", "source_type": "local", "source": "x"}}


class Clearer(NamedTuple):
    """A bad request labtrack answers more clearly than MLflow's server: the opening of
    labtrack's message, the opening MLflow's shares when it refuses the request too, why."""

    ours: str
    shared: str
    why: str


# Where labtrack's answer is deliberately not MLflow's, because MLflow's server takes the
# request (keeping a default or a garbled value), fails with a 500, or names the wrong
# thing: labtrack refuses it with MLflow's error code and opening words, naming the field.
MORE_SPECIFIC: dict[str, Clearer] = {
    "wrong type: tags item": Clearer(
        "Invalid value \"x\" for parameter 'tags[0]' supplied:",
        "",
        "MLflow's server fails with a 500 on a tag that is not an object",
    ),
    "wrong type: tag key inside": Clearer(
        "Invalid value 5 for parameter 'tags[0].key' supplied:  Hint: Value was of type 'int'.",
        "Invalid value ",
        "MLflow's server reads a key of another type as the empty string and says that '' "
        "would resolve to '.'",
    ),
    "wrong type: metric key inside": Clearer(
        "Invalid value 5 for parameter 'metrics[0].key' supplied:  Hint: Value was of type",
        "Invalid value ",
        "as for a tag key, MLflow's server says '' would resolve to '.' (and calls it 'name')",
    ),
    "wrong type: max_results > int32": Clearer(
        "Invalid value 1099511627776 for parameter 'max_results' supplied: expected a 32-bit "
        "integer.",
        "Invalid value 1099511627776 for parameter 'max_results' supplied:",
        "MLflow's server says \"Hint: Value was of type 'int'\" of a number too large",
    ),
    "wrong type: metric value a list": Clearer(
        "Invalid value [1] for parameter 'value' supplied:  Hint: Value was of type 'list'.",
        "",
        "MLflow's server fails with a 500 on a metric value that is a list",
    ),
    "wrong type: dataset name": Clearer(
        "Invalid value 5 for parameter 'datasets[0].dataset.name' supplied:  Hint:",
        "",
        "MLflow's server logs a dataset whose name is a number as one without a name",
    ),
}


class SearchError(NamedTuple):
    """A bad filter or order_by clause for one search, and the opening words both servers'
    messages start with."""

    search: str  # runs, experiments, registered-models, model-versions
    filter: str | None
    order_by: str | None
    opening: str

    @property
    def label(self) -> str:
        if self.filter is not None:
            return f"search {self.search} filter {self.filter!r}"
        return f"search {self.search} order_by {self.order_by!r}"


def _filter(search: str, text: str, opening: str) -> SearchError:
    return SearchError(search, text, None, opening)


def _order(search: str, text: str, opening: str) -> SearchError:
    return SearchError(search, None, text, opening)


UNPARSED = "Invalid clause(s) in filter string"

# labtrack's filter and order_by errors open with MLflow's words (and its error code), and
# go on in labtrack's: where in the text (position), what was expected there and, for an
# unknown name, the choices in a fixed order, where MLflow's server lists the tokens it
# split the text into or prints a Python set (whose order changes from run to run). So the
# messages are compared by their opening words only. Openings MLflow's server words
# differently from one search to the next are left out here: registered-model order_by
# keys ("Invalid order by key"), an unquoted run value ("Parameter value is either not
# quoted ..."), a model version number ("Invalid value for numeric attribute"), IS NULL
# on a metric; labtrack uses one wording for each kind of error in every search.
SEARCH_ERRORS = (
    _filter("runs", "metrics.x <", UNPARSED),
    _filter("runs", "foo = 1", "Invalid attribute key 'foo' specified"),
    _filter("runs", "params.a > 'x'", "Invalid comparator '>'"),
    _filter("runs", "params.a = 'x", UNPARSED),
    _filter("runs", "metrics.x > 'a'", "Expected numeric value type"),
    _filter("runs", "foo.x = 1", "Invalid entity type 'foo'"),
    _filter("runs", "datasets.foo = 'x'", "Invalid dataset key 'foo' specified"),
    _filter("runs", "tags.a LIKE 5", "Expected a quoted string value"),
    _filter("runs", "metrics.x > 1 extra", UNPARSED),
    _filter("runs", "(metrics.x > 1", UNPARSED),
    _filter("runs", "metrics.x > 1)", UNPARSED),
    _order(
        "runs", "metrics.x SIDEWAYS", "Invalid ordering key in order_by clause 'metrics.x SIDEWAYS'"
    ),
    _order("runs", "foo", "Invalid attribute key 'foo' specified"),
    _order("runs", "", "Invalid order_by clause ''"),
    _order("runs", "metrics.x asc desc", "Invalid order_by clause 'metrics.x asc desc'"),
    _order("runs", "metrics.x,params.y", "Invalid order_by clause 'metrics.x,params.y'"),
    _order("runs", "`a", "Invalid order_by clause '`a'"),
    _filter("experiments", "foo = 1", "Invalid attribute key 'foo' specified"),
    _filter("experiments", "params.a > 'x'", "Invalid entity type 'params'"),
    _filter("experiments", "name ILIKE 'a", UNPARSED),
    _filter("experiments", "name LIKE 5", "Expected a quoted string value"),
    _filter("experiments", "name > 'a'", "Invalid comparator '>'"),
    _filter("experiments", "creation_time = 'a'", "Expected numeric value type"),
    _order("experiments", "foo", "Invalid attribute key 'foo' specified"),
    _order("experiments", "params.a asc", "Invalid entity type 'params'"),
    _order(
        "experiments", "name SIDEWAYS", "Invalid ordering key in order_by clause 'name SIDEWAYS'"
    ),
    _order("experiments", "name DESC ASC", "Invalid order_by clause 'name DESC ASC'"),
    _filter("registered-models", "foo = 1", "Invalid attribute key 'foo' specified"),
    _filter("registered-models", "params.a > 'x'", "Invalid entity type 'params'"),
    _filter("registered-models", "name ILIKE 'a", UNPARSED),
    _filter("registered-models", "name LIKE 5", "Expected a quoted string value"),
    _filter("registered-models", "tags.a > 'x'", "Invalid comparator"),  # MLflow: "for tag: >"
    _order("registered-models", "name SIDEWAYS", "Invalid ordering key in order_by clause"),
    _order("registered-models", "name DESC ASC", "Invalid order_by clause 'name DESC ASC'"),
    _filter("model-versions", "foo = 1", "Invalid attribute key 'foo' specified"),
    _filter("model-versions", "params.a > 'x'", "Invalid entity type 'params'"),
    _filter("model-versions", "name ILIKE 'a", UNPARSED),
    _filter("model-versions", "tags.a LIKE 5", "Expected a quoted string value"),
    _filter("model-versions", "name > 'a'", "Invalid comparator"),  # MLflow: "for attribute: >"
    _order("model-versions", "name SIDEWAYS", "Invalid ordering key in order_by clause"),
    _order("model-versions", "`a", "Invalid order_by clause '`a'"),
)


@pytest.fixture(scope="module")
def answers(tracking_server: str, mlflow_url: str) -> tuple[dict[str, Answer], dict[str, Answer]]:
    return _answers(tracking_server), _answers(mlflow_url)


def _masked(answer: Answer, run_ids: Callable[[str], str]) -> Answer:
    status, body = answer
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        body = {**body, "message": run_ids(body["message"])}
    return status, body


def test_bad_requests_get_mlflows_answers(
    answers: tuple[dict[str, Answer], dict[str, Answer]],
) -> None:
    import re

    ours, theirs = answers
    assert ours.keys() == theirs.keys()

    def mask(text: str) -> str:
        return re.sub(r"[0-9a-f]{32}", "<id>", text)

    differences = [
        f"{label}: labtrack {_masked(ours[label], mask)} != MLflow {_masked(theirs[label], mask)}"
        for label in ours
        if label not in MORE_SPECIFIC
        and label not in _SEARCH_LABELS
        and _masked(ours[label], mask) != _masked(theirs[label], mask)
    ]
    assert differences == []


_SEARCH_LABELS = {case.label for case in SEARCH_ERRORS}


@pytest.mark.parametrize("case", SEARCH_ERRORS, ids=lambda case: case.label)
def test_search_errors_open_with_mlflows_words(
    answers: tuple[dict[str, Answer], dict[str, Answer]], case: SearchError
) -> None:
    ours, theirs = answers
    for server, (status, body) in (("labtrack", ours[case.label]), ("MLflow", theirs[case.label])):
        assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), server
        assert body["message"].startswith(case.opening), (server, body["message"])
    assert " at position " in ours[case.label][1]["message"]


@pytest.mark.parametrize("label", sorted(MORE_SPECIFIC))
def test_labtrack_refuses_more_clearly_where_mlflow_does_not(
    answers: tuple[dict[str, Answer], dict[str, Answer]], label: str
) -> None:
    ours, theirs = answers
    clearer = MORE_SPECIFIC[label]
    assert ours[label] != theirs[label]  # if MLflow changed, compare this case like the others
    status, body = ours[label]
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert body["message"].startswith(clearer.ours)
    assert clearer.ours.startswith(clearer.shared)
    their_status, their_body = theirs[label]
    if clearer.shared:  # MLflow's server refuses it too, with the same code and opening
        assert (their_status, their_body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert their_body["message"].startswith(clearer.shared)
    else:  # it takes the request, or fails with a 500
        assert their_status in (200, 500)


def test_the_mlflow_client_treats_the_server_as_current(tracking_server: str) -> None:
    """MLflow's client reads /version to decide what it may call (log_spans needs 3.4)."""
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.rest_utils import MlflowHostCreds
    from packaging.version import Version

    RestStore._get_server_version.cache_clear()
    version = RestStore._get_server_version(MlflowHostCreds(tracking_server))
    assert version is not None
    assert version >= Version("3.4")
    assert str(version.local).startswith("labtrack.")


def test_a_refused_registration_leaves_nothing(tracking_server: str, tmp_path: Path) -> None:
    """MLflow's register_model refuses a runs:/ path without a model; labtrack's too, with
    MLflow's words (checked here through labtrack's client against the same server)."""
    from labtrack.errors import ResourceDoesNotExist
    from labtrack.tracking.client import TrackingClient

    client = TrackingClient(tracking_server)
    run_id = client.create_run("0").info.run_id
    name = f"nothing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ResourceDoesNotExist) as refused:
        client.register_model(f"runs:/{run_id}/model", name)
    assert refused.value.message == (
        f"Unable to find a logged_model with artifact_path model under run {run_id}"
    )
    assert [m.name for m in client.search_registered_models(f"name = '{name}'")] == []
