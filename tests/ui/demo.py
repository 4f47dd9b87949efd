"""A small store like the seed workflow's (a hyperopt sweep of xgboost runs), for UI tests.

``build(context)`` fills a server's store: an experiment of tuning runs with params,
an rmse history and tags, a parent run with nested children, a "best" run with
artifacts to preview (PNG, CSV, HTML with a script, JSON, YAML, a model directory with
an MLmodel file, and a logged model as MLflow 3 logs one), and a run whose user-given
strings try to inject HTML.
"""

from __future__ import annotations

import json
import math
import random
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labtrack.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
)

if TYPE_CHECKING:
    from labtrack.server.app import ServerContext

LONG_HISTORY = 20_000
XSS_NAME = "<script>window.__xss = 1</script>run"
XSS_TAG = '<img src=x onerror="window.__xss = 2">'
XSS_PARAM = "<b onmouseover=alert(3)>bold</b>"
XSS_FILE = "<img src=x onerror=alert(4)>.txt"
HTML_REPORT = (
    "<!doctype html><html><body><h1 id='report-title'>Validation report</h1>"
    "<script>parent.document.title = 'pwned'; document.body.dataset.ran = 'yes';</script>"
    "</body></html>"
)
MLMODEL = """\
artifact_path: models_mlflow
flavors:
  python_function:
    env:
      virtualenv: python_env.yaml
    loader_module: mlflow.xgboost
    python_version: 3.11.7
  xgboost:
    code: null
    data: model.xgb
    model_class: xgboost.core.Booster
    xgb_version: 2.0.3
mlflow_version: 2.9.2
model_uuid: 5d1b2b4c6a6d4f0e9d0a0f6b9b7c2e11
run_id: {run_id}
signature:
  inputs: '[{{"type": "double", "name": "trip_distance", "required": true}},
    {{"type": "string", "name": "PU_DO", "required": true}}]'
  outputs: '[{{"type": "double", "name": "duration", "required": true}}]'
  params: null
utc_time_created: '2026-11-20 10:00:00.000000'
"""


@dataclass
class Demo:
    experiment_id: str
    sweep_ids: list[str]
    best_run_id: str
    parent_run_id: str
    child_ids: list[str]
    xss_run_id: str
    model_id: str = ""


