"""``labtrack models serve``'s app in-process (httpx.ASGITransport): MLflow's scoring protocol.

Every payload format, CSV and Parquet bodies, params, a table of client mistakes (each
a 4xx naming the problem, never a 500), a model that raises, the service endpoints, the
prediction log. ``test_serve_live.py`` runs the command as a real process on a real port.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import labtrack as lt
from labtrack.models._prediction_log import PredictionLog, read_prediction_log
from labtrack.models.serve import ScoringServer, create_app

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")


class Client:
    """Synchronous calls into an ASGI app through httpx.ASGITransport."""

    def __init__(self, app: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://scoring"
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.http.request(method, path, **kwargs))

    def score(self, body: Any, content_type: str = "application/json") -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.request(
            "POST", "/invocations", content=content, headers={"content-type": content_type}
        )

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()


@pytest.fixture
def client(model_path: Path) -> Iterator[Client]:
    c = Client(create_app(lt.pyfunc.load_model(model_path), model_uri="models:/churn@champion"))
    yield c
    c.close()


def _rows(frame: Any) -> Any:
    return frame.head(3)


def _expected(sk_model: Any, frame: Any) -> list[Any]:
    return sk_model.predict(_rows(frame[0])).tolist()


def _payloads(features: Any) -> dict[str, Any]:
    rows = features.head(3)
    return {
        "dataframe_split": {"dataframe_split": rows.to_dict(orient="split")},
        "dataframe_split without index": {
            "dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}
        },
        "dataframe_records": {"dataframe_records": rows.to_dict(orient="records")},
        "inputs as columns": {"inputs": rows.to_dict(orient="list")},
        "inputs as records": {"inputs": rows.to_dict(orient="records")},
        "instances as records": {"instances": rows.to_dict(orient="records")},
        "extra keys ignored": {
            "dataframe_split": rows.to_dict(orient="split"),
            "client_request_id": "abc",
        },
    }


PAYLOAD_KINDS = list(_payloads(pd.DataFrame({"a": [1.0]})))


@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
def test_every_payload_format(client: Client, frame: Any, sk_model: Any, kind: str) -> None:
    response = client.score(_payloads(frame[0])[kind])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": _expected(sk_model, frame)}


def test_an_unnamed_2d_list_takes_the_signature_columns_in_order(
    client: Client, frame: Any, sk_model: Any
) -> None:
    rows = _rows(frame[0])
    response = client.score({"inputs": rows.values.tolist()})
    assert response.json() == {"predictions": _expected(sk_model, frame)}


def test_csv_body(client: Client, frame: Any, sk_model: Any) -> None:
    body = _rows(frame[0]).to_csv(index=False).encode()
    response = client.score(body, "text/csv")
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": _expected(sk_model, frame)}
    assert client.score(body, "text/csv; charset=utf-8").status_code == 200
    assert client.score(body, "text/csv;").status_code == 200


def test_parquet_body(client: Client, frame: Any, sk_model: Any) -> None:
    pytest.importorskip("pyarrow")
    buffer = io.BytesIO()
    _rows(frame[0]).to_parquet(buffer)
    response = client.score(buffer.getvalue(), "application/vnd.apache.parquet")
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": _expected(sk_model, frame)}


def test_predict_fn_output_is_shaped_as_mlflow_shapes_it(
    tmp_path: Path, frame: Any, sk_model: Any
) -> None:
    features, _ = frame
    lt.sklearn.save_model(
        sk_model,
        tmp_path / "proba",
        input_example=features.head(2),
        pyfunc_predict_fn="predict_proba",
    )
    c = Client(create_app(lt.pyfunc.load_model(tmp_path / "proba")))
    try:
        response = c.score({"dataframe_records": features.head(2).to_dict(orient="records")})
    finally:
        c.close()
    expected = sk_model.predict_proba(features.head(2))
    np.testing.assert_allclose(response.json()["predictions"], expected)


# -- custom models: params, outputs, failures ------------------------------------------
class Offset(lt.pyfunc.PythonModel):
    """x + offset, as a Series named "y"; raises for negative x."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        if (model_input["x"] < 0).any():
            raise ValueError("boom: negative x")
        return (model_input["x"] + params["offset"]).rename("y")


