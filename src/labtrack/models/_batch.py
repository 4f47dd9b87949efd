"""Batch scoring (``labtrack models predict``): a CSV or Parquet file in, the same rows
with their predictions out, streamed in chunks so a file larger than memory works.

- Parquet is read a row batch at a time (``ParquetFile.iter_batches``) and written with
  one ``ParquetWriter``; CSV is read with ``pandas.read_csv(chunksize=...)`` and appended
  to (header once). Input and output formats are independent (``.csv``, ``.parquet``/``.pq``).
- The output has the input's columns followed by the prediction columns (see
  :func:`~labtrack.models._scoring.prediction_columns`: ``prediction``, or
  ``prediction_<name>`` per output column), or the prediction columns alone.
- The output is written to ``<output>.partial`` and renamed when every row is scored,
  so a failed run leaves no half-written file behind.
- Signature string columns are read from CSV as strings (``007`` stays ``007``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtrack.errors import ConfigurationError, InvalidParameterValue
from labtrack.models._scoring import check_numeric_text, prediction_columns

if TYPE_CHECKING:
    from labtrack.models.pyfunc import PyFuncModel

__all__ = ["BatchResult", "check_files", "file_format", "predict_file"]

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
DEFAULT_CHUNK_SIZE = 10_000


@dataclass(frozen=True)
class BatchResult:
    rows: int
    chunks: int
    prediction_columns: list[str]


def file_format(path: str | os.PathLike[str], what: str) -> str:
    """``csv`` or ``parquet``, from the file name's extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidParameterValue(
            f"Unsupported {what} file {os.fspath(path)!r}: use a .csv or .parquet file"
        )
    return FORMATS[suffix]


def check_files(source: Path, target: Path) -> tuple[str, str]:
    """The input's and the output's formats, once both paths are known to be usable:
    checked before the model is loaded, so a typo fails in a second, not after it."""
    in_fmt, out_fmt = file_format(source, "input"), file_format(target, "output")
    if "parquet" in (in_fmt, out_fmt):
        _pyarrow()
    if not source.is_file():
        raise InvalidParameterValue(f"Input file {str(source)!r} does not exist")
    if source.resolve() == target.resolve():
        raise InvalidParameterValue("The output file must not be the input file")
    directory = target.resolve().parent
    if not directory.is_dir():
        raise InvalidParameterValue(
            f"The output file's directory {str(directory)!r} does not exist"
        )
    return in_fmt, out_fmt


def input_size(path: Path, fmt: str) -> int:
    """The progress total: rows of a Parquet file (from its metadata), bytes of a CSV."""
    if fmt == "parquet":
        return int(_parquet_file(path).metadata.num_rows)
    return path.stat().st_size


def _pyarrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, or a clear error saying how to install them."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigurationError(
            f"Parquet files need pyarrow, which is not installed ({exc}); "
            "install it with: pip install 'labtrack[parquet]'"
        ) from None
    return pa, pq


def _parquet_file(path: Path) -> Any:
    pa, pq = _pyarrow()

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidParameterValue(f"Cannot read {str(path)!r} as Parquet: {exc}") from None


def _csv_chunks(path: Path, chunk_size: int, model: PyFuncModel) -> Iterator[tuple[Any, int]]:
    """(chunk, bytes read so far) from a CSV file."""
    import pandas as pd

    schema = model.input_schema
    dtype = None
    if schema is not None and schema.has_input_names() and not schema.is_tensor_spec():
        dtype = {s.name: str for s in schema if getattr(s, "type", None) == "string"} or None
    with open(path, "rb") as f:
        try:
            reader = pd.read_csv(f, chunksize=chunk_size, dtype=dtype)
            for chunk in reader:
                yield chunk, f.tell()
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise InvalidParameterValue(f"Cannot read {str(path)!r} as CSV: {exc}") from None


def _parquet_chunks(path: Path, chunk_size: int) -> Iterator[tuple[Any, int]]:
    """(chunk, rows read so far) from a Parquet file."""
    parquet = _parquet_file(path)
    done = 0
    for batch in parquet.iter_batches(batch_size=chunk_size):
        done += batch.num_rows
        yield batch.to_pandas(), done


class _CsvWriter:
    def __init__(self, path: Path) -> None:
        self.file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self.header = True

    def write(self, frame: Any) -> None:
        frame.to_csv(self.file, index=False, header=self.header)
        self.header = False

    def close(self) -> None:
        self.file.close()