def png(width: int = 64, height: int = 40) -> bytes:
    """A small gradient PNG, written by hand (no imaging library needed)."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 4 % 256, y * 6 % 256, 160))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def build(ctx: ServerContext, n_runs: int = 30, seed: int = 7) -> Demo:
    service = ctx.service
    rng = random.Random(seed)
    experiment_id = service.create_experiment("nyc-taxi-xgboost")
    sweep_ids: list[str] = []
    best: tuple[float, str] | None = None
    t0 = 1_763_600_000_000
    for i in range(n_runs):
        run = service.create_run(
            experiment_id,
            run_name=f"trial-{i:02d}",
            start_time=t0 + i * 60_000,
            tags={
                "model": "xgboost",
                "developer": "ana",
                "mlflow.user": "ana",
                "mlflow.source.name": "duration-prediction.py",
                "mlflow.source.git.commit": f"{rng.getrandbits(160):040x}",
                "mlflow.source.git.dirty": "true" if i % 7 == 0 else "false",
            },
        )
        run_id = run.info.run_id
        depth = rng.randint(4, 100)
        lr = math.exp(rng.uniform(-3, 0))
        rmse = 6.2 + abs(math.log(lr) + 1.2) * 0.4 + abs(depth - 20) / 200 + rng.random() * 0.2
        history = [
            Metric("validation-rmse", rmse + 4 * math.exp(-s / 12), t0 + i * 60_000 + s * 100, s)
            for s in range(60)
        ]
        service.log_batch(
            run_id,
            [*history, Metric("rmse", rmse, t0 + i * 60_000 + 9000, 0)],
            [
                Param("max_depth", str(depth)),
                Param("learning_rate", f"{lr:.4f}"),
                Param("reg_alpha", f"{math.exp(rng.uniform(-5, -1)):.4f}"),
                Param("min_child_weight", f"{math.exp(rng.uniform(-1, 3)):.3f}"),
                Param("objective", "reg:linear"),
                Param("seed", "42"),
            ],
            [],
        )
        service.set_terminated(run_id, end_time=t0 + i * 60_000 + 9_000 + i * 1000)
        sweep_ids.append(run_id)
        if best is None or rmse < best[0]:
            best = (rmse, run_id)
    assert best is not None
    best_run_id = best[1]
    _artifacts(ctx, best_run_id)
    model_id = _logged_model(ctx, best_run_id)
    # A long history (downsampled on the server, detail on zoom).
    service.log_batch(
        best_run_id,
        [
            Metric("train-loss", 2 * math.exp(-i / 4000) + 0.05 * math.sin(i / 50), t0 + i, i)
            for i in range(LONG_HISTORY)
        ],
        [],
        [],
    )
    service.log_inputs(
        best_run_id,
        [
            DatasetInput(
                Dataset(
                    "yellow_tripdata_2022-01", "a1b2c3d4", "local", '{"uri": "data/jan.parquet"}'
                ),
                (InputTag("mlflow.data.context", "training"),),
            )
        ],
    )
    service.set_tag(
        best_run_id, "mlflow.note.content", "Best trial of the sweep.\nTrained on January."
    )

    parent = service.create_run(experiment_id, run_name="hyperopt-search", start_time=t0 - 10_000)
    child_ids = []
    for j in range(4):
        child = service.create_run(
            experiment_id,
            run_name=f"hyperopt-child-{j}",
            start_time=t0 - 9_000 + j,
            tags={"mlflow.parentRunId": parent.info.run_id},
        )
        service.log_batch(
            child.info.run_id,
            [Metric("rmse", 7.0 + j / 10, t0, 0)],
            [Param("max_depth", str(10 + j))],
            [],
        )
        service.set_terminated(child.info.run_id)
        child_ids.append(child.info.run_id)
    service.set_terminated(parent.info.run_id)

    xss = service.create_run(
        experiment_id, run_name=XSS_NAME, start_time=t0 - 20_000, tags={"note": XSS_TAG}
    )
    service.log_batch(
        xss.info.run_id, [Metric("rmse", 9.5, t0, 0)], [Param("objective", XSS_PARAM)], []
    )
    repo = ctx.repository_for(xss.info.artifact_uri)
    repo.log_bytes(b"not html", XSS_FILE)
    return Demo(
        experiment_id,
        sweep_ids,
        best_run_id,
        parent.info.run_id,
        child_ids,
        xss.info.run_id,
        model_id,
    )


def _artifacts(ctx: ServerContext, run_id: str) -> None:
    run = ctx.service.get_run(run_id)
    repo = ctx.repository_for(run.info.artifact_uri)
    repo.log_bytes(png(), "feature_importance.png")
    rows = ["trip_distance,PU_DO,duration,prediction"]
    rows += [f"{d / 10:.1f},{d % 7}_{d % 5},{d * 1.3:.2f},{d * 1.25:.2f}" for d in range(40)]
    repo.log_bytes("\n".join(rows).encode(), "predictions.csv")
    repo.log_bytes(HTML_REPORT.encode(), "report.html")
    repo.log_bytes(json.dumps({"max_depth": 21, "learning_rate": 0.29}).encode(), "params.json")
    repo.log_bytes(b"name: exp-tracking-env\ndependencies:\n  - python=3.9\n", "conda.yaml")
    repo.log_bytes(MLMODEL.format(run_id=run_id).encode(), "models_mlflow/MLmodel")
    repo.log_bytes(b"xgboost==2.0.3\n", "models_mlflow/requirements.txt")
    repo.log_bytes(b"\x00\x01binary", "models_mlflow/model.xgb")


def _logged_model(ctx: ServerContext, run_id: str) -> str:
    """A model logged as MLflow 3 (and labtrack's ``log_model``) logs one: its own files."""
    service = ctx.service
    run = service.get_run(run_id)
    logged = service.create_logged_model(
        run.info.experiment_id, "taxi-model", source_run_id=run_id, model_type="regressor"
    )
    service.log_outputs(run_id, [LoggedModelOutput(logged.model_id, 59)])
    repo = ctx.repository_for(logged.artifact_location)
    repo.log_bytes(MLMODEL.format(run_id=run_id).encode(), "MLmodel")
    repo.log_bytes(b"\x00\x01binary", "model.xgb")
    repo.log_bytes(b"mlflow==3.1.0\nxgboost==2.0.3\n", "requirements.txt")
    repo.log_bytes(b"name: mlflow-env\ndependencies:\n  - python=3.11\n", "conda.yaml")
    repo.log_bytes(b"python: 3.11.7\nbuild_dependencies:\n  - pip\n", "python_env.yaml")
    repo.log_bytes(
        b'{"columns": ["trip_distance"], "data": [[1.5]]}', "metadata/input_example.json"
    )
    service.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return logged.model_id
