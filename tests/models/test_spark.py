"""``lt.pyfunc.spark_udf`` on a local Spark session (pyspark and Java needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import labtrack as lt
from labtrack.errors import InvalidParameterValue

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'labtrack[spark]')")


def _java_works() -> bool:
    java = shutil.which("java")
    if java is None:
        return False
    return subprocess.run([java, "-version"], capture_output=True, timeout=60).returncode == 0


if not _java_works():
    pytest.skip("Spark needs Java, and no working `java` is on PATH", allow_module_level=True)

pytestmark = [
    # pyspark's own warnings (not labtrack's): it checks the pandas version at every call
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:pyspark"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A local session whose Python workers run this interpreter: Spark reads
    PYSPARK_PYTHON when the context starts, else runs whatever python3 is on PATH."""
    from pyspark.sql import SparkSession

    before = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("labtrack-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if before is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = before


def test_udf_on_a_struct_of_all_columns(
    spark: Any, model_path: Path, frame: Any, sk_model: Any
) -> None:
    from pyspark.sql.functions import col, struct

    features, _ = frame
    df = spark.createDataFrame(features)
    udf = lt.pyfunc.spark_udf(spark, str(model_path))
    scored = df.withColumn("prediction", udf(struct(*map(col, df.columns)))).toPandas()
    assert scored["prediction"].dtype == "float64"
    assert scored["prediction"].tolist() == sk_model.predict(features).astype(float).tolist()


def test_udf_on_columns_and_without_arguments(
    spark: Any, model_path: Path, frame: Any, sk_model: Any
) -> None:
    from pyspark.sql.functions import col

    features, _ = frame
    df = spark.createDataFrame(features)
    udf = lt.pyfunc.spark_udf(spark, str(model_path), result_type="long")
    scored = (
        df.withColumn("by_columns", udf(*[col(c) for c in df.columns]))
        .withColumn("by_signature", udf())
        .toPandas()
    )
    expected = sk_model.predict(features).tolist()
    assert scored["by_columns"].tolist() == expected
    assert scored["by_signature"].tolist() == expected


def test_array_result_and_a_logged_model(spark: Any, frame: Any, sk_model: Any) -> None:
    from pyspark.sql.functions import col, struct

    features, _ = frame
    with lt.start_run():
        info = lt.sklearn.log_model(
            sk_model, name="m", input_example=features.head(2), pyfunc_predict_fn="predict_proba"
        )
    df = spark.createDataFrame(features)
    udf = lt.pyfunc.spark_udf(spark, info.model_uri, result_type="array<double>")
    scored = df.withColumn("p", udf(struct(*map(col, df.columns)))).toPandas()
    np.testing.assert_allclose(np.stack(scored["p"].to_numpy()), sk_model.predict_proba(features))


def test_shipping_the_model_to_executors(
    spark: Any, model_path: Path, frame: Any, sk_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a cluster: the model is zipped, added with addFile, unpacked by executors."""
    from pyspark.sql.functions import col, struct

    import labtrack.models._spark as spark_module

    monkeypatch.setattr(spark_module, "_is_local", lambda session: False)
    features, _ = frame
    df = spark.createDataFrame(features)
    udf = lt.pyfunc.spark_udf(spark, str(model_path), result_type="int")
    scored = df.withColumn("prediction", udf(struct(*map(col, df.columns)))).toPandas()
    assert scored["prediction"].tolist() == sk_model.predict(features).tolist()


def test_a_signature_mismatch_fails_the_job_naming_the_column(spark: Any, model_path: Path) -> None:
    from pyspark.sql.functions import col, struct

    df = spark.createDataFrame(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    udf = lt.pyfunc.spark_udf(spark, str(model_path))
    with pytest.raises(Exception, match=r"Columns 'c' \(double\), 'n' \(long\) are required"):
        df.withColumn("p", udf(struct(*map(col, df.columns)))).collect()


def test_unsupported_result_types(spark: Any, model_path: Path) -> None:
    with pytest.raises(InvalidParameterValue, match="Unsupported result_type"):
        lt.pyfunc.spark_udf(spark, str(model_path), result_type="struct<a: double>")
    with pytest.raises(InvalidParameterValue, match="Invalid result_type 'no such type'"):
        lt.pyfunc.spark_udf(spark, str(model_path), result_type="no such type")


def test_a_worker_python_that_cannot_run_the_model_is_named_up_front(
    spark: Any, model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without PYSPARK_PYTHON, Spark runs python3 from PATH, often outside the driver's
    virtualenv: every task would fail in the JVM with "No module named 'pandas'"."""
    fake = tmp_path / "python3"
    fake.write_text(
        "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'pandas'\" >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(spark.sparkContext, "pythonExec", str(fake))
    with pytest.raises(InvalidParameterValue) as info:
        lt.pyfunc.spark_udf(spark, str(model_path))
    assert str(fake) in info.value.message
    assert "No module named 'pandas'" in info.value.message
    assert f"set PYSPARK_PYTHON={sys.executable}" in info.value.message

    monkeypatch.setattr(spark.sparkContext, "pythonExec", "no-such-python-labtrack")
    with pytest.raises(InvalidParameterValue, match=r"'no-such-python-labtrack'.*not found"):
        lt.pyfunc.spark_udf(spark, str(model_path))


def test_the_driver_venvs_python3_counts_as_the_drivers_interpreter(tmp_path: Path) -> None:
    """An activated venv's `python3` (what Spark runs by default) needs no check; the base
    Python the venv links to does (it has other site-packages)."""
    from labtrack.models._spark import _same_interpreter

    venv_bin = Path(sys.executable).parent
    python3 = venv_bin / "python3"
    if python3.exists():
        assert _same_interpreter(str(python3), sys.executable)
    base = tmp_path / "python3"
    base.symlink_to(os.path.realpath(sys.executable))
    assert not _same_interpreter(str(base), sys.executable)
