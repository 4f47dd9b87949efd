"""Tests for `labtrack runs` on every database backend."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import datetime
from typing import Any

import pytest

from labtrack.cli import _lookup, runs
from labtrack.entities import Dataset, DatasetInput, InputTag, LifecycleStage, Metric, Param
from labtrack.tracking.client import TrackingClient

from .conftest import Invoke

START = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC


def make_run(
    client: TrackingClient,
    experiment_id: str = "0",
    *,
    name: str,
    metrics: dict[str, float] | None = None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    start: int = START,
    seconds: float = 1.5,
) -> str:
    run = client.create_run(experiment_id, start_time=start, run_name=name, tags=tags)
    run_id = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, start, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, v) for k, v in (params or {}).items()],
    )
    client.set_terminated(run_id, end_time=start + int(seconds * 1000))
    return run_id


def table_rows(text: str) -> list[list[str]]:
    """A rendered table as rows of cells (cells are separated by two or more spaces)."""
    lines = text.splitlines()
    assert set(lines[1]) <= {"-", " "}, "second line is the rule under the header"
    return [re.split(r"\s{2,}", line.strip()) for line in [lines[0], *lines[2:]]]


def runs_json(invoke: Invoke, db_uri: str, *args: str) -> list[dict[str, Any]]:
    return json.loads(invoke("runs", "list", "--tracking-uri", db_uri, "-o", "json", *args).stdout)


@pytest.fixture
def rmse_runs(client: TrackingClient) -> dict[str, str]:
    """Five runs in experiment "models": r0..r4 with rmse 0..4 and alpha 0.0..0.4."""
    experiment_id = client.create_experiment("models")
    return {
        f"r{i}": make_run(
            client,
            experiment_id,
            name=f"r{i}",
            metrics={"rmse": float(i)},
            params={"alpha": f"0.{i}"},
            start=START + i * 1000,
        )
        for i in range(5)
    }


# -- list -------------------------------------------------------------------------------


def test_list_defaults_to_the_default_experiment(
    invoke: Invoke, db_uri: str, client: TrackingClient
) -> None:
    run_id = make_run(
        client,
        name="baseline",
        metrics={"rmse": 0.123456789},
        params={"alpha": "0.5"},
        tags={"mlflow.user": "ada"},
    )
    make_run(client, client.create_experiment("other"), name="elsewhere")

    result = invoke("runs", "list", "--tracking-uri", db_uri)
    rows = table_rows(result.stdout)
    assert rows[0] == [
        "Run ID", "Name", "Status", "Start", "Duration", "User", "metrics.rmse", "params.alpha"
    ]  # fmt: skip
    start = datetime.fromtimestamp(START / 1000).strftime("%Y-%m-%d %H:%M:%S")
    assert rows[1:] == [[run_id, "baseline", "FINISHED", start, "1.5s", "ada", "0.123457", "0.5"]]
    assert result.stderr == ""


def test_list_json_gives_whole_runs(invoke: Invoke, db_uri: str, client: TrackingClient) -> None:
    run_id = make_run(client, name="full", params={"alpha": "0.5"}, tags={"team": "ml"})
    for step, value in enumerate([3.0, 1.0, 2.0, float("nan")]):
        client.log_metric(run_id, "loss", value, timestamp=START + step, step=step)
    client.log_inputs(
        run_id,
        [DatasetInput(Dataset("iris", "d1g3st", "local", "/data/iris.csv"), (InputTag("k", "v"),))],
    )

    [run] = runs_json(invoke, db_uri)
    assert run["info"]["run_id"] == run_id
    assert run["info"]["run_name"] == "full"
    assert run["info"]["experiment_id"] == "0"
    assert run["info"]["status"] == "FINISHED"
    assert run["info"]["start_time"] == START
    assert run["info"]["end_time"] == START + 1500
    assert run["data"]["params"] == {"alpha": "0.5"}
    assert run["data"]["tags"]["team"] == "ml"
    assert run["data"]["tags"]["mlflow.runName"] == "full"
    assert run["data"]["metrics"] == {"loss": "NaN"}
    summary = run["data"]["metric_summaries"]["loss"]
    assert (summary["min"], summary["max"], summary["count"], summary["step"]) == (1.0, 3.0, 4, 3)
    [dataset_input] = run["inputs"]["dataset_inputs"]
    assert dataset_input["dataset"]["name"] == "iris"
    assert dataset_input["dataset"]["digest"] == "d1g3st"
    assert dataset_input["tags"] == [{"key": "k", "value": "v"}]


def test_list_csv_uses_mlflow_column_names(
    invoke: Invoke, db_uri: str, client: TrackingClient
) -> None:
    a = make_run(client, name="a", metrics={"rmse": 0.1 + 0.2}, params={"alpha": "1"}, start=START)
    b = make_run(client, name="b", params={"depth": "3"}, tags={"x": "y,z"}, start=START + 1)

    text = invoke("runs", "list", "--tracking-uri", db_uri, "-o", "csv").stdout
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames is not None
    assert reader.fieldnames[:9] == [
        "run_id", "experiment_id", "run_name", "status", "user_id", "start_time", "end_time",
        "artifact_uri", "lifecycle_stage",
    ]  # fmt: skip
    assert {"metrics.rmse", "params.alpha", "params.depth", "tags.x", "tags.mlflow.runName"} <= set(
        reader.fieldnames
    )
    rows = {row["run_id"]: row for row in reader}
    assert set(rows) == {a, b}
    assert float(rows[a]["metrics.rmse"]) == 0.1 + 0.2  # full precision
    assert rows[a]["params.alpha"] == "1"
    assert rows[a]["params.depth"] == ""
    assert rows[b]["tags.x"] == "y,z"
    assert rows[b]["metrics.rmse"] == ""
    assert datetime.fromisoformat(rows[a]["start_time"]).timestamp() == START / 1000

    picked = invoke(
        "runs", "list", "--tracking-uri", db_uri, "-o", "csv", "--columns", "params.depth,tags.x"
    ).stdout
    assert picked.splitlines()[0].endswith(",lifecycle_stage,params.depth,tags.x")


def test_filter_and_order_by_are_passed_through(
    invoke: Invoke, db_uri: str, rmse_runs: dict[str, str]
) -> None:
    found = runs_json(
        invoke, db_uri, "-e", "models", "--filter", "metrics.rmse < 3", "--order-by",
        "metrics.rmse DESC",
    )  # fmt: skip
    assert [r["info"]["run_name"] for r in found] == ["r2", "r1", "r0"]
    assert [r["data"]["metrics"]["rmse"] for r in found] == [2.0, 1.0, 0.0]

    table = invoke(
        "runs", "list", "--tracking-uri", db_uri, "-e", "models", "-f",
        "params.alpha = '0.3' OR params.alpha LIKE '%4'",
        "--order-by", "params.alpha ASC",
    ).stdout  # fmt: skip
    assert [row[0] for row in table_rows(table)[1:]] == [rmse_runs["r3"], rmse_runs["r4"]]


def test_several_order_by_keys(invoke: Invoke, db_uri: str, client: TrackingClient) -> None:
    for name, group, score in [("a", "x", 1.0), ("b", "y", 5.0), ("c", "x", 3.0), ("d", "y", 2.0)]:
        make_run(client, name=name, metrics={"score": score}, params={"group": group})
    found = runs_json(
        invoke, db_uri, "--order-by", "params.group", "--order-by", "metrics.score DESC"
    )
    assert [r["info"]["run_name"] for r in found] == ["c", "a", "b", "d"]


def test_default_order_is_newest_first(
    invoke: Invoke, db_uri: str, rmse_runs: dict[str, str]
) -> None:
    assert [r["info"]["run_name"] for r in runs_json(invoke, db_uri, "-e", "models")] == [
        "r4", "r3", "r2", "r1", "r0"
    ]  # fmt: skip


@pytest.mark.parametrize("output", ["json", "csv"])
def test_paging_fetches_every_page(
    invoke: Invoke,
    db_uri: str,
    rmse_runs: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    output: str,
) -> None:
    monkeypatch.setattr(_lookup, "PAGE_SIZE", 2)
    calls: list[tuple[int, str | None]] = []
    search = TrackingClient.search_runs

    def counting(self: TrackingClient, *args: Any, **kwargs: Any) -> Any:
        page = search(self, *args, **kwargs)
        calls.append((len(page), page.token))
        return page

    monkeypatch.setattr(TrackingClient, "search_runs", counting)
    args = ("runs", "list", "--tracking-uri", db_uri, "-e", "models", "-o", output)
    text = invoke(*args, "--order-by", "metrics.rmse").stdout
    if output == "json":
        names = [r["info"]["run_name"] for r in json.loads(text)]
    else:
        names = [row["run_name"] for row in csv.DictReader(io.StringIO(text))]
    assert names == ["r0", "r1", "r2", "r3", "r4"]
    assert [n for n, _ in calls] == [2, 2, 1]
    assert calls[-1][1] is None


def test_max_results_stops_paging(
    invoke: Invoke, db_uri: str, rmse_runs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_lookup, "PAGE_SIZE", 2)
    found = runs_json(
        invoke, db_uri, "-e", "models", "--order-by", "metrics.rmse", "--max-results", "3"
    )
    assert [r["info"]["run_name"] for r in found] == ["r0", "r1", "r2"]


def test_table_lists_100_runs_by_default_and_says_when_there_are_more(
    invoke: Invoke, db_uri: str, rmse_runs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "TABLE_MAX_RESULTS", 3)
    result = invoke("runs", "list", "--tracking-uri", db_uri, "-e", "models")
    assert len(table_rows(result.stdout)) == 1 + 3
    assert "Showing the first 3 runs; more match. Use --max-results" in result.stderr

    result = invoke("runs", "list", "--tracking-uri", db_uri, "-e", "models", "--max-results", "5")
    assert len(table_rows(result.stdout)) == 1 + 5
    assert result.stderr == ""
    assert len(runs_json(invoke, db_uri, "-e", "models")) == 5  # json: everything


def test_table_caps_extra_columns(invoke: Invoke, db_uri: str, client: TrackingClient) -> None:
    make_run(
        client,
        name="wide",
        metrics={f"m{i}": float(i) for i in range(6)},
        params={f"p{i}": str(i) for i in range(5)},
        tags={"mlflow.user": "ada"},
    )
    result = invoke("runs", "list", "--tracking-uri", db_uri)
    header = table_rows(result.stdout)[0]
    assert header[6:] == [f"metrics.m{i}" for i in range(6)] + ["params.p0", "params.p1"]
    assert "(3 more metric/param columns not shown" in result.stderr

    result = invoke(
        "runs",
        "list",
        "--tracking-uri",
        db_uri,
        "-c",
        "params.p4",
        "-c",
        "metrics.m5,tags.mlflow.runName",
    )
    rows = table_rows(result.stdout)
    assert rows[0][6:] == ["params.p4", "metrics.m5", "tags.mlflow.runName"]
    assert rows[1][6:] == ["4", "5", "wide"]
    assert result.stderr == ""


def test_table_truncates_long_cells(invoke: Invoke, db_uri: str, client: TrackingClient) -> None:
    run_id = make_run(client, name="n" * 50, params={"model": "m" * 100})
    rows = table_rows(invoke("runs", "list", "--tracking-uri", db_uri).stdout)
    assert rows[1][0] == run_id  # never cut: people copy it
    assert rows[1][1] == "n" * 29 + "…"
    assert rows[1][-1] == "m" * 23 + "…"


def test_bad_columns_are_a_usage_error(invoke: Invoke, db_uri: str) -> None:
    result = invoke("runs", "list", "--tracking-uri", db_uri, "--columns", "rmse", exit_code=2)
    assert "'rmse' is not a column: use metrics.<key>, params.<key> or tags.<key>" in result.stderr


def test_several_experiments_by_id_and_name(
    invoke: Invoke, db_uri: str, client: TrackingClient
) -> None:
    first = client.create_experiment("first")
    second = client.create_experiment("second")
    a = make_run(client, first, name="a", start=START)
    b = make_run(client, second, name="b", start=START + 1)
    make_run(client, name="in-default")
    result = invoke("runs", "list", "--tracking-uri", db_uri, "-e", first, "-e", "second")
    rows = table_rows(result.stdout)
    assert rows[0][:3] == ["Run ID", "Exp", "Name"]
    assert [row[:3] for row in rows[1:]] == [[b, second, "b"], [a, first, "a"]]


def test_views(invoke: Invoke, db_uri: str, client: TrackingClient) -> None:
    kept = make_run(client, name="kept")
    gone = make_run(client, name="gone")
    client.delete_run(gone)
    ids = lambda *args: {r["info"]["run_id"] for r in runs_json(invoke, db_uri, *args)}  # noqa: E731
    assert ids() == {kept}
    assert ids("--view", "deleted") == {gone}
    assert ids("--view", "all") == {kept, gone}


def test_no_runs(invoke: Invoke, db_uri: str) -> None:
    result = invoke("runs", "list", "--tracking-uri", db_uri)
    assert (result.stdout, result.stderr) == ("", "No runs found.\n")
    assert runs_json(invoke, db_uri) == []
    csv_text = invoke("runs", "list", "--tracking-uri", db_uri, "-o", "csv").stdout
    assert csv_text.splitlines() == [",".join(runs._CSV_INFO)]


# -- show -------------------------------------------------------------------------------


@pytest.fixture
def detailed_run(client: TrackingClient) -> str:
    experiment_id = client.create_experiment("details")
    run_id = make_run(
        client,
        experiment_id,
        name="detailed",
        params={"alpha": "0.5", "model": "rf"},
        tags={"team": "ml", "mlflow.source.name": "train.py", "mlflow.user": "ada"},
        seconds=125,
    )
    for step, value in enumerate([0.9, 0.25, 0.5]):
        client.log_metric(run_id, "loss", value, timestamp=START + step, step=step)
    client.log_inputs(
        run_id,
        [
            DatasetInput(
                Dataset("iris", "d1g3st", "local", "/data/iris.csv"),
                (InputTag("mlflow.data.context", "training"),),
            )
        ],
    )
    return run_id


def test_show_table(invoke: Invoke, db_uri: str, detailed_run: str) -> None:
    text = invoke("runs", "show", detailed_run, "--tracking-uri", db_uri).stdout
    fields = dict(line.split(":", 1) for line in text.split("\n\n")[0].splitlines())
    fields = {k: v.strip() for k, v in fields.items()}
    assert fields["Run ID"] == detailed_run
    assert fields["Name"] == "detailed"
    assert fields["Experiment"].endswith("(details)")
    assert fields["Status"] == "FINISHED"
    assert fields["User"] == "ada"
    assert fields["Duration"] == "2m 05s"
    assert fields["Source"] == "train.py"
    assert fields["Start"] == datetime.fromtimestamp(START / 1000).strftime("%Y-%m-%d %H:%M:%S")

    sections = {s.splitlines()[0]: s for s in text.split("\n\n")[1:]}
    assert table_rows(sections["Params (2)"].split("\n", 1)[1])[1:] == [
        ["alpha", "0.5"],
        ["model", "rf"],
    ]
    assert table_rows(sections["Metrics (1)"].split("\n", 1)[1]) == [
        ["Key", "Latest", "Step", "Min", "Max", "Count"],
        ["loss", "0.5", "2", "0.25", "0.9", "3"],
    ]
    tags_title = "Tags (1; 3 system tags hidden, see --all-tags)"
    assert table_rows(sections[tags_title].split("\n", 1)[1])[1:] == [["team", "ml"]]
    assert table_rows(sections["Datasets (1)"].split("\n", 1)[1])[1] == [
        "iris", "d1g3st", "local", "/data/iris.csv", "mlflow.data.context=training"
    ]  # fmt: skip


def test_show_all_tags(invoke: Invoke, db_uri: str, detailed_run: str) -> None:
    text = invoke("runs", "show", detailed_run, "--all-tags", "--tracking-uri", db_uri).stdout
    assert "Tags (4)\n" in text
    assert "mlflow.source.name  train.py" in text
    assert "mlflow.runName      detailed" in text


def test_show_json(invoke: Invoke, db_uri: str, detailed_run: str) -> None:
    run = json.loads(
        invoke("runs", "show", detailed_run, "-o", "json", "--tracking-uri", db_uri).stdout
    )
    assert run["info"]["run_id"] == detailed_run
    assert run["data"]["params"] == {"alpha": "0.5", "model": "rf"}
    assert run["data"]["metrics"] == {"loss": 0.5}
    assert run["data"]["metric_summaries"]["loss"] == {
        "key": "loss", "latest": 0.5, "step": 2, "timestamp": START + 2, "min": 0.25,
        "max": 0.9, "count": 3,
    }  # fmt: skip
    assert run["data"]["tags"]["mlflow.user"] == "ada"  # JSON keeps system tags
    assert run["inputs"]["dataset_inputs"][0]["dataset"]["source"] == "/data/iris.csv"


def test_show_a_bare_run(invoke: Invoke, db_uri: str, client: TrackingClient) -> None:
    run_id = client.create_run("0", run_name="bare").info.run_id
    text = invoke("runs", "show", run_id, "--tracking-uri", db_uri).stdout
    assert "Status:       RUNNING" in text
    assert "Duration:\n" in text
    assert "Tags (0; 1 system tag hidden, see --all-tags)" in text
    for section in ("Params", "Metrics", "Datasets"):
        assert section not in text


def test_a_crashed_run_says_so(
    invoke: Invoke, db_uri: str, client: TrackingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose process stopped sending heartbeats (see tests/store/test_crashed_runs.py)."""
    monkeypatch.setenv("LABTRACK_HEARTBEAT_TIMEOUT", "0.2")
    run_id = client.create_run("0", run_name="doomed").info.run_id
    client.store.heartbeat([run_id])
    time.sleep(0.4)
    text = invoke("runs", "show", run_id, "--tracking-uri", db_uri).stdout
    assert "Status:       KILLED (crashed)\n" in text
    rows = table_rows(invoke("runs", "list", "--tracking-uri", db_uri).stdout)
    assert rows[1][:3] == [run_id, "doomed", "KILLED (crashed)"]
    assert runs_json(invoke, db_uri)[0]["data"]["tags"]["labtrack.crashed"] == "true"