@pytest.fixture
def offset_client(tmp_path: Path) -> Iterator[Client]:
    lt.pyfunc.save_model(
        Offset(), tmp_path / "offset", input_example=(pd.DataFrame({"x": [1.0]}), {"offset": 0.5})
    )
    c = Client(create_app(lt.pyfunc.load_model(tmp_path / "offset", trust_pickle=True)))
    yield c
    c.close()


def test_params_are_passed_and_default_from_the_signature(offset_client: Client) -> None:
    rows = {"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0]]}}
    default = offset_client.score(rows)
    assert default.json() == {"predictions": [{"y": 1.5}, {"y": 2.5}]}  # a Series, as MLflow
    given = offset_client.score({**rows, "params": {"offset": 10}})
    assert given.json() == {"predictions": [{"y": 11.0}, {"y": 12.0}]}
    bad = offset_client.score({**rows, "params": {"offset": "ten"}})
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Param 'offset' must be double" in bad.json()["message"]


def test_an_input_the_model_raises_on_is_a_400_and_the_server_goes_on(
    offset_client: Client,
) -> None:
    """It passed the signature check but the model refuses it: the request's fault, a 400
    as MLflow answers (a NaN for a model that takes none is the common case)."""
    response = offset_client.score({"inputs": {"x": [-1.0]}})
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "BAD_REQUEST",
        "message": "The model failed to predict on this input: ValueError: boom: negative x",
    }
    assert offset_client.request("GET", "/ping").status_code == 200
    assert offset_client.score({"inputs": {"x": [1.0]}}).json() == {"predictions": [{"y": 1.5}]}


class Tensor(lt.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input.sum(axis=1)


def test_tensor_inputs(tmp_path: Path) -> None:
    lt.pyfunc.save_model(Tensor(), tmp_path / "t", input_example=np.ones((2, 3)))
    c = Client(create_app(lt.pyfunc.load_model(tmp_path / "t", trust_pickle=True)))
    try:
        ok = c.score({"inputs": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]})
        assert ok.json() == {"predictions": [6.0, 15.0]}
        assert c.score({"instances": [[1.0, 1.0, 1.0]]}).json() == {"predictions": [3.0]}
        wrong = c.score({"inputs": [[1.0, 2.0]]})
        assert wrong.status_code == 400
        assert "must have shape [-1, 3], got [1, 2]" in wrong.json()["message"]
    finally:
        c.close()


# -- client mistakes: 4xx naming the problem ---------------------------------------------
SPLIT = {"columns": ["a", "b", "c", "n"], "data": [[0.1, 0.2, 0.3, 1]]}
JSON = "application/json"

