"""``labtrack runs``: list, show, delete and restore runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from labtrack._tags import (
    MLFLOW_GIT_COMMIT,
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_SOURCE_NAME,
    SYSTEM_TAG_PREFIXES,
)
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
    from labtrack.entities import Run
    from labtrack.tracking.client import TrackingClient

DEFAULT_EXPERIMENT_ID = "0"
TABLE_MAX_RESULTS = 100
"""How many runs the table lists unless --max-results says otherwise."""
TABLE_EXTRA_COLUMNS = 8
"""How many metric/param columns the table shows unless --columns names them."""
_COLUMN_PREFIXES = ("metrics", "params", "tags")
_KEY = out.Column("Key", width=60)
_VALUE = out.Column("Value", width=80)


@click.group(cls=LabtrackGroup)
def runs() -> None:
    """List, show, delete and restore runs."""


# -- list ------------------------------------------------------------------------------


def _parse_columns(
    _ctx: click.Context, _param: click.Parameter, values: Sequence[str]
) -> list[str] | None:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    for name in names:
        prefix, dot, key = name.partition(".")
        if not dot or prefix not in _COLUMN_PREFIXES or not key:
            raise click.BadParameter(
                f"{name!r} is not a column: use metrics.<key>, params.<key> or tags.<key>"
            )
    return list(dict.fromkeys(names)) or None


@runs.command("list")
@click.option(
    "--experiment",
    "-e",
    "experiment_refs",
    multiple=True,
    metavar="EXPERIMENT",
    help="Experiment ID or name to list runs of; repeat for several. Default: the Default "
    "experiment (ID 0).",
)
@click.option(
    "--filter",
    "-f",
    "filter_string",
    default="",
    metavar="TEXT",
    help="Only runs matching this search filter (MLflow's syntax, plus OR and parentheses), "
    "e.g. \"metrics.rmse < 1 and params.model = 'rf'\".",
)
@click.option(
    "--order-by",
    multiple=True,
    metavar="TEXT",
    help="Sort by this key, e.g. 'metrics.rmse ASC' or 'attributes.start_time DESC'; repeat "
    "to break ties. Default: newest first.",
)
@click.option(
    "--max-results",
    type=click.IntRange(min=1),
    metavar="N",
    help=f"List at most N runs. Default: {TABLE_MAX_RESULTS} for the table, every matching "
    "run for json and csv.",
)
@view_option("runs")
@click.option(
    "--columns",
    "-c",
    multiple=True,
    callback=_parse_columns,
    metavar="NAMES",
    help="Comma-separated metrics.<key>, params.<key> and tags.<key> columns to show (table "
    f"and csv). Default: the table shows the first {TABLE_EXTRA_COLUMNS} metric and param "
    "columns, csv every metric, param and tag.",
)
@output_option("table", "json", "csv")
@tracking_uri_option
@pass_client
def list_runs(
    client: TrackingClient,
    experiment_refs: Sequence[str],
    filter_string: str,
    order_by: Sequence[str],
    max_results: int | None,
    view: str,
    columns: list[str] | None,
    output: str,
) -> None:
    """List the runs of one or more experiments.

    The table shows each run's ID, name, status, start (local time), duration and
    user, then its latest metric values and its params. JSON gives the full runs
    (info, params, metrics with their min/max/count summaries, tags, datasets);
    CSV one row per run with MLflow's column names (metrics.rmse, params.alpha,
    tags.team; times in ISO 8601, UTC).
    """
    refs = experiment_refs or (DEFAULT_EXPERIMENT_ID,)
    experiment_ids = list(dict.fromkeys(find_experiment(client, ref).experiment_id for ref in refs))
    limit = max_results if max_results is not None or output != "table" else TABLE_MAX_RESULTS
    found, more = collect_pages(
        lambda n, token: client.search_runs(
            experiment_ids, filter_string, VIEWS[view], n, list(order_by), token
        ),
        limit,
    )
    if output == "json":
        click.echo(out.to_json([run_to_dict(r) for r in found]))
        return
    if output == "csv":
        click.echo(_csv(found, columns), nl=False)
        return
    if not found:
        out.echo_note("No runs found.")
        return
    extra, hidden = _table_columns(found, columns)
    click.echo(_table(found, extra, show_experiment=len(experiment_ids) > 1))
    if hidden:
        out.echo_note(
            f"({hidden} more metric/param column{'s' if hidden > 1 else ''} not shown: "
            "pick columns with --columns, or see everything with --output json or csv.)"
        )
    if more:
        out.echo_note(
            f"(Showing the first {len(found)} runs; more match. Use --max-results to see more.)"
        )


def run_to_dict(run: Run) -> dict[str, Any]:
    """A run as plain data, shaped like the entity: ``info``, ``data``, ``inputs``."""
    return dataclasses.asdict(run)


def column_value(run: Run, name: str) -> Any:
    """The value of a ``metrics.<key>``, ``params.<key>`` or ``tags.<key>`` column."""
    prefix, _, key = name.partition(".")
    values: dict[str, Any] = getattr(run.data, prefix)  # metrics, params or tags
    return values.get(key)


def _table_columns(found: Sequence[Run], requested: list[str] | None) -> tuple[list[str], int]:
    if requested:
        return requested, 0
    names = [f"metrics.{k}" for k in sorted({k for r in found for k in r.data.metrics})]
    names += [f"params.{k}" for k in sorted({k for r in found for k in r.data.params})]
    return names[:TABLE_EXTRA_COLUMNS], max(0, len(names) - TABLE_EXTRA_COLUMNS)


def _table(found: Sequence[Run], extra: Sequence[str], *, show_experiment: bool) -> str:
    columns = [
        out.Column("Run ID", width=None),
        out.Column("Name", width=30),
        out.Column("Status", width=None),
        out.Column("Start", width=None),
        out.Column("Duration", width=None, align_right=True),
        out.Column("User", width=20),
    ]
    if show_experiment:
        columns.insert(1, out.Column("Exp", width=None, align_right=True))
    columns += [
        out.Column(name, width=24, align_right=name.startswith("metrics.")) for name in extra
    ]
    rows = []
    for run in found:
        info = run.info
        row: list[Any] = [
            info.run_id,
            info.run_name,
            _status(run),
            out.format_time(info.start_time),
            out.format_duration(info.start_time, info.end_time),
            info.user_id,
        ]
        if show_experiment:
            row.insert(1, info.experiment_id)
        rows.append(row + [column_value(run, name) for name in extra])
    return out.render_table(columns, rows)


_CSV_INFO = (
    "run_id",
    "experiment_id",
    "run_name",
    "status",
    "user_id",
    "start_time",
    "end_time",
    "artifact_uri",
    "lifecycle_stage",
)


def _csv(found: Sequence[Run], requested: list[str] | None) -> str:
    extra = requested or [
        f"{prefix}.{key}"
        for prefix in _COLUMN_PREFIXES
        for key in sorted({k for r in found for k in getattr(r.data, prefix)})
    ]
    rows = []
    for run in found:
        info = dataclasses.asdict(run.info)
        info["start_time"] = out.iso_time(run.info.start_time)
        info["end_time"] = out.iso_time(run.info.end_time)
        rows.append([info[name] for name in _CSV_INFO] + [column_value(run, n) for n in extra])
    return out.to_csv([*_CSV_INFO, *extra], rows)


# -- show ------------------------------------------------------------------------------


@runs.command("show")
@click.argument("run_id")
@click.option(
    "--all-tags",
    is_flag=True,
    help="Also show system tags (mlflow.*, labtrack.*), hidden from the table by default.",
)
@output_option("table", "json")
@tracking_uri_option
@pass_client
def show(client: TrackingClient, run_id: str, all_tags: bool, output: str) -> None:
    """Show a run's info, params, metrics, tags and dataset inputs.

    RUN_ID is the run's full ID (see `labtrack runs list`). Metrics show their latest
    value and step and, over the whole history, min, max and count. JSON gives the whole
    run, system tags included.
    """
    run = client.get_run(run_id)
    if output == "json":
        click.echo(out.to_json(run_to_dict(run)))
        return
    experiment = client.get_experiment(run.info.experiment_id)
    click.echo(_details(run, experiment.name, all_tags))


def _details(run: Run, experiment_name: str, all_tags: bool) -> str:
    sections = [
        out.render_fields(_info_fields(run, experiment_name)),
        _params_section(run),
        _metrics_section(run),
        _tags_section(run, all_tags),
        _datasets_section(run),
    ]
    return "\n\n".join(section for section in sections if section)


def _status(run: Run) -> str:
    """The run's status, and "(crashed)" for a run whose process died without ending it."""
    return f"{run.info.status} (crashed)" if run.crashed else run.info.status


