"""``labtrack artifacts``: list and download the files a run logged, its models' too.

MLflow 3's ``log_model(name="model")`` keeps the model's files at the logged model's own
location, not in the run's artifacts; ``runs:/<run>/model`` still names them. These
commands follow that address: each logged model of the run shows up as a directory
``<name>/`` beside the run's artifacts, ``--path model`` (or ``model/sub``) lists or
downloads that model's files, and downloading everything includes them.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import tempfile
from typing import TYPE_CHECKING, Any

import click

from labtrack.cli import _output as out
from labtrack.cli._group import LabtrackGroup
from labtrack.cli._options import output_option, pass_client, tracking_uri_option

if TYPE_CHECKING:
    from labtrack.artifacts.base import ArtifactRepository
    from labtrack.entities import FileInfo, LoggedModel, Run
    from labtrack.tracking.client import TrackingClient


@click.group(cls=LabtrackGroup)
def artifacts() -> None:
    """List and download a run's artifacts (and the files of the models it logged)."""


def run_models(client: TrackingClient, run: Run) -> dict[str, LoggedModel]:
    """The run's logged models by name, each the one ``runs:/<run>/<name>`` resolves to."""
    from labtrack.errors import NotImplementedYet

    try:
        found = client.service.search_logged_models(
            [run.info.experiment_id], f"source_run_id = '{run.info.run_id}'"
        )
    except NotImplementedYet:
        return {}
    models = {}
    for name in sorted({m.name for m in found}):
        model = client.logged_model_of_run(run, name)
        if model is not None:
            models[name] = model
    return models


def _model_repository(model: LoggedModel) -> ArtifactRepository:
    from labtrack.artifacts import get_artifact_repository

    return get_artifact_repository(model.artifact_location)


@dataclasses.dataclass(frozen=True)
class _Entry:
    path: str
    is_dir: bool
    file_size: int | None
    logged_model_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        found = {"path": self.path, "is_dir": self.is_dir, "file_size": self.file_size}
        if self.logged_model_id is not None:
            found["logged_model_id"] = self.logged_model_id
        return found


def _listing(client: TrackingClient, run_id: str, path: str) -> list[_Entry]:
    """One level at ``path``: the run's artifacts, or a logged model's files below its name."""
    from labtrack.artifacts import normalize_artifact_path

    path = normalize_artifact_path(path) if path else ""
    run = client.get_run(run_id)
    models = run_models(client, run)
    name, _, sub = path.partition("/")
    if name in models:
        model = models[name]
        files = _model_repository(model).list_artifacts(sub or None)
        return [_from(f, posixpath.join(name, f.path), model.model_id) for f in files]
    entries = [_from(f, f.path, None) for f in client.list_artifacts(run_id, path or None)]
    if not path:
        entries += [_Entry(n, True, None, m.model_id) for n, m in models.items()]
        entries.sort(key=lambda e: e.path)
    return entries


def _from(info: FileInfo, path: str, model_id: str | None) -> _Entry:
    return _Entry(path, info.is_dir, info.file_size, model_id)


@artifacts.command("list")
@click.argument("run_id")
@click.option(
    "--path",
    "-p",
    default="",
    metavar="PATH",
    help="Directory inside the run's artifacts to list, or a logged model's name (and a "
    "directory below it). Default: the top level.",
)
@output_option("table", "json", "csv")
@tracking_uri_option
@pass_client
def list_artifacts(client: TrackingClient, run_id: str, path: str, output: str) -> None:
    """List one level of the artifacts of the run RUN_ID.

    The run's logged models (MLflow 3's log_model) are listed as directories named after
    the model, as runs:/RUN_ID/NAME addresses them; --path NAME lists the model's files.
    Paths are relative to the run's artifact root; directories end with "/" in the table
    and have no size. JSON and CSV give path, is_dir and file_size (bytes); in JSON, a
    logged model's entries also give its logged_model_id.
    """
    found = _listing(client, run_id, path)
    if output == "json":
        click.echo(out.to_json([e.as_json() for e in found]))
    elif output == "csv":
        csv_rows = [(e.path, str(e.is_dir).lower(), e.file_size) for e in found]
        click.echo(out.to_csv(["path", "is_dir", "file_size"], csv_rows), nl=False)
    elif not found:
        where = f" under {path!r}" if path else ""
        out.echo_note(f"No artifacts{where} in run {run_id}.")
    else:
        columns = [out.Column("Path", width=80), out.Column("Size", width=None, align_right=True)]
        with_models = any(e.logged_model_id for e in found)
        if with_models:
            columns.append(out.Column("Logged model", width=None))
        rows = []
        for e in found:
            row: tuple[Any, ...] = (
                e.path + "/" if e.is_dir else e.path,
                out.format_size(e.file_size),
            )
            rows.append((*row, e.logged_model_id or "") if with_models else row)
        click.echo(out.render_table(columns, rows))


@artifacts.command("download")
@click.argument("run_id")
@click.option(
    "--path",
    "-p",
    default="",
    metavar="PATH",
    help="File or directory inside the run's artifacts to download, or a logged model's "
    "name (and a path below it). Default: all of them, the logged models' files included.",
)
@click.option(
    "--dst",
    "-d",
    type=click.Path(file_okay=False),
    help="Local directory to download into (created if missing); the artifact keeps its "
    "path below it (a logged model's files go below its name). Default: a new temporary "
    "directory.",
)
@tracking_uri_option
@pass_client
def download(client: TrackingClient, run_id: str, path: str, dst: str | None) -> None:
    """Download artifacts of the run RUN_ID and print where they are on disk."""
    from labtrack.artifacts import normalize_artifact_path

    path = normalize_artifact_path(path) if path else ""
    run = client.get_run(run_id)
    models = run_models(client, run)
    name, _, sub = path.partition("/")
    if dst is None:
        dst = tempfile.mkdtemp(prefix="labtrack-")
    if name in models:
        target = os.path.join(dst, name)
        click.echo(_model_repository(models[name]).download_artifacts(sub, target))
        return
    where = client.download_artifacts(run_id, path, dst)
    if not path:
        for model_name, model in models.items():
            if os.path.exists(os.path.join(dst, model_name)):
                out.echo_note(
                    f"Not downloading the logged model {model_name!r} ({model.model_id}): the "
                    f"run's artifacts have a {model_name!r} too."
                )
                continue
            _model_repository(model).download_artifacts("", os.path.join(dst, model_name))
    click.echo(where)
