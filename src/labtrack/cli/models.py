"""``labtrack models``: the model registry from the command line.

``list``, ``show``, ``versions``, ``history`` (the registry's event log), ``set-alias``
and ``transition``; ``serve`` and ``predict`` live in :mod:`labtrack.cli.models_serve`.
To add a subcommand, either decorate a function in this module with
``@models.command("name")``, or write it in a module of its own and add one line to
:data:`MODEL_COMMANDS` (imported only when it runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from labtrack.cli import _output as out
from labtrack.cli._group import LabtrackGroup
from labtrack.cli._lookup import collect_pages
from labtrack.cli._options import output_option, pass_client, tracking_uri_option

if TYPE_CHECKING:
    from labtrack.entities import ModelVersion, RegisteredModel, RegistryEvent
    from labtrack.tracking.client import TrackingClient

MODEL_COMMANDS: dict[str, str] = {
    "serve": "labtrack.cli.models_serve:serve",
    "predict": "labtrack.cli.models_serve:predict",
}
"""More ``labtrack models`` subcommands: name -> ``"module:attribute"`` of a click command."""

STAGES = ("None", "Staging", "Production", "Archived")
_VALUE_WIDTH = 60


@click.group(cls=LabtrackGroup, lazy_commands=MODEL_COMMANDS)
def models() -> None:
    """Registered models (list, show, versions, history, aliases and stages); serving a
    model over HTTP and scoring files with it."""


def _as_dict(entity: Any) -> dict[str, Any]:
    return dataclasses.asdict(entity)


def _name_filter(name: str) -> str:
    from labtrack.search import Comparison, to_filter_string

    return to_filter_string(Comparison("attribute", "name", "=", name))


def _all_versions(client: TrackingClient, name: str) -> list[ModelVersion]:
    """Every version of a model, newest first (the model must exist)."""
    client.get_registered_model(name)
    found, _ = collect_pages(
        lambda n, token: client.search_model_versions(
            _name_filter(name), n, ["version_number DESC"], token
        ),
        None,
    )
    return found


def _aliases_of(version: ModelVersion) -> str:
    return ", ".join(version.aliases)


# -- list ------------------------------------------------------------------------------
@models.command("list")
@click.option(
    "--filter",
    "-f",
    "filter_string",
    default=None,
    metavar="TEXT",
    help="Only models matching this filter, e.g. \"name LIKE 'churn%'\" or \"tags.team = 'ml'\".",
)
@click.option("--max-results", type=click.IntRange(min=1), metavar="N", help="List at most N.")
@output_option("table", "json")
@tracking_uri_option
@pass_client
def list_models(
    client: TrackingClient, filter_string: str | None, max_results: int | None, output: str
) -> None:
    """List registered models, by name.

    The table shows each model's newest version in every stage (stage:version) and its
    aliases (alias=version); JSON gives the full models.
    """
    found, more = collect_pages(
        lambda n, token: client.search_registered_models(filter_string, min(n, 1000), None, token),
        max_results,
    )
    if output == "json":
        click.echo(out.to_json([_as_dict(m) for m in found]))
        return
    if not found:
        out.echo_note("No registered models.")
        return
    columns = [
        out.Column("Name"),
        out.Column("Latest versions", width=None),
        out.Column("Aliases", width=None),
        out.Column("Updated", width=None),
        out.Column("Description"),
    ]
    rows = [
        (
            m.name,
            _latest(m),
            ", ".join(f"{alias}={version}" for alias, version in m.aliases.items()),
            out.format_time(m.last_updated_timestamp),
            m.description,
        )
        for m in found
    ]
    click.echo(out.render_table(columns, rows))
    if more:
        out.echo_note(f"(Showing the first {len(found)} models; use --max-results to see more.)")


def _latest(model: RegisteredModel) -> str:
    by_stage = {v.current_stage: v.version for v in model.latest_versions}
    return ", ".join(f"{stage}:{by_stage[stage]}" for stage in STAGES if stage in by_stage)


# -- show ------------------------------------------------------------------------------
@models.command("show")
@click.argument("name")
@output_option("table", "json")
@tracking_uri_option
@pass_client
def show(client: TrackingClient, name: str, output: str) -> None:
    """Show the registered model NAME: description, tags, aliases and versions."""
    model = client.get_registered_model(name)
    versions = _all_versions(client, name)
    if output == "json":
        click.echo(out.to_json({**_as_dict(model), "versions": [_as_dict(v) for v in versions]}))
        return
    fields: list[tuple[str, Any]] = [
        ("Name", model.name),
        ("Description", model.description),
        ("Created", out.format_time(model.creation_timestamp)),
        ("Updated", out.format_time(model.last_updated_timestamp)),
        ("Created by (claimed)", model.user_id),
        ("Latest", _latest(model)),
    ]
    sections = [out.render_fields(fields)]
    if model.tags:
        sections.append(
            f"Tags ({len(model.tags)})\n"
            + out.render_table(
                [out.Column("Key", width=60), out.Column("Value", width=80)],
                sorted(model.tags.items()),
            )
        )
    if model.aliases:
        sections.append(
            f"Aliases ({len(model.aliases)})\n"
            + out.render_table(
                [out.Column("Alias", width=None), out.Column("Version", width=None)],
                model.aliases.items(),
            )
        )
    sections.append(f"Versions ({len(versions)})\n" + _versions_table(versions))
    click.echo("\n\n".join(sections))


# -- versions --------------------------------------------------------------------------
def _versions_table(versions: Sequence[ModelVersion]) -> str:
    columns = [
        out.Column("Version", width=None, align_right=True),
        out.Column("Stage", width=None),
        out.Column("Aliases", width=30),
        out.Column("Run", width=None),
        out.Column("Source", width=_VALUE_WIDTH),
        out.Column("Created", width=None),
    ]
    rows = [
        (
            v.version,
            v.current_stage,
            _aliases_of(v),
            v.run_id,
            v.source,
            out.format_time(v.creation_timestamp),
        )
        for v in versions
    ]
    return out.render_table(columns, rows)


@models.command("versions")
@click.argument("name")
@output_option("table", "json", "csv")
@tracking_uri_option
@pass_client
def versions(client: TrackingClient, name: str, output: str) -> None:
    """List the versions of the registered model NAME, newest first."""
    found = _all_versions(client, name)
    if output == "json":
        click.echo(out.to_json([_as_dict(v) for v in found]))
    elif output == "csv":
        header = ["version", "current_stage", "aliases", "run_id", "model_id", "source", "created"]
        rows = [
            [
                v.version,
                v.current_stage,
                " ".join(v.aliases),
                v.run_id,
                v.model_id,
                v.source,
                out.iso_time(v.creation_timestamp),
            ]
            for v in found
        ]
        click.echo(out.to_csv(header, rows), nl=False)
    elif not found:
        out.echo_note(f"Model {name!r} has no versions.")
    else:
        click.echo(_versions_table(found))


# -- history ---------------------------------------------------------------------------
@models.command("history")
@click.argument("name")
@output_option("table", "json")
@tracking_uri_option
@pass_client
def history(client: TrackingClient, name: str, output: str) -> None:
    """Show every change made to the registered model NAME, oldest first: who (as the
    client claimed it: users are not authenticated), when, what, and from what to what
    (the registry's event log; it includes the model's earlier names and survives its
    deletion)."""
    events, _ = collect_pages(
        lambda n, token: client.get_registry_events(name, max_results=n, page_token=token),
        None,
    )
    if output == "json":
        click.echo(out.to_json([_as_dict(e) for e in events]))
        return
    if not events:
        out.echo_note(f"No registry events for model {name!r}.")
        return
    columns = [
        out.Column("When", width=None),
        out.Column("Claimed by", width=20),  # the client's word: users are not authenticated
        out.Column("Action", width=None),
        out.Column("Model", width=30),
        out.Column("Version", width=None, align_right=True),
        out.Column("Change", width=80),
    ]
    rows = [
        (
            out.format_time(e.timestamp),
            e.claimed_user,
            e.action,
            e.name,
            e.version,
            describe_change(e),
        )
        for e in events
    ]
    click.echo(out.render_table(columns, rows))


def _shown(value: str | None) -> str:
    return "(none)" if value is None else repr(value) if value == "" else value


def describe_change(event: RegistryEvent) -> str:
    """One line saying what an event changed, e.g. ``None -> Production``."""
    d = event.details
    action = event.action
    if action == "model_created":
        return "created" + (f": {d['description']}" if d.get("description") else "")
    if action == "model_deleted":
        versions = d.get("versions") or []
        return "deleted" + (f" with versions {', '.join(map(str, versions))}" if versions else "")
    if action == "version_created":
        run = f" (run {d['run_id']})" if d.get("run_id") else ""
        return f"from {event.to_value}{run}"
    if action == "version_deleted":
        aliases = d.get("aliases") or []
        return f"deleted (was {event.from_value})" + (
            f"; aliases removed: {', '.join(aliases)}" if aliases else ""
        )
    if action in ("alias_set", "alias_moved"):
        moved = f"{event.from_value} -> " if event.from_value else ""
        return f"{d.get('alias')}: {moved}{event.to_value}"
    if action == "alias_deleted":
        return f"{d.get('alias')} deleted (was {event.from_value})"
    if action in ("model_tag_set", "version_tag_set"):
        old = f"{_shown(event.from_value)} -> " if event.from_value is not None else ""
        return f"{d.get('key')}: {old}{_shown(event.to_value)}"
    if action in ("model_tag_deleted", "version_tag_deleted"):
        return f"{d.get('key')} deleted (was {_shown(event.from_value)})"
    change = f"{_shown(event.from_value)} -> {_shown(event.to_value)}"
    if d.get("archived_by_version") is not None:
        change += f" (archived by version {d['archived_by_version']})"
    return change


# -- aliases and stages ----------------------------------------------------------------
@models.command("set-alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", is_flag=True, help="Delete the alias instead (VERSION not needed).")
@tracking_uri_option
@pass_client
def set_alias(
    client: TrackingClient, name: str, alias: str, version: str | None, delete: bool
) -> None:
    """Point the alias ALIAS of model NAME at VERSION (moving it if it points elsewhere).

    Load the version it points to with models:/NAME@ALIAS.
    """
    if delete:
        if version is not None:
            raise click.UsageError("--delete takes no VERSION")
        client.delete_registered_model_alias(name, alias)
        click.echo(f"Deleted alias {alias!r} of model {name!r}.")
        return
    if version is None:
        raise click.UsageError("Missing argument 'VERSION' (or pass --delete).")
    client.set_registered_model_alias(name, alias, version)
    click.echo(f"Alias {alias!r} of model {name!r} now points to version {version}.")


@models.command("transition")
@click.argument("name")
@click.argument("version")
@click.argument("stage", type=click.Choice(STAGES, case_sensitive=False))
@click.option(
    "--archive-existing",
    is_flag=True,
    help="Archive the model's other versions in STAGE (Staging or Production only).",
)
@tracking_uri_option
@pass_client
def transition(
    client: TrackingClient, name: str, version: str, stage: str, archive_existing: bool
) -> None:
    """Move version VERSION of model NAME to STAGE (None, Staging, Production, Archived)."""
    from labtrack.entities import ModelVersionStage

    canonical = ModelVersionStage.canonical(stage)
    before = {v.version for v in _all_versions(client, name) if v.current_stage == canonical}
    moved = client.transition_model_version_stage(name, version, stage, archive_existing)
    click.echo(f"Model {name!r} version {moved.version} is now in stage {moved.current_stage}.")
    archived = sorted(before - {moved.version}) if archive_existing else []
    if archived:
        click.echo(f"Archived the previous {moved.current_stage} versions: {archived}.")