# -- delete / restore -------------------------------------------------------------------


def test_delete_and_restore(invoke: Invoke, db_uri: str, client: TrackingClient) -> None:
    run_id = make_run(client, name="doomed")
    result = invoke("runs", "delete", run_id, "--tracking-uri", db_uri)
    assert result.stdout == f"Deleted run {run_id}. Undo with: labtrack runs restore {run_id}\n"
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert runs_json(invoke, db_uri) == []

    result = invoke("runs", "restore", run_id, "--tracking-uri", db_uri)
    assert result.stdout == f"Restored run {run_id}.\n"
    assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE


# -- errors -----------------------------------------------------------------------------


MISSING_RUN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", MISSING_RUN), f"Error: Run with id={MISSING_RUN} not found"),
        (("delete", MISSING_RUN), f"Error: Run with id={MISSING_RUN} not found"),
        (("restore", MISSING_RUN), f"Error: Run with id={MISSING_RUN} not found"),
        (("show", "not a run id!"), "Error: Invalid run ID 'not a run id!'"),
        (
            ("list", "-e", "nope"),
            "Error: No experiment with ID or name 'nope' (see: labtrack experiments list "
            "--view all)",
        ),
        (
            ("list", "--filter", "metrics.rmse <"),
            "Error: Invalid clause(s) in filter string 'metrics.rmse <' at position 14: expected a "
            "number for "
            "metric 'rmse', got end of input",
        ),
        (("list", "--order-by", "metrics.rmse SIDEWAYS"), None),
    ],
)
def test_errors(invoke: Invoke, db_uri: str, args: tuple[str, ...], message: str | None) -> None:
    result = invoke("runs", *args, "--tracking-uri", db_uri, exit_code=1)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.splitlines()) == 1
    if message is not None:
        assert result.stderr == message + "\n"
