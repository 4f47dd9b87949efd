"""``labtrack artifacts``: list and download the files a run logged."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import click

from labtrack.cli import _output as out
from labtrack.cli._group import LabtrackGroup
from labtrack.cli._options import output_option, pass_client, tracking_uri_option

if TYPE_CHECKING:
    from labtrack.tracking.client import TrackingClient


@click.group(cls=LabtrackGroup)
def artifacts() -> None:
    """List and download a run's artifacts."""


@artifacts.command("list")
@click.argument("run_id")
@click.option(
    "--path",
    "-p",
    default="",
    metavar="PATH",
    help="Directory inside the run's artifacts to list. Default: the top level.",
)
@output_option("table", "json", "csv")
@tracking_uri_option
@pass_client
def list_artifacts(client: TrackingClient, run_id: str, path: str, output: str) -> None:
    """List one level of the artifacts of the run RUN_ID.

    Paths are relative to the run's artifact root; directories end with "/" in the
    table and have no size. JSON and CSV give path, is_dir and file_size (bytes).
    """
    found = client.list_artifacts(run_id, path or None)
    if output == "json":
        click.echo(out.to_json([dataclasses.asdict(f) for f in found]))
    elif output == "csv":
        csv_rows = [(f.path, str(f.is_dir).lower(), f.file_size) for f in found]
        click.echo(out.to_csv(["path", "is_dir", "file_size"], csv_rows), nl=False)
    elif not found:
        where = f" under {path!r}" if path else ""
        out.echo_note(f"No artifacts{where} in run {run_id}.")
    else:
        columns = [out.Column("Path", width=80), out.Column("Size", width=None, align_right=True)]
        rows = [(f.path + "/" if f.is_dir else f.path, out.format_size(f.file_size)) for f in found]
        click.echo(out.render_table(columns, rows))


@artifacts.command("download")
@click.argument("run_id")
@click.option(
    "--path",
    "-p",
    default="",
    metavar="PATH",
    help="File or directory inside the run's artifacts to download. Default: all of them.",
)
@click.option(
    "--dst",
    "-d",
    type=click.Path(file_okay=False),
    help="Local directory to download into (created if missing); the artifact keeps its "
    "path below it. Default: a new temporary directory.",
)
@tracking_uri_option
@pass_client
def download(client: TrackingClient, run_id: str, path: str, dst: str | None) -> None:
    """Download artifacts of the run RUN_ID and print where they are on disk."""
    click.echo(client.download_artifacts(run_id, path, dst))
