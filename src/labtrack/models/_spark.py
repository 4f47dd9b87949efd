"""``lt.pyfunc.spark_udf``: any model as a Spark pandas UDF.

The model is downloaded once on the driver. In local mode the executors (Python worker
processes on the same machine) load it from that directory; on a cluster it is zipped
and shipped with ``SparkContext.addFile``, and each executor unpacks it once. Each
Python worker process loads the model once (a module-level cache) and predicts batch by
batch (an iterator pandas UDF). labtrack and the model's libraries must be installed on
the executors.

Spark starts its Python workers with ``PYSPARK_PYTHON`` (read when the SparkContext is
created), else whatever ``python3`` is first on PATH - often not the virtualenv the
driver runs in, and then every task fails deep in the JVM with ``No module named
'pandas'``. In local mode that interpreter is on this machine, so ``spark_udf`` checks
it up front and says what to set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtrack.errors import InvalidParameterValue

__all__ = ["spark_udf"]

_models: dict[str, Any] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class _ModelSource:
    """Where executors find the model: a local directory, or a zip shipped with addFile."""

    local_path: str | None = None
    archive_name: str | None = None
    trust_pickle: bool | None = None
    trusted_types: tuple[str, ...] | None = None

    def directory(self) -> str:
        if self.local_path is not None:
            return self.local_path
        from pyspark import SparkFiles

        assert self.archive_name is not None
        return _unpack(SparkFiles.get(self.archive_name), self.archive_name)

    def load(self) -> Any:
        with _lock:
            key = self.local_path or self.archive_name or ""
            model = _models.get(key)
            if model is None:
                from labtrack.models.pyfunc import load_pyfunc

                model = load_pyfunc(
                    self.directory(),
                    trust_pickle=self.trust_pickle,
                    trusted_types=self.trusted_types,
                )
                _models[key] = model
            return model


def _unpack(archive: str, name: str) -> str:
    """The directory ``archive`` is unpacked into (once per machine and archive)."""
    target = Path(tempfile.gettempdir()) / "labtrack-spark-models" / Path(name).stem
    if not (target / "MLmodel").is_file():
        partial = target.with_name(f"{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        with zipfile.ZipFile(archive) as z:
            z.extractall(partial)
        try:
            partial.rename(target)
        except OSError:  # another worker got there first
            shutil.rmtree(partial, ignore_errors=True)
    return str(target)


def _ship(spark: Any, directory: Path) -> str:
    """Zip the model directory and add it to the Spark job's files; its name there."""
    name = f"labtrack-model-{uuid.uuid4().hex}"
    staging = Path(tempfile.mkdtemp(prefix="labtrack-spark-"))
    archive = shutil.make_archive(str(staging / name), "zip", root_dir=directory)
    spark.sparkContext.addFile(archive)
    return Path(archive).name


def _is_local(spark: Any) -> bool:
    return str(spark.sparkContext.master).startswith("local")


def _same_interpreter(a: str, b: str) -> bool:
    """``python3`` and ``python`` of one venv are one interpreter; a venv's ``python`` and
    the base Python it links to are not (other site-packages), so the directory counts."""
    a, b = os.path.abspath(a), os.path.abspath(b)
    return os.path.dirname(a) == os.path.dirname(b) and os.path.realpath(a) == os.path.realpath(b)