def _info_fields(run: Run, experiment_name: str) -> list[tuple[str, Any]]:
    info, tags = run.info, run.data.tags
    fields: list[tuple[str, Any]] = [
        ("Run ID", info.run_id),
        ("Name", info.run_name),
        ("Experiment", f"{info.experiment_id} ({experiment_name})"),
        ("Status", _status(run)),
        ("Lifecycle", info.lifecycle_stage),
        ("User", info.user_id),
        ("Start", out.format_time(info.start_time)),
        ("End", out.format_time(info.end_time)),
        ("Duration", out.format_duration(info.start_time, info.end_time)),
    ]
    for label, tag in (
        ("Parent run", MLFLOW_PARENT_RUN_ID),
        ("Source", MLFLOW_SOURCE_NAME),
        ("Git commit", MLFLOW_GIT_COMMIT),
    ):
        if tag in tags:
            fields.append((label, tags[tag]))
    fields.append(("Artifact URI", info.artifact_uri))
    return fields


def _params_section(run: Run) -> str:
    params = sorted(run.data.params.items())
    if not params:
        return ""
    return f"Params ({len(params)})\n" + out.render_table([_KEY, _VALUE], params)


def _metrics_section(run: Run) -> str:
    summaries = sorted(run.data.metric_summaries.items())
    if not summaries:
        return ""
    columns = [_KEY] + [
        out.Column(header, width=None, align_right=True)
        for header in ("Latest", "Step", "Min", "Max", "Count")
    ]
    rows = [
        (
            key,
            out.format_number(m.latest, digits=10),
            m.step,
            out.format_number(m.min, digits=10),
            out.format_number(m.max, digits=10),
            m.count,
        )
        for key, m in summaries
    ]
    return f"Metrics ({len(rows)})\n" + out.render_table(columns, rows)


