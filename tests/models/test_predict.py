"""``labtrack models predict``: CSV and Parquet files scored chunk by chunk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import labtrack as lt
from labtrack.cli.main import cli
from labtrack.models._batch import predict_file

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("sklearn")


def _write(frame: Any, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def _read(path: Path) -> Any:
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["models", "predict", *args])


@pytest.mark.parametrize(
    ("source", "target"),
    [("csv", "csv"), ("csv", "parquet"), ("parquet", "parquet"), ("parquet", "csv")],
)
def test_round_trip(
    tmp_path: Path, model_path: Path, frame: Any, sk_model: Any, source: str, target: str
) -> None:
    features, _ = frame
    data = features.assign(id=[f"row-{i}" for i in range(len(features))])
    src = _write(data, tmp_path / f"in.{source}")
    out = tmp_path / f"out.{target}"
    result = _run("-m", str(model_path), "-i", str(src), "-o", str(out), "--chunk-size", "7")
    assert result.exit_code == 0, result.output
    scored = _read(out)
    assert list(scored.columns) == [*data.columns, "prediction"]
    pd.testing.assert_frame_equal(scored[list(data.columns)], data, check_dtype=False)
    assert scored["prediction"].tolist() == sk_model.predict(features).tolist()
    assert f"Scoring in.{source}" in result.stderr
    assert f"Wrote 60 rows with prediction to {out}" in result.stderr
    assert not out.with_name(out.name + ".partial").exists()


def test_scoring_a_model_directory_creates_no_tracking_database(
    tmp_path: Path, model_path: Path, frame: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path needs no tracking store: with the default tracking URI (./labtrack.db) the
    command leaves nothing in the working directory (serve loads the model the same way)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABTRACK_TRACKING_URI")
    src = _write(frame[0], tmp_path / "in.csv")
    result = _run("-m", str(model_path), "-i", str(src), "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "model", "out.csv"]


def test_chunks_give_the_same_output_as_one_pass(
    tmp_path: Path, model_path: Path, frame: Any
) -> None:
    src = _write(frame[0], tmp_path / "in.parquet")
    model = lt.pyfunc.load_model(model_path)
    seen: list[int] = []
    chunked = predict_file(model, src, tmp_path / "a.parquet", chunk_size=7, progress=seen.append)
    whole = predict_file(model, src, tmp_path / "b.parquet", chunk_size=1000)
    assert (chunked.rows, chunked.chunks, whole.chunks) == (60, 9, 1)
    assert sum(seen) == 60  # Parquet progress counts rows
    pd.testing.assert_frame_equal(_read(tmp_path / "a.parquet"), _read(tmp_path / "b.parquet"))
    csv_seen: list[int] = []
    predict_file(
        model,
        _write(frame[0], tmp_path / "in.csv"),
        tmp_path / "c.csv",
        chunk_size=7,
        progress=csv_seen.append,
    )
    assert sum(csv_seen) == (tmp_path / "in.csv").stat().st_size  # CSV progress counts bytes


def test_only_predictions_and_several_output_columns(
    tmp_path: Path, frame: Any, sk_model: Any
) -> None:
    features, _ = frame
    lt.sklearn.save_model(
        sk_model,
        tmp_path / "proba",
        input_example=features.head(2),
        pyfunc_predict_fn="predict_proba",
    )
    src = _write(features, tmp_path / "in.csv")
    result = _run(
        "-m",
        str(tmp_path / "proba"),
        "-i",
        str(src),
        "-o",
        str(tmp_path / "o.csv"),
        "--only-predictions",
        "-q",
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    scored = pd.read_csv(tmp_path / "o.csv")
    assert list(scored.columns) == ["prediction_0", "prediction_1"]
    np.testing.assert_allclose(scored.to_numpy(), sk_model.predict_proba(features))


class Lengths(lt.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return pd.DataFrame(
            {"length": model_input["code"].str.len() + params["extra"], "code": model_input["code"]}
        )


def test_string_columns_stay_strings_and_params_are_passed(tmp_path: Path) -> None:
    example = pd.DataFrame({"code": ["007", "42"]})
    lt.pyfunc.save_model(Lengths(), tmp_path / "m", input_example=(example, {"extra": 0}))
    (tmp_path / "in.csv").write_text("code\n007\n42\n")
    result = _run(
        "-m",
        str(tmp_path / "m"),
        "-i",
        str(tmp_path / "in.csv"),
        "-o",
        str(tmp_path / "out.parquet"),
        "--trust-pickle",
        "--param",
        "extra=10",
    )
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert scored.to_dict(orient="list") == {
        "code": ["007", "42"],
        "prediction_length": [13, 12],
        "prediction_code": ["007", "42"],
    }


class Drifting(lt.pyfunc.PythonModel):
    """Whole numbers and no notes for the first rows, fractions and notes later: the kind
    of output whose Parquet types only the later chunks reveal."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        x = model_input["x"]
        late = x >= 10
        return pd.DataFrame(
            {
                "score": [v / 4 if v >= 10 else v for v in x],
                "note": [f"n{v}" if v >= 10 else None for v in x] if late.any() else None,
            }
        )