def _check_worker_python(spark: Any) -> None:
    """In local mode: that the Python Spark starts its workers with can import what the
    UDF needs (labtrack, pandas, pyarrow); a one-line error naming the fix if not."""
    executable = str(spark.sparkContext.pythonExec)
    found = shutil.which(executable)
    fix = f"set PYSPARK_PYTHON={sys.executable} before creating the Spark session"
    if found is None:
        raise InvalidParameterValue(
            f"Spark's Python workers run {executable!r} (PYSPARK_PYTHON, else python3 on "
            f"PATH), which is not found: {fix}"
        )
    if _same_interpreter(found, sys.executable):
        return
    try:
        check = subprocess.run(
            [found, "-c", "import labtrack, pandas, pyarrow"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = str(exc)
    else:
        if check.returncode == 0:
            return
        lines = check.stderr.strip().splitlines()
        problem = lines[-1] if lines else f"exit code {check.returncode}"
    raise InvalidParameterValue(
        f"Spark's Python workers run {found} (PYSPARK_PYTHON, else python3 on PATH), "
        f"which cannot run the model ({problem}): {fix}"
    )


def _result_type(result_type: Any) -> Any:
    from pyspark.sql.types import ArrayType, AtomicType, DataType

    if isinstance(result_type, str):
        text = result_type
        from_ddl = getattr(DataType, "fromDDL", None)
        try:
            if from_ddl is not None:
                result_type = from_ddl(text)
            else:  # Spark 3.5
                from pyspark.sql.types import _parse_datatype_string

                result_type = _parse_datatype_string(text)
        except Exception as exc:
            raise InvalidParameterValue(f"Invalid result_type {text!r}: {exc}") from None
    element = result_type.elementType if isinstance(result_type, ArrayType) else result_type
    if not isinstance(element, AtomicType):
        raise InvalidParameterValue(
            f"Unsupported result_type {result_type.simpleString()}: use a primitive type "
            "(double, float, long, int, string, boolean ...) or an array of one"
        )
    return result_type


def _numpy_type(data_type: Any) -> Any:
    from pyspark.sql import types as t

    return {
        t.DoubleType: "float64",
        t.FloatType: "float32",
        t.LongType: "int64",
        t.IntegerType: "int32",
        t.ShortType: "int16",
        t.ByteType: "int8",
        t.BooleanType: "bool",
    }.get(type(data_type))


def _convert(predictions: Any, result_type: Any, rows: int) -> Any:
    """Predictions as one pandas Series of ``result_type``."""
    import numpy as np
    import pandas as pd
    from pyspark.sql.types import ArrayType, StringType

    if isinstance(predictions, (pd.DataFrame, pd.Series)):
        values = predictions.to_numpy()
    else:
        values = np.asarray(predictions)
    if values.ndim == 0 or len(values) != rows:
        raise InvalidParameterValue(f"The model returned {values.size} predictions for {rows} rows")
    if isinstance(result_type, ArrayType):
        dtype = _numpy_type(result_type.elementType)
        as_rows = values.reshape(rows, -1) if values.ndim > 1 else values.reshape(rows, 1)
        if isinstance(result_type.elementType, StringType):
            return pd.Series([[str(v) for v in row] for row in as_rows])
        return pd.Series(list(as_rows.astype(dtype) if dtype else as_rows))
    if values.ndim > 1:  # the leftmost column, as MLflow's UDF does
        values = values.reshape(rows, -1)[:, 0]
    if isinstance(result_type, StringType):
        return pd.Series(values).astype(str)
    dtype = _numpy_type(result_type)
    if dtype is None:
        return pd.Series(values)
    whole = values.dtype.kind != "f" or (
        bool(np.all(np.isfinite(values))) and bool(np.all(values == np.round(values)))
    )
    if np.dtype(dtype).kind in "iu" and not whole:
        raise InvalidParameterValue(
            f"The model's predictions are not whole numbers: cannot return them as "
            f"{result_type.simpleString()} (use result_type='double')"
        )
    try:
        return pd.Series(values.astype(dtype))
    except (ValueError, TypeError) as exc:
        raise InvalidParameterValue(
            f"Cannot convert the model's predictions to {result_type.simpleString()}: {exc}"
        ) from None


def _input_frame(args: tuple[Any, ...], names: list[str] | None) -> Any:
    """The model's input from the UDF's arguments: a struct's columns by name; separate
    columns by the signature's names when there are as many, else 0, 1, 2 ..."""
    import pandas as pd

    if len(args) == 1 and isinstance(args[0], pd.DataFrame):
        return args[0]
    use_names = names is not None and len(names) == len(args)
    parts = []
    for i, arg in enumerate(args):
        if isinstance(arg, pd.DataFrame):
            parts.append(arg)
        else:
            parts.append(arg.rename(names[i] if use_names else i))  # type: ignore[index]
    return pd.concat(parts, axis=1)


def spark_udf(
    spark: Any,
    model_uri: str | os.PathLike[str],
    result_type: Any = "double",
    *,
    params: Mapping[str, Any] | None = None,
    trust_pickle: bool | None = None,
    trusted_types: Iterable[str] | None = None,
) -> Any:
    """A Spark pandas UDF that predicts with the model at ``model_uri``.

    ``df.withColumn("prediction", udf(struct(*map(col, df.columns))))`` gives the model a
    DataFrame with the struct's column names; ``udf(*cols)`` names the columns after the
    signature's inputs (when there are as many; else 0, 1 ...); ``udf()`` passes the
    signature's columns by name. ``result_type``: a Spark type or DDL string, a primitive
    type (``"double"``, ``"long"``, ``"string"`` ...; the leftmost output column) or an
    array of one (``"array<double>"``; every output column).
    """
    import pandas as pd
    from pyspark.sql.functions import col, pandas_udf

    from labtrack.models.pyfunc import load_pyfunc

    data_type = _result_type(result_type)
    model = load_pyfunc(model_uri, trust_pickle=trust_pickle, trusted_types=trusted_types)
    schema = model.input_schema
    names = schema.input_names() if schema is not None and schema.has_input_names() else None
    trusted = tuple(trusted_types) if trusted_types is not None else None
    if _is_local(spark):
        _check_worker_python(spark)
        source = _ModelSource(str(model.path), None, trust_pickle, trusted)
    else:
        source = _ModelSource(None, _ship(spark, model.path), trust_pickle, trusted)
    predict_params = dict(params) if params else None

    def predict(batches: Iterator[tuple[Any, ...]]) -> Iterator[Any]:
        loaded = source.load()
        for batch in batches:
            args = batch if isinstance(batch, tuple) else (batch,)
            frame = _input_frame(args, names)
            predictions = loaded.predict(frame, predict_params)
            yield _convert(predictions, data_type, len(frame))

    # pandas_udf reads the kind of UDF from these hints (typing's forms: Spark 3.5 too)
    from typing import Iterator as TypingIterator  # noqa: UP035
    from typing import Tuple, Union  # noqa: UP035

    predict.__annotations__ = {
        "batches": TypingIterator[Tuple[Union[pd.Series, pd.DataFrame], ...]],  # noqa: UP006, UP007
        "return": TypingIterator[pd.Series],
    }
    udf = pandas_udf(predict, data_type)  # type: ignore[call-overload]

    def call(*columns: Any) -> Any:
        if not columns:
            if names is None:
                raise InvalidParameterValue(
                    "The model has no signature with named inputs: pass the columns to the UDF"
                )
            columns = tuple(col(name) for name in names)
        return udf(*columns)

    call.__doc__ = f"Predictions of {os.fspath(model_uri)} as a Spark column."
    call.udf = udf  # type: ignore[attr-defined]
    return call