MISTAKES: list[tuple[str, Any, str, int, str, str]] = [
    ("malformed JSON", b'{"dataframe_split": ', JSON, 400, "BAD_REQUEST", "not valid JSON"),
    ("not UTF-8", b"\xff\xfe", JSON, 400, "BAD_REQUEST", "not valid JSON"),
    ("a JSON list", [1, 2], JSON, 400, "BAD_REQUEST", "must be a JSON object"),
    ("no format key", {"data": [1]}, JSON, 400, "BAD_REQUEST", "its keys are ['data']"),
    (
        "several format keys",
        {"dataframe_split": SPLIT, "inputs": [[1]]},
        JSON,
        400,
        "BAD_REQUEST",
        "exactly one of the keys dataframe_split, dataframe_records, instances, inputs; "
        "it has dataframe_split, inputs",
    ),
    (
        "split not an object",
        {"dataframe_split": [[1]]},
        JSON,
        400,
        "BAD_REQUEST",
        "got a JSON list",
    ),
    (
        "split with unknown keys",
        {"dataframe_split": {"columns": ["a"], "rows": [[1]]}},
        JSON,
        400,
        "BAD_REQUEST",
        "unknown keys ['rows']",
    ),
    (
        "split rows of the wrong length",
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0], [3.0]]}},
        JSON,
        400,
        "BAD_REQUEST",
        "one value per column (2 columns), got rows of length 1, 2",
    ),
    (
        "records not a list",
        {"dataframe_records": {"a": 1}},
        JSON,
        400,
        "BAD_REQUEST",
        "'dataframe_records' must be a list of row objects, got a JSON object",
    ),
    ("ragged inputs", {"inputs": [[1, 2], [3]]}, JSON, 400, "BAD_REQUEST", "not a valid array"),
    (
        "instances with different keys",
        {"instances": [{"a": 1.0}, {"b": 2.0}]},
        JSON,
        400,
        "BAD_REQUEST",
        "every instance must have the same keys",
    ),
    (
        "params not an object",
        {"dataframe_split": SPLIT, "params": [1]},
        JSON,
        400,
        "BAD_REQUEST",
        "'params' must be a JSON object, got a JSON list",
    ),
    (
        "no rows",
        {"dataframe_split": {"columns": ["a", "b", "c", "n"], "data": []}},
        JSON,
        400,
        "BAD_REQUEST",
        "no input rows",
    ),
    (
        "a missing column",
        {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[0.1, 0.2, 0.3]]}},
        JSON,
        400,
        "INVALID_PARAMETER_VALUE",
        "Column 'n' (long) is required by the model signature but missing",
    ),
    (
        "a string for a double",
        {"dataframe_records": [{"a": "x", "b": 0.2, "c": 0.3, "n": 1}]},
        JSON,
        400,
        "INVALID_PARAMETER_VALUE",
        "Column 'a' must be double, got string values ('x')",
    ),
    (
        "a float for a long",
        {"dataframe_records": [{"a": 0.1, "b": 0.2, "c": 0.3, "n": 1.5}]},
        JSON,
        400,
        "INVALID_PARAMETER_VALUE",
        "Column 'n' must be long, got double values (1.5)",
    ),
    (
        "JSON nested too deeply",
        b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        JSON,
        400,
        "BAD_REQUEST",
        "nested too deeply",
    ),
    (
        "split column names that are not names",
        {"dataframe_split": {"columns": [["a"]], "data": [[1.0]]}},
        JSON,
        400,
        "BAD_REQUEST",
        "'columns' must be a list of column names, got [['a']]",
    ),
    (
        "inputs columns of different lengths",
        {"inputs": {"a": [0.1], "b": [0.2], "c": [0.3], "n": [1, 2]}},
        JSON,
        400,
        "INVALID_PARAMETER_VALUE",
        "columns must all have as many values; got 'a': 1, 'b': 1, 'c': 1, 'n': 2",
    ),
    (
        "a list where a double goes",
        {"instances": [{"a": [0.1, 0.2], "b": 0.2, "c": 0.3, "n": 1}]},
        JSON,
        400,
        "INVALID_PARAMETER_VALUE",
        "Column 'a' must be double, got array values ([0.1, 0.2])",
    ),
    (
        "a NaN the model refuses",
        b'{"dataframe_split": {"columns": ["a", "b", "c", "n"], "data": [[NaN, 0.2, 0.3, 1]]}}',
        JSON,
        400,
        "BAD_REQUEST",
        "The model failed to predict on this input: ValueError: Input X contains NaN",
    ),
    (
        "text/plain",
        b"a,b",
        "text/plain",
        415,
        "BAD_REQUEST",
        "Unsupported content type 'text/plain'",
    ),
    ("no content type", b"{}", "", 415, "BAD_REQUEST", "Unsupported content type none"),
    ("latin-1", b"{}", "application/json; charset=latin-1", 415, "BAD_REQUEST", "UTF-8 only"),
    (
        "unknown content type parameter",
        b"{}",
        "application/json; format=pandas-split",
        415,
        "BAD_REQUEST",
        "Unrecognized content type parameters: format",
    ),
    ("empty CSV", b"", "text/csv", 400, "BAD_REQUEST", "not a valid CSV file"),
    (
        "CSV with wrong columns",
        b"x,y\n1,2\n",
        "text/csv",
        400,
        "INVALID_PARAMETER_VALUE",
        "Columns 'a' (double), 'b' (double), 'c' (double), 'n' (long) are required",
    ),
    (
        "CSV with a value that is not a number",
        b"a,b,c,n\n0.1,0.2,0.3,1\n0.1,x,0.3,2\n",
        "text/csv",
        400,
        "INVALID_PARAMETER_VALUE",
        "Column 'b' must be double, got 'x' in row 2",
    ),
    (
        "not Parquet",
        b"PAR1 nope",
        "application/vnd.apache.parquet",
        400,
        "BAD_REQUEST",
        "not a valid Parquet file",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "fragment"),
    [m[1:] for m in MISTAKES],
    ids=[m[0] for m in MISTAKES],
)
def test_client_mistakes_are_4xx_naming_the_problem(
    client: Client, body: Any, content_type: str, status: int, code: str, fragment: str
) -> None:
    response = client.score(body, content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error_code", "message"}
    assert response.json()["error_code"] == code
    assert fragment in response.json()["message"]


def test_body_size_limit(model_path: Path) -> None:
    c = Client(create_app(lt.pyfunc.load_model(model_path), max_body_bytes=100))
    try:
        response = c.score({"dataframe_split": {"columns": ["a"] * 10, "data": [[1.0] * 200]}})
        assert response.status_code == 413
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "larger than the limit of 100 bytes" in response.json()["message"]
    finally:
        c.close()


def test_large_bodies_are_predicted_in_a_thread(
    model_path: Path, frame: Any, sk_model: Any
) -> None:
    app = ScoringServer(lt.pyfunc.load_model(model_path), inline_body_bytes=0)
    c = Client(app)
    try:
        response = c.score(_payloads(frame[0])["dataframe_split"])
        assert response.json() == {"predictions": _expected(sk_model, frame)}
    finally:
        c.close()


# -- service endpoints -------------------------------------------------------------------
def test_ping_health_version(client: Client) -> None:
    ping = client.request("GET", "/ping")
    assert (ping.status_code, ping.content) == (200, b"")
    health = client.request("GET", "/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "OK",
        "model_uri": "models:/churn@champion",
        "model_id": None,
    }
    version = client.request("GET", "/version")
    assert (version.status_code, version.text) == (200, lt.__version__)


def test_unknown_paths_and_methods(client: Client) -> None:
    missing = client.request("GET", "/predict")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    wrong = client.request("GET", "/invocations")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"


def test_predictions_json_matches_mlflows(mlflow: Any) -> None:
    from mlflow.pyfunc.scoring_server import predictions_to_json as theirs

    from labtrack.models._scoring import predictions_to_json

    outputs = [
        np.array([0, 1, 1]),
        np.array([[0.25, 0.75], [0.5, 0.5]]),
        np.array([1.0, np.nan]),
        pd.Series([1.5, 2.5]),
        pd.Series(["a", "b"], name="label"),
        pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
        [np.float32(1.5), b"bytes", pd.Timestamp("2020-01-01")],
        {"scores": np.array([1, 2])},
        "text",
    ]
    for output in outputs:
        buffer = io.StringIO()
        theirs(output, buffer)
        assert json.loads(predictions_to_json(output)) == json.loads(buffer.getvalue()), output


# -- prediction log ----------------------------------------------------------------------
def test_prediction_log(tmp_path: Path, model_path: Path, frame: Any, sk_model: Any) -> None:
    features, _ = frame
    app = create_app(
        lt.pyfunc.load_model(model_path),
        model_uri="models:/churn/1",
        log_predictions=tmp_path / "log",
    )
    c = Client(app)
    try:
        payloads = _payloads(features)
        for kind in ("dataframe_split", "dataframe_records", "inputs as columns"):
            assert c.score(payloads[kind]).status_code == 200
        assert c.score({"inputs": {"a": [1.0]}}).status_code == 400  # failures are not logged
    finally:
        c.close()
        assert app.prediction_log is not None
        app.prediction_log.close()
    files = list((tmp_path / "log").glob("predictions-*.jsonl"))
    assert len(files) == 1
    assert files[0].name.endswith(f"-{os.getpid()}.jsonl")
    lines = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert len(lines) == 3
    first = lines[0]
    assert set(first) == {"timestamp", "model_uri", "model_id", "rows", "request", "predictions"}
    assert first["model_uri"] == "models:/churn/1"
    assert first["rows"] == 3
    assert first["timestamp"].endswith("Z")
    assert first["predictions"] == _expected(sk_model, frame)
    split = first["request"]["dataframe_split"]
    assert split["columns"] == ["a", "b", "c", "n"]
    assert split["data"] == features.head(3).to_numpy(dtype=object).tolist()

    rows = read_prediction_log(tmp_path / "log")
    assert len(rows) == 9
    assert list(rows.columns) == ["timestamp", "model_id", "a", "b", "c", "n", "prediction"]
    assert rows["prediction"].tolist() == _expected(sk_model, frame) * 3
    assert str(rows["timestamp"].dtype).startswith("datetime64")


def test_a_logged_request_can_be_replayed(tmp_path: Path, offset_client: Client) -> None:
    log = PredictionLog(tmp_path / "log")
    request = {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}, "params": {"offset": 2.0}}
    response = offset_client.score(request)
    log.record(pd.DataFrame({"x": [1.0]}), {"offset": 2.0}, pd.Series([3.0], name="y"), 10)
    log.close()
    line = json.loads(next((tmp_path / "log").glob("*.jsonl")).read_text())
    assert line["request"] == request
    assert offset_client.score(line["request"]).json()["predictions"] == line["predictions"]
    assert response.json()["predictions"] == line["predictions"]


