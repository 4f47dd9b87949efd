"""``labtrack models serve`` (MLflow's scoring protocol over HTTP) and ``labtrack models
predict`` (batch scoring of a CSV or Parquet file)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from labtrack.cli._group import CommandError
from labtrack.cli._options import current_tracking_uri, tracking_uri_option
from labtrack.cli._ports import MODELS_SERVE_PORT, check_port_free

if TYPE_CHECKING:
    from labtrack.models.pyfunc import PyFuncModel

DEFAULT_PORT = MODELS_SERVE_PORT

_model_option = click.option(
    "--model-uri",
    "-m",
    required=True,
    metavar="URI",
    help="The model: models:/NAME@ALIAS, models:/NAME/VERSION, models:/NAME/STAGE, "
    "models:/NAME/latest, models:/m-ID, runs:/RUN_ID/PATH, or a path or artifact URI.",
)
_trust_option = click.option(
    "--trust-pickle",
    is_flag=True,
    default=None,
    help="Load pickle and cloudpickle model files (custom python models): they run code "
    "when loaded. [default: $LABTRACK_TRUST_PICKLE]",
)


def _load(model_uri: str, trust_pickle: bool | None) -> PyFuncModel:
    """The model, downloaded once; any failure to load it as a one-line error."""
    from labtrack.errors import LabtrackError
    from labtrack.models._uri import download_model
    from labtrack.models.pyfunc import load_pyfunc

    try:
        # No client up front: serving a model directory must not create a tracking database.
        path = download_model(model_uri, tracking_uri=current_tracking_uri())
        return load_pyfunc(path, trust_pickle=trust_pickle)
    except (LabtrackError, OSError):
        raise
    except Exception as exc:  # the flavor's library failing to read its file, say
        raise CommandError(
            f"Cannot load the model {model_uri}: {type(exc).__name__}: {exc}"
        ) from exc


# -- serve -------------------------------------------------------------------------------
@click.command("serve")
@_model_option
@click.option(
    "--host",
    "-h",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 to accept connections from other machines.",
)
@click.option(
    "--port",
    "-p",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes, each with its own copy of the model.",
)
@click.option(
    "--log-predictions",
    type=click.Path(file_okay=False, writable=True),
    metavar="DIR",
    help="Append every request and its predictions to JSON-lines files in DIR "
    "(for drift monitoring).",
)
@click.option(
    "--max-body-size",
    type=click.IntRange(min=1),
    default=64 * 1024 * 1024,
    show_default=True,
    metavar="BYTES",
    help="Largest request body accepted (larger ones get 413).",
)
@_trust_option
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="How much the server logs (debug also logs every request).",
)
@tracking_uri_option
def serve(
    model_uri: str,
    host: str,
    port: int,
    workers: int,
    log_predictions: str | None,
    max_body_size: int,
    trust_pickle: bool | None,
    log_level: str,
) -> None:
    """Serve a model over HTTP with MLflow's scoring protocol.

    POST /invocations takes {"dataframe_split": ...}, {"dataframe_records": ...},
    {"instances": ...} or {"inputs": ...} (with optional "params") as JSON, or a CSV or
    Parquet body, and answers {"predictions": [...]}; GET /ping, /health and /version
    too. The model is loaded once (in every worker) before the port is opened.
    """
    import uvicorn

    from labtrack.models.serve import create_app, environment_for_workers

    check_port_free(host, port)
    model = _load(model_uri, trust_pickle)
    if log_predictions:
        os.makedirs(log_predictions, exist_ok=True)
    shown_host = host if ":" not in host else f"[{host}]"
    click.echo(
        f"Serving {model_uri} on http://{shown_host}:{port}/invocations "
        f"({workers} worker{'s' if workers > 1 else ''})",
        err=True,
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": log_level == "debug",
        "timeout_keep_alive": 60,
        # TCP_NODELAY on every connection, also with --workers, and a header timeout
        "http": "labtrack.server._serving:HTTPProtocol",
    }
    if workers == 1:
        app = create_app(
            model,
            model_uri=model_uri,
            log_predictions=log_predictions,
            max_body_bytes=max_body_size,
        )
        uvicorn.run(app, **options)
        return
    if trust_pickle:
        os.environ["LABTRACK_TRUST_PICKLE"] = "1"
    os.environ.update(
        environment_for_workers(str(model.path), model_uri, log_predictions, max_body_size)
    )
    uvicorn.run(
        "labtrack.models.serve:app_from_environment", factory=True, workers=workers, **options
    )


# -- predict -----------------------------------------------------------------------------
@click.command("predict")
@_model_option
@click.option(
    "--input",
    "-i",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Rows to score: a .csv (with a header row) or .parquet file.",
)
@click.option(
    "--output",
    "-o",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the rows with their predictions: a .csv or .parquet file.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    metavar="N",
    help="Rows read, scored and written at a time (memory use grows with it).",
)
@click.option(
    "--only-predictions",
    is_flag=True,
    help="Write only the prediction columns, not the input's columns.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A param for the model's predict (repeatable; VALUE is read as JSON if it can be).",
)
@_trust_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@tracking_uri_option
def predict(
    model_uri: str,
    input_path: str,
    output_path: str,
    chunk_size: int,
    only_predictions: bool,
    params: tuple[str, ...],
    trust_pickle: bool | None,
    quiet: bool,
) -> None:
    """Score a CSV or Parquet file with a model, chunk by chunk.

    The output has the input's columns and the predictions: a `prediction` column when
    the model gives one value per row, else `prediction_<name>` for each column it
    returns. Files larger than memory work: only --chunk-size rows are held at a time.
    """
    from labtrack.models._batch import check_files, input_size, predict_file

    in_fmt, _ = check_files(Path(input_path), Path(output_path))
    model = _load(model_uri, trust_pickle)
    bar: Any = (
        _NoProgress()
        if quiet
        else click.progressbar(
            length=input_size(Path(input_path), in_fmt),
            label=f"Scoring {os.path.basename(input_path)}",
            file=sys.stderr,
        )
    )
    with bar:
        result = predict_file(
            model,
            input_path,
            output_path,
            chunk_size=chunk_size,
            only_predictions=only_predictions,
            params=_parse_params(params),
            progress=bar.update,
        )
    if not quiet:
        rows = f"{result.rows:,} row{'s' if result.rows != 1 else ''}"
        click.echo(
            f"Wrote {rows} with {', '.join(result.prediction_columns)} to {output_path}",
            err=True,
        )


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _parse_params(pairs: tuple[str, ...]) -> dict[str, Any] | None:
    import json

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--param")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params or None
