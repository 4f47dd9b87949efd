"""``labtrack experiments``: list, create, rename, delete and restore experiments."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from labtrack.cli import _output as out
from labtrack.cli._group import LabtrackGroup
from labtrack.cli._lookup import collect_pages, find_experiment
from labtrack.cli._options import (
    VIEWS,
    output_option,
    pass_client,
    tracking_uri_option,
    view_option,
)

if TYPE_CHECKING:
    from labtrack.entities import Experiment
    from labtrack.tracking.client import TrackingClient

EXPERIMENT_HELP = "EXPERIMENT is an experiment ID or name."


@click.group(cls=LabtrackGroup)
def experiments() -> None:
    """Create, list, rename, delete and restore experiments."""


@experiments.command("list")
@view_option("experiments")
@output_option("table", "json", "csv")
@tracking_uri_option
@pass_client
def list_experiments(client: TrackingClient, view: str, output: str) -> None:
    """List experiments, oldest first.

    JSON gives every field of each experiment (times in milliseconds since the
    epoch); CSV gives one row per experiment with its tags as tags.<key> columns
    (times in ISO 8601, UTC).
    """
    found, _ = collect_pages(
        lambda n, token: client.search_experiments(
            VIEWS[view], n, order_by=["experiment_id ASC"], page_token=token
        ),
        None,
    )
    if output == "json":
        click.echo(out.to_json([dataclasses.asdict(e) for e in found]))
    elif output == "csv":
        click.echo(_csv(found), nl=False)
    elif not found:
        out.echo_note(f"No {'' if view == 'all' else view + ' '}experiments.")
    else:
        click.echo(_table(found))


def _table(found: Sequence[Experiment]) -> str:
    columns = [
        out.Column("ID", width=None),
        out.Column("Name"),
        out.Column("Stage", width=None),
        out.Column("Created", width=None),
        out.Column("Artifact location", width=60),
    ]
    rows = [
        (
            e.experiment_id,
            e.name,
            e.lifecycle_stage,
            out.format_time(e.creation_time),
            e.artifact_location,
        )
        for e in found
    ]
    return out.render_table(columns, rows)


def _csv(found: Sequence[Experiment]) -> str:
    tag_keys = sorted({key for e in found for key in e.tags})
    header = [
        "experiment_id",
        "name",
        "lifecycle_stage",
        "artifact_location",
        "creation_time",
        "last_update_time",
        *(f"tags.{key}" for key in tag_keys),
    ]
    rows = [
        [
            e.experiment_id,
            e.name,
            e.lifecycle_stage,
            e.artifact_location,
            out.iso_time(e.creation_time),
            out.iso_time(e.last_update_time),
            *(e.tags.get(key) for key in tag_keys),
        ]
        for e in found
    ]
    return out.to_csv(header, rows)


@experiments.command("create")
@click.argument("name")
@click.option(
    "--artifact-location",
    metavar="URI",
    help="Where the experiment's runs keep their artifacts (a path or URI). "
    "Default: a new folder under the tracking store's artifact root.",
)
@tracking_uri_option
@pass_client
def create(client: TrackingClient, name: str, artifact_location: str | None) -> None:
    """Create an experiment called NAME (names are unique) and print its ID."""
    experiment_id = client.create_experiment(name, artifact_location)
    click.echo(f"Created experiment {name!r} with ID {experiment_id}.")


@experiments.command("rename", epilog=EXPERIMENT_HELP)
@click.argument("experiment")
@click.argument("new_name")
@tracking_uri_option
@pass_client
def rename(client: TrackingClient, experiment: str, new_name: str) -> None:
    """Rename EXPERIMENT to NEW_NAME."""
    found = find_experiment(client, experiment)
    client.rename_experiment(found.experiment_id, new_name)
    click.echo(f"Renamed experiment {found.experiment_id} from {found.name!r} to {new_name!r}.")


@experiments.command("delete", epilog=EXPERIMENT_HELP)
@click.argument("experiment")
@tracking_uri_option
@pass_client
def delete(client: TrackingClient, experiment: str) -> None:
    """Delete EXPERIMENT and its runs (restorable with `labtrack experiments restore`)."""
    found = find_experiment(client, experiment)
    client.delete_experiment(found.experiment_id)
    click.echo(
        f"Deleted experiment {found.experiment_id} ({found.name!r}) and its runs. "
        f"Undo with: labtrack experiments restore {found.experiment_id}"
    )


@experiments.command("restore", epilog=EXPERIMENT_HELP)
@click.argument("experiment")
@tracking_uri_option
@pass_client
def restore(client: TrackingClient, experiment: str) -> None:
    """Restore the deleted EXPERIMENT and its runs."""
    found = find_experiment(client, experiment)
    client.restore_experiment(found.experiment_id)
    click.echo(f"Restored experiment {found.experiment_id} ({found.name!r}) and its runs.")