def test_prediction_log_memory_is_bounded_and_files_rotate(tmp_path: Path) -> None:
    # The writer thread waits a minute between batches: nothing is written until close().
    log = PredictionLog(tmp_path / "log", max_pending_bytes=1000, flush_interval=60, max_bytes=500)
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    for _ in range(100):
        log.record(frame, None, np.array([1, 2]), 100)
    assert log.dropped == 90
    log.close()
    assert log.written == 10
    files = sorted((tmp_path / "log").glob("*.jsonl"))
    assert len(files) == 1  # rotation happens between batches: one batch, one file
    for _ in range(3):
        log.record(frame, None, np.array([1, 2]), 100)
        log.flush()
    log.close()
    assert len(list((tmp_path / "log").glob("*.jsonl"))) >= 2
    assert len(read_prediction_log(tmp_path / "log")) == 26


def test_lifespan_starts_and_stops_the_log(tmp_path: Path, model_path: Path) -> None:
    app = create_app(lt.pyfunc.load_model(model_path), log_predictions=tmp_path / "log")
    sent: list[dict[str, Any]] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))  # type: ignore[arg-type]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert app.prediction_log is not None
    assert app.prediction_log._thread is None


class Slow(lt.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        import time

        time.sleep(0.2)
        return [1.0] * len(model_input)


def test_a_slow_model_does_not_hold_up_ping(tmp_path: Path) -> None:
    """Once predictions have been slow (twice: once may be a cold start), they run in a
    thread: a health check sent while one runs answers at once instead of waiting."""
    import time

    lt.pyfunc.save_model(Slow(), tmp_path / "slow")
    app = ScoringServer(lt.pyfunc.load_model(tmp_path / "slow", trust_pickle=True))

    async def scenario() -> tuple[float, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as c:
            body = {"inputs": [[1.0]]}
            for _ in range(2):  # inline, and found slow
                assert (await c.post("/invocations", json=body)).status_code == 200
            assert not app.inline
            start = time.perf_counter()
            done: dict[str, float] = {}

            async def timed(name: str, call: Any) -> None:
                response = await call
                assert response.status_code == 200
                done[name] = time.perf_counter() - start

            await asyncio.gather(
                timed("predict", c.post("/invocations", json=body)),
                timed("ping", c.get("/ping")),
            )
            return done["ping"], done["predict"]

    ping, predict = asyncio.run(scenario())
    assert predict >= 0.2
    assert ping < 0.1, f"/ping waited {ping:.2f} s for the model"