def test_parquet_output_widens_to_what_later_chunks_hold(tmp_path: Path) -> None:
    lt.pyfunc.save_model(Drifting(), tmp_path / "m")
    (tmp_path / "in.csv").write_text("x\n" + "\n".join(str(i) for i in range(14)) + "\n")
    out = tmp_path / "out.parquet"
    result = _run(
        "-m",
        str(tmp_path / "m"),
        "-i",
        str(tmp_path / "in.csv"),
        "-o",
        str(out),
        "--chunk-size",
        "5",
        "--trust-pickle",
    )
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(out)
    assert len(scored) == 14
    assert scored["prediction_score"].tolist() == [*range(10), 2.5, 2.75, 3.0, 3.25]
    notes = scored["prediction_note"]
    assert notes[:10].isna().all()
    assert notes[10:].tolist() == ["n10", "n11", "n12", "n13"]
    assert not list(tmp_path.glob("out.parquet.*"))


def test_parquet_needs_pyarrow_and_says_how_to_get_it(
    tmp_path: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (tmp_path / "in.csv").write_text("a\n1\n")
    result = _run(
        "-m", str(model_path), "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.parquet")
    )
    assert result.exit_code != 0
    assert "pip install 'labtrack[parquet]'" in _one_line_error(result)
    assert "Traceback" not in result.output


def _one_line_error(result: Any) -> str:
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, result.output
    return lines[0]


ERRORS = [
    (
        "missing input",
        ["-i", "{tmp}/nope.csv"],
        "Error: Input file '{tmp}/nope.csv' does not exist",
    ),
    (
        "input extension",
        ["-i", "{tmp}/in.json"],
        "Error: Unsupported input file '{tmp}/in.json': use a .csv or .parquet file",
    ),
    (
        "output extension",
        ["-o", "{tmp}/out.xlsx"],
        "Error: Unsupported output file '{tmp}/out.xlsx': use a .csv or .parquet file",
    ),
    ("missing model", ["-m", "{tmp}/no-model"], "Error: No model at '{tmp}/no-model'"),
    ("same file", ["-o", "{tmp}/in.csv"], "Error: The output file must not be the input file"),
    (
        "no output directory",
        ["-o", "{tmp}/nowhere/out.csv"],
        "Error: The output file's directory '{tmp}/nowhere' does not exist",
    ),
    (
        "a model that refuses the rows",
        ["-i", "{tmp}/nan.csv"],
        "Error: The model failed to predict rows 1-60 of nan.csv: ValueError: Input X "
        "contains NaN. LogisticRegression does not accept",
    ),
    (
        "wrong columns",
        ["-i", "{tmp}/wrong.csv"],
        "Error: rows 1-2 of wrong.csv: Column 'n' "
        "(long) is required by the model signature but missing from the input",
    ),
    (
        "a bad value in a later chunk",
        ["-i", "{tmp}/late.csv", "--chunk-size", "20"],
        "Error: rows 41-60 of late.csv: Column 'a' must be double, got 'oops' in row 46",
    ),
    (
        "prediction column exists",
        ["-i", "{tmp}/scored.csv"],
        "Error: The input already has a "
        "column 'prediction', where the predictions go: rename it, or pass --only-predictions",
    ),
    ("empty file", ["-i", "{tmp}/empty.csv"], "Error: Cannot read '{tmp}/empty.csv' as CSV"),
    (
        "not parquet",
        ["-i", "{tmp}/fake.parquet"],
        "Error: Cannot read '{tmp}/fake.parquet' as Parquet",
    ),
]