class _ParquetWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: Any = None

    def write(self, frame: Any) -> None:
        pa, pq = _pyarrow()
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidParameterValue(f"Cannot write these rows as Parquet: {exc}") from None
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        elif not table.schema.equals(self.writer.schema):
            try:  # e.g. a column that is all missing in this chunk (null type)
                table = table.cast(self.writer.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                # The earlier chunks were narrower (all missing, or whole numbers where
                # this chunk has fractions): widen what is written and go on.
                table = self._widen(table)
        self.writer.write_table(table)

    def _widen(self, table: Any) -> Any:
        """Rewrite the chunks written so far with a schema that also holds ``table``'s
        columns, and return ``table`` in that schema."""
        pa, pq = _pyarrow()
        try:
            schema = pa.unify_schemas(
                [self.writer.schema, table.schema], promote_options="permissive"
            )
            table = table.select(schema.names).cast(schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError) as exc:
            raise InvalidParameterValue(
                f"A chunk's columns do not match the earlier chunks' ({exc})"
            ) from None
        self.writer.close()
        earlier = self.path.with_name(self.path.name + ".narrow")
        os.replace(self.path, earlier)
        try:
            self.writer = pq.ParquetWriter(self.path, schema)
            for batch in pq.ParquetFile(earlier).iter_batches():
                self.writer.write_table(pa.Table.from_batches([batch]).cast(schema))
        finally:
            earlier.unlink()
        return table

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def predict_file(
    model: PyFuncModel,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    only_predictions: bool = False,
    params: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> BatchResult:
    """Score ``input_path`` chunk by chunk into ``output_path`` (CSV or Parquet each).

    ``progress(n)`` is called after each chunk with the work done since the last call:
    rows for Parquet input, bytes for CSV input (:func:`input_size` gives the total).
    """
    source, target = Path(input_path), Path(output_path)
    in_fmt, out_fmt = check_files(source, target)
    if chunk_size < 1:
        raise InvalidParameterValue(f"The chunk size must be at least 1, got {chunk_size}")
    chunks = (
        _parquet_chunks(source, chunk_size)
        if in_fmt == "parquet"
        else _csv_chunks(source, chunk_size, model)
    )
    partial = target.with_name(target.name + ".partial")
    writer = _ParquetWriter(partial) if out_fmt == "parquet" else _CsvWriter(partial)
    rows = count = done = 0
    names: list[str] = []
    try:
        for chunk, position in chunks:
            scored = _score_chunk(model, chunk, rows, params, only_predictions, source)
            names = [c for c in scored.columns if c not in chunk.columns or only_predictions]
            writer.write(scored)
            rows += len(chunk)
            count += 1
            if progress is not None:
                progress(position - done)
            done = position
        if count == 0:
            raise InvalidParameterValue(f"Input file {str(source)!r} has no rows")
        writer.close()
        os.replace(partial, target)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    return BatchResult(rows, count, names)


def _score_chunk(
    model: PyFuncModel,
    chunk: Any,
    start: int,
    params: dict[str, Any] | None,
    only_predictions: bool,
    source: Path,
) -> Any:
    import pandas as pd

    from labtrack.errors import InternalError, LabtrackError

    first, last = start + 1, start + len(chunk)
    rows = f"row {first}" if first == last else f"rows {first}-{last}"
    where = f"{rows} of {source.name}"
    try:
        if source.suffix.lower() == ".csv":
            check_numeric_text(chunk, model.input_schema, first_row=first)
        predictions = model.predict(chunk, params)
    except LabtrackError as exc:
        raise type(exc)(f"{where}: {exc.message}") from exc
    except Exception as exc:
        raise InternalError(
            f"The model failed to predict {where}: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        out = prediction_columns(predictions, chunk.index)
    except ValueError as exc:  # a length that does not match the chunk's
        raise InvalidParameterValue(
            f"The model returned predictions that do not match {where}: {exc}"
        ) from None
    if len(out) != len(chunk):
        raise InvalidParameterValue(
            f"The model returned {len(out)} predictions for {len(chunk)} {where}"
        )
    if only_predictions:
        return out
    clash = [c for c in out.columns if c in chunk.columns]
    if clash:
        raise InvalidParameterValue(
            f"The input already has a column {clash[0]!r}, where the predictions go: "
            "rename it, or pass --only-predictions"
        )
    return pd.concat([chunk, out], axis=1)