def _tags_section(run: Run, all_tags: bool) -> str:
    tags = sorted(run.data.tags.items())
    shown = tags if all_tags else [(k, v) for k, v in tags if not k.startswith(SYSTEM_TAG_PREFIXES)]
    hidden = len(tags) - len(shown)
    if hidden:
        title = f"Tags ({len(shown)}; {hidden} system tag{'s' if hidden > 1 else ''} hidden, "
        title += "see --all-tags)"
    else:
        title = f"Tags ({len(shown)})"
    if not shown:
        return title if hidden else ""
    return title + "\n" + out.render_table([_KEY, _VALUE], shown)


def _datasets_section(run: Run) -> str:
    inputs = run.inputs.dataset_inputs
    if not inputs:
        return ""
    columns = [
        out.Column("Dataset"),
        out.Column("Digest", width=None),
        out.Column("Source type", width=20),
        out.Column("Source", width=60),
        out.Column("Tags"),
    ]
    rows = [
        (
            item.dataset.name,
            item.dataset.digest,
            item.dataset.source_type,
            item.dataset.source,
            ", ".join(f"{t.key}={t.value}" for t in item.tags),
        )
        for item in inputs
    ]
    return f"Datasets ({len(rows)})\n" + out.render_table(columns, rows)


# -- delete / restore ------------------------------------------------------------------


@runs.command("delete")
@click.argument("run_id")
@tracking_uri_option
@pass_client
def delete(client: TrackingClient, run_id: str) -> None:
    """Delete the run RUN_ID (restorable with `labtrack runs restore`)."""
    client.delete_run(run_id)
    click.echo(f"Deleted run {run_id}. Undo with: labtrack runs restore {run_id}")


@runs.command("restore")
@click.argument("run_id")
@tracking_uri_option
@pass_client
def restore(client: TrackingClient, run_id: str) -> None:
    """Restore the deleted run RUN_ID."""
    client.restore_run(run_id)
    click.echo(f"Restored run {run_id}.")