@pytest.mark.parametrize(("args", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_are_one_line(
    tmp_path: Path, model_path: Path, frame: Any, args: list[str], message: str
) -> None:
    features, _ = frame
    _write(features, tmp_path / "in.csv")
    _write(features[["a", "b", "c"]].head(2), tmp_path / "wrong.csv")
    late = features.astype({"a": object})
    late.loc[45, "a"] = "oops"
    _write(late, tmp_path / "late.csv")
    _write(features.assign(prediction=1), tmp_path / "scored.csv")
    _write(features.assign(a=float("nan")), tmp_path / "nan.csv")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "fake.parquet").write_text("not parquet")
    defaults = {
        "-m": str(model_path),
        "-i": str(tmp_path / "in.csv"),
        "-o": str(tmp_path / "out.csv"),
    }
    given = [a.format(tmp=tmp_path) for a in args]
    for flag, value in defaults.items():
        if flag not in given:
            given += [flag, value]
    line = _one_line_error(_run(*given))
    assert line.startswith(message.format(tmp=tmp_path)), line
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / "out.csv.partial").exists()


PEAK = """
import resource, sys
from labtrack.cli.main import cli
try:
    cli(sys.argv[1:], standalone_mode=False)
finally:
    print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _peak_kb(model: Path, src: Path, out: Path) -> int:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK,
            "models",
            "predict",
            "-m",
            str(model),
            "-i",
            str(src),
            "-o",
            str(out),
            "--chunk-size",
            "2000",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return int(done.stderr.split("PEAK_KB")[-1].split()[0])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_large_file_is_scored_in_bounded_memory(tmp_path: Path, kind: str) -> None:
    from sklearn.linear_model import LogisticRegression

    columns = [f"f{i}" for i in range(8)]
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(200, 8)), columns=columns)
    model = LogisticRegression().fit(train, train["f0"] > 0)
    lt.sklearn.save_model(model, tmp_path / "model", input_example=train.head(2))
    rows = 1_000_000 if kind == "parquet" else 400_000  # 61 MB / 24 MB of floats in memory
    big = pd.DataFrame(rng.normal(size=(rows, 8)), columns=columns)
    small = big.head(4_000)
    _write(big, tmp_path / f"big.{kind}")
    _write(small, tmp_path / f"small.{kind}")
    data_mb = big.memory_usage(index=False).sum() / 2**20
    del big
    small_kb = _peak_kb(tmp_path / "model", tmp_path / f"small.{kind}", tmp_path / f"s.{kind}")
    big_kb = _peak_kb(tmp_path / "model", tmp_path / f"big.{kind}", tmp_path / f"b.{kind}")
    grew_mb = (big_kb - small_kb) / 1024
    # Streaming holds one 2,000-row chunk at a time: the peak barely moves with the file
    # size, while loading the file whole would need at least its data size more.
    assert grew_mb < 12, (grew_mb, data_mb)
    assert data_mb > 20
    assert len(_read(tmp_path / f"b.{kind}")) == rows


def test_predict_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "serving.md").read_text()
    for text in ("labtrack models predict", "--chunk-size", "--only-predictions", "prediction_"):
        assert text in doc, text
