"""``labtrack models serve`` as a real process on a real port.

The command's own errors (a model it cannot load, a port in use), a registered model
served by alias with one and two workers, every client mistake of test_serve.py's table
sent over the network (plus oversized bodies and Hypothesis-generated JSON: never a
500), and the same answers as ``mlflow models serve`` on the same model files.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labtrack as lt
from labtrack.cli.main import cli
from labtrack.models.serve import read_prediction_log
from livesrv import free_port

from .conftest import make_frame, make_sk_model
from .test_serve import JSON, MISTAKES, _expected, _payloads

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_VENV = ROOT / "bench" / ".work" / "mlflow-venv"


# -- the command -------------------------------------------------------------------------
def test_serve_fails_fast_on_a_model_it_cannot_load(tmp_path: Path) -> None:
    port = free_port()
    result = CliRunner().invoke(
        cli, ["models", "serve", "-m", str(tmp_path / "nothing"), "--port", str(port)]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: No model at {str(tmp_path / 'nothing')!r}: "
        f"{str(tmp_path / 'nothing')!r} does not exist"
    ]
    unknown = CliRunner().invoke(cli, ["models", "serve", "-m", "models:/nope@champion"])
    assert unknown.exit_code == 1
    assert len(unknown.output.strip().splitlines()) == 1
    assert "nope" in unknown.output


def test_serve_refuses_a_port_in_use(model_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["models", "serve", "-m", str(model_path), "--port", str(port)]
        )
    assert result.exit_code == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err.decode(errors="replace") if err else ""


def _ping(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            said = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"the server exited with {proc.returncode}: {said}")
        try:
            if httpx.get(f"{url}/ping", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"no answer from {url}/ping in {timeout}s")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_a_registered_model_by_alias(
    tmp_path: Path, frame: Any, sk_model: Any, workers: int
) -> None:
    features, _ = frame
    with lt.start_run():
        info = lt.sklearn.log_model(
            sk_model, name="model", input_example=features.head(3), registered_model_name="churn"
        )
    lt.TrackingClient().set_registered_model_alias("churn", "champion", 1)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir = tmp_path / "predictions"
    proc = _start(
        [
            sys.executable,
            "-m",
            "labtrack.cli",
            "models",
            "serve",
            "-m",
            "models:/churn@champion",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-predictions",
            str(log_dir),
            "--log-level",
            "warning",
        ]
    )
    try:
        _ping(url, proc=proc)
        health = httpx.get(f"{url}/health").json()
        assert health == {
            "status": "OK",
            "model_uri": "models:/churn@champion",
            "model_id": info.model_id,
        }
        with httpx.Client(base_url=url) as http:
            payload = _payloads(features)["dataframe_split"]
            expected = {"predictions": _expected(sk_model, frame)}
            latencies = []
            for _ in range(20):
                start = time.perf_counter()
                response = http.post("/invocations", json=payload)
                latencies.append(time.perf_counter() - start)
                assert response.json() == expected
            # One row on keep-alive: milliseconds, not Nagle's 40 ms (see server/_serving.py)
            assert statistics.median(latencies) < 0.03, latencies
            bad = http.post("/invocations", json={"inputs": {"a": [1.0]}})
            assert bad.status_code == 400
            assert "missing from the input" in bad.json()["message"]
            csv = http.post(
                "/invocations",
                content=features.head(3).to_csv(index=False),
                headers={"content-type": "text/csv"},
            )
            assert csv.json() == expected
    finally:
        err = _stop(proc)
    assert "Traceback" not in err, err
    rows = read_prediction_log(log_dir)
    assert len(rows) == 21 * 3
    assert set(rows["model_id"]) == {info.model_id}


# -- the same answers as MLflow's scoring server -----------------------------------------
@pytest.mark.slow
def test_same_predictions_as_mlflow_models_serve(tmp_path: Path, frame: Any, sk_model: Any) -> None:
    mlflow_bin = MLFLOW_VENV / "bin" / "mlflow"
    if not mlflow_bin.exists():
        pytest.skip(
            f"MLflow's venv is missing ({MLFLOW_VENV}; python bench/models_bench.py makes it)"
        )
    features, _ = frame
    models = {"predict": tmp_path / "predict", "proba": tmp_path / "proba"}
    lt.sklearn.save_model(sk_model, models["predict"], input_example=features.head(3))
    lt.sklearn.save_model(
        sk_model, models["proba"], input_example=features.head(3), pyfunc_predict_fn="predict_proba"
    )
    rows = features.head(4)
    payloads: list[tuple[str, bytes]] = [
        (JSON, json.dumps(p).encode()) for p in _payloads(features).values()
    ]
    # (MLflow refuses {"inputs": [[...], ...]} rows for a model with named columns; labtrack
    # takes them as the signature's columns in order: not compared.)
    payloads.append(("text/csv", rows.to_csv(index=False).encode()))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LABTRACK_", "MLFLOW_"))}
    clean.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    # as in an activated venv: `mlflow models serve` runs `uvicorn` from PATH
    clean["PATH"] = f"{mlflow_bin.parent}{os.pathsep}{clean.get('PATH', '')}"
    for name, path in models.items():
        ours_port, theirs_port = free_port(), free_port()
        ours = _start(
            [
                sys.executable,
                "-m",
                "labtrack.cli",
                "models",
                "serve",
                "-m",
                str(path),
                "--port",
                str(ours_port),
            ]
        )
        theirs_log = tmp_path / f"mlflow-{name}.log"
        with open(theirs_log, "wb") as theirs_err:
            theirs = subprocess.Popen(
                [
                    str(mlflow_bin),
                    "models",
                    "serve",
                    "-m",
                    str(path),
                    "--env-manager",
                    "local",
                    "--port",
                    str(theirs_port),
                    "--host",
                    "127.0.0.1",
                ],
                env=clean,
                stdout=subprocess.DEVNULL,
                stderr=theirs_err,
                start_new_session=True,
            )
        try:
            _ping(f"http://127.0.0.1:{ours_port}", proc=ours)
            try:
                _ping(f"http://127.0.0.1:{theirs_port}", timeout=120, proc=theirs)
            except (RuntimeError, TimeoutError) as exc:
                raise AssertionError(
                    f"{exc}; MLflow's log: {theirs_log.read_text()[-2000:]}"
                ) from exc
            for content_type, body in payloads:
                answers = [
                    httpx.post(
                        f"http://127.0.0.1:{port}/invocations",
                        content=body,
                        headers={"content-type": content_type},
                        timeout=30,
                    )
                    for port in (ours_port, theirs_port)
                ]
                assert [a.status_code for a in answers] == [200, 200], (name, body, answers[1].text)
                assert answers[0].json() == answers[1].json(), (name, body)
            nan_row = (
                b'{"dataframe_split": {"columns": ["a", "b", "c", "n"], "data": [[NaN, 1, 1, 1]]}}'
            )
            for body in (b"{not json", b'{"nothing": 1}', nan_row):
                statuses = [
                    httpx.post(
                        f"http://127.0.0.1:{port}/invocations",
                        content=body,
                        headers={"content-type": JSON},
                    ).status_code
                    for port in (ours_port, theirs_port)
                ]
                assert statuses == [400, 400], (name, body)
        finally:
            _stop(ours)
            _stop(theirs)


# -- client mistakes over the network ----------------------------------------------------
MAX_BODY = 256 * 1024


class LiveServer:
    """A ``labtrack models serve`` process and what it wrote to stderr."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, stderr: Path) -> None:
        self.proc, self.url, self.stderr = proc, url, stderr

    def post(self, body: bytes, content_type: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(
            f"{self.url}/invocations",
            content=body,
            headers={"content-type": content_type},
            timeout=30,
            **kwargs,
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module: the conftest model, a body limit of MAX_BODY bytes."""
    tmp = tmp_path_factory.mktemp("live")
    frame = make_frame()
    lt.sklearn.save_model(make_sk_model(frame), tmp / "model", input_example=frame[0].head(3))
    port = free_port()
    stderr = tmp / "stderr.log"
    with open(stderr, "wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labtrack.cli",
                "models",
                "serve",
                "-m",
                str(tmp / "model"),
                "--port",
                str(port),
                "--max-body-size",
                str(MAX_BODY),
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    server = LiveServer(proc, f"http://127.0.0.1:{port}", stderr)
    try:
        _ping(server.url, proc=proc)
        yield server
    finally:
        _stop(proc)
    assert "Traceback" not in stderr.read_text(errors="replace")


def _assert_error(response: httpx.Response, status: int, code: str, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error_code", "message"}
    assert response.json()["error_code"] == code
    assert fragment in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "fragment"),
    [m[1:] for m in MISTAKES],
    ids=[m[0] for m in MISTAKES],
)
def test_client_mistakes_over_the_network(
    live: LiveServer, body: Any, content_type: str, status: int, code: str, fragment: str
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    _assert_error(live.post(content, content_type), status, code, fragment)


def test_oversized_bodies_are_413_and_the_server_goes_on(live: LiveServer) -> None:
    row: dict[str, Any] = {"columns": ["a", "b", "c", "n"], "data": [[0.1, 0.2, 0.3, 1]] * 20_000}
    body = json.dumps({"dataframe_split": row}).encode()
    assert len(body) > MAX_BODY
    # Content-Length says so: refused before the body is read
    _assert_error(
        live.post(body, JSON),
        413,
        "INVALID_PARAMETER_VALUE",
        f"The request body of {len(body)} bytes is larger than the limit of {MAX_BODY} bytes",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it is read
        for i in range(0, len(body), 16384):
            yield body[i : i + 16384]

    _assert_error(
        httpx.post(
            f"{live.url}/invocations",
            content=chunks(),
            headers={"content-type": JSON},
            timeout=30,
        ),
        413,
        "INVALID_PARAMETER_VALUE",
        f"larger than the limit of {MAX_BODY} bytes",
    )
    small = {"dataframe_split": {**row, "data": row["data"][:2]}}
    answer = live.post(json.dumps(small).encode(), JSON)
    assert answer.status_code == 200
    assert len(answer.json()["predictions"]) == 2


def test_a_request_cut_short_does_not_stop_the_server(live: LiveServer) -> None:
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"inputs": '
        )
    assert httpx.get(f"{live.url}/ping", timeout=10).status_code == 200


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["a", "b", "c", "n", "columns", "data", "index"])
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)
_rows = st.lists(st.fixed_dictionaries({}, optional=dict.fromkeys("abcn", _scalars)), max_size=4)
_payload = st.one_of(
    st.builds(lambda v: {"dataframe_split": v}, _json),
    st.builds(
        lambda cols, data: {"dataframe_split": {"columns": cols, "data": data}},
        st.lists(st.sampled_from(["a", "b", "c", "n", "x"]), max_size=5),
        st.lists(st.lists(_scalars, max_size=5), max_size=4),
    ),
    st.builds(lambda v: {"dataframe_records": v}, _rows | _json),
    st.builds(lambda v: {"instances": v}, _rows | _json),
    st.builds(lambda v: {"inputs": v}, _json),
    st.builds(lambda v, p: {"inputs": v, "params": p}, _rows, _json),
    _json,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=_payload)
def test_generated_payloads_never_get_a_500(live: LiveServer, payload: Any) -> None:
    # allow_nan: NaN and Infinity as Python's json (and MLflow's server) read them
    response = live.post(json.dumps(payload).encode(), JSON)
    assert response.status_code in (200, 400, 413), (payload, response.text)
    if response.status_code != 200:
        assert set(response.json()) == {"error_code", "message"}, response.text
        assert response.json()["message"]


_cells = st.sampled_from(
    ["1", "0.5", "", "x", "nan", "inf", "1e999", "9" * 25, '"', '"a,b"', "TRUE", " 2 "]
)
_csv = st.builds(
    lambda head, rows: "\n".join([",".join(head), *map(",".join, rows)]).encode(),
    st.lists(st.sampled_from(["a", "b", "c", "n", "x", ""]), max_size=6),
    st.lists(st.lists(_cells, max_size=6), max_size=4),
) | st.binary(max_size=60)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_csv, content_type=st.sampled_from(["text/csv", "application/vnd.apache.parquet"]))
def test_generated_csv_and_parquet_bodies_never_get_a_500(
    live: LiveServer, body: bytes, content_type: str
) -> None:
    response = live.post(body, content_type)
    assert response.status_code in (200, 400), (body, response.text)
    if response.status_code != 200:
        assert set(response.json()) == {"error_code", "message"}, response.text
