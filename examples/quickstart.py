"""A hyperparameter sweep tracked with labtrack, on scikit-learn's bundled diabetes data.

    python examples/quickstart.py [--tracking-uri URI]

Runs go to ./labtrack.db (SQLite) and ./labtrack-artifacts/ unless told otherwise.
Each model family is a parent run; each setting is a nested child run with its
params, metrics, a training curve and the residual plot of the best setting.
At the end, the five best runs are printed as a table.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Lasso, Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

import labtrack as lt

SWEEP = {
    "lasso": (Lasso, {"alpha": [0.001, 0.01, 0.1, 0.5, 1.0]}),
    "ridge": (Ridge, {"alpha": [0.01, 0.1, 1.0, 10.0]}),
    "random-forest": (
        RandomForestRegressor,
        {"n_estimators": [50, 150], "max_depth": [3, 6, None], "random_state": [0]},
    ),
    "gradient-boosting": (
        GradientBoostingRegressor,
        {
            "n_estimators": [100, 200],
            "learning_rate": [0.05, 0.1],
            "max_depth": [2, 3],
            "random_state": [0],
        },
    ),
}


def settings(grid: dict[str, list[object]]) -> list[dict[str, object]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def evaluate(model: object, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    predicted = model.predict(x)  # type: ignore[attr-defined]
    return {
        "rmse": float(np.sqrt(mean_squared_error(y, predicted))),
        "mae": float(mean_absolute_error(y, predicted)),
        "r2": float(r2_score(y, predicted)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", help="default: sqlite:///labtrack.db")
    args = parser.parse_args()
    if args.tracking_uri:
        lt.set_tracking_uri(args.tracking_uri)

    data = load_diabetes()
    x_train, x_valid, y_train, y_valid = train_test_split(
        data.data, data.target, test_size=0.25, random_state=42
    )
    experiment = lt.set_experiment("diabetes-quickstart")
    started = time.perf_counter()
    for family, (model_class, grid) in SWEEP.items():
        with lt.start_run(run_name=family, tags={"model": family}):
            lt.log_params({"train_rows": len(x_train), "valid_rows": len(x_valid)})
            best_rmse = float("inf")
            for params in settings(grid):
                with lt.start_run(nested=True, tags={"model": family}):
                    lt.log_params(params)
                    model = model_class(**params).fit(x_train, y_train)
                    # Boosting exposes its training curve: log it as a metric history.
                    stages = getattr(model, "staged_predict", lambda _: [])(x_valid)
                    for step, pred in enumerate(stages):
                        rmse = float(np.sqrt(mean_squared_error(y_valid, pred)))
                        lt.log_metric("valid_rmse_curve", rmse, step=step)
                    scores = evaluate(model, x_valid, y_valid)
                    lt.log_metrics(scores)
                    lt.log_metric("train_rmse", evaluate(model, x_train, y_train)["rmse"])
                    best_rmse = min(best_rmse, scores["rmse"])
            lt.log_metric("best_rmse", best_rmse)
    elapsed = time.perf_counter() - started

    best = lt.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string="metrics.rmse < 60 and tags.mlflow.parentRunId IS NOT NULL",
        order_by=["metrics.rmse ASC"],
        max_results=5,
        output_format="list",
    )
    print(
        f"Tracked {sum(len(settings(g)) for _, g in SWEEP.values())} runs in {elapsed:.1f}s "
        f"into {lt.get_tracking_uri()} (experiment {experiment.name!r}).\n"
    )
    print(f"{'run':<24} {'model':<18} {'rmse':>7} {'mae':>7} {'r2':>6}  params")
    for run in best:
        m, p = run.data.metrics, run.data.params
        shown = ", ".join(f"{k}={v}" for k, v in sorted(p.items()) if k != "random_state")
        print(
            f"{run.info.run_name:<24} {run.data.tags['model']:<18} {m['rmse']:7.2f} "
            f"{m['mae']:7.2f} {m['r2']:6.3f}  {shown}"
        )
    print(
        "\nNext: labtrack runs list --experiment diabetes-quickstart --order-by 'metrics.rmse ASC'"
    )


if __name__ == "__main__":
    main()
