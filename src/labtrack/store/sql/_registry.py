"""The model registry in the SQL store: the writes, and the event log they append to.

Every function here runs inside a transaction the caller (``SqlStore``) opened, and
records its change in ``registry_events`` in that same transaction: a change and its
event are stored together or not at all. A write that changes nothing (deleting a tag
that is not there, moving an alias to where it already points) records no event.
Reading (entities, search, the log) is in ``_registry_reads.py``.

Version numbers come from a counter on the registered model (``last_version``), bumped
with an UPDATE that locks the model's row, so two concurrent registrations get
different numbers and a deleted version's number is never given out again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, insert, select, update

from labtrack.entities import (
    ModelUri,
    ModelVersionStage,
    ModelVersionStatus,
    parse_runs_uri,
)
from labtrack.entities import RegistryAction as Action
from labtrack.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from labtrack.store.sql import _logged_models
from labtrack.store.sql import schema as s

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_rm = s.registered_models
_mv = s.model_versions
_rmt = s.registered_model_tags
_mvt = s.model_version_tags
_al = s.registered_model_aliases
_ev = s.registry_events
VERSION_COLUMNS = (*_mv.c, _rm.c.name)
"""A version's row with its model's name."""


def model_not_found(name: str) -> ResourceDoesNotExist:
    return ResourceDoesNotExist(f"Registered Model with name={name} not found")


def model_exists(name: str) -> ResourceAlreadyExists:
    return ResourceAlreadyExists(f"Registered Model (name={name}) already exists.")


def version_not_found(name: str, version: int) -> ResourceDoesNotExist:
    return ResourceDoesNotExist(f"Model Version (name={name}, version={version}) not found")


def record(
    conn: Connection,
    now: int,
    user: str,
    action: str,
    name: str,
    version: int | None = None,
    old: str | None = None,
    new: str | None = None,
    **details: Any,
) -> None:
    """Append one event to the log: ``old`` and ``new`` are its from and to values;
    ``details`` left None are left out."""
    kept = {k: v for k, v in details.items() if v is not None}
    conn.execute(
        insert(_ev).values(
            timestamp=now,
            claimed_user=user,
            action=action,
            model_name=name,
            version=version,
            from_value=old,
            to_value=new,
            details=json.dumps(kept, sort_keys=True) if kept else None,
        )
    )


# -- rows -------------------------------------------------------------------------------
def model_row(conn: Connection, name: str) -> Any:
    row = conn.execute(select(_rm).where(_rm.c.name == name)).first()
    if row is None:
        raise model_not_found(name)
    return row


def version_row(conn: Connection, name: str, version: int) -> Any:
    """The version's row, with its model's name (``.name``) and key (``.registered_model_id``)."""
    row = conn.execute(
        select(*VERSION_COLUMNS)
        .join(_rm, _rm.c.id == _mv.c.registered_model_id)
        .where(_rm.c.name == name, _mv.c.version == version)
    ).first()
    if row is None:
        model_row(conn, name)  # a missing model is reported as such
        raise version_not_found(name, version)
    return row


def alias_target(conn: Connection, model_pk: int, alias: str) -> tuple[int, int] | None:
    """(version key, version number) the alias points to, or None."""
    found = conn.execute(
        select(_mv.c.id, _mv.c.version)
        .join(_al, _al.c.model_version_id == _mv.c.id)
        .where(_al.c.registered_model_id == model_pk, _al.c.alias == alias)
    ).first()
    return None if found is None else (found[0], found[1])


def newest_version(conn: Connection, model_pk: int, stage: str | None = None) -> int | None:
    """The highest version number of a model (in ``stage``, if given); None if none."""
    query = select(func.max(_mv.c.version)).where(_mv.c.registered_model_id == model_pk)
    if stage is not None:
        query = query.where(_mv.c.current_stage == stage)
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def _touch_model(conn: Connection, pk: int, now: int, **values: Any) -> None:
    conn.execute(update(_rm).where(_rm.c.id == pk).values(last_updated_time=now, **values))


def _touch_version(conn: Connection, pk: int, now: int, **values: Any) -> None:
    conn.execute(update(_mv).where(_mv.c.id == pk).values(last_updated_time=now, **values))


def _upsert_tag(
    conn: Connection, table: Any, owner: str, pk: int, key: str, value: str
) -> str | None:
    """Set a tag; the value it had before (None: it is new)."""
    where = and_(table.c[owner] == pk, table.c.key == key)
    old = conn.execute(select(table.c.value).where(where)).scalar()
    if old is None:
        conn.execute(insert(table).values({owner: pk, "key": key, "value": value}))
    elif old != value:
        conn.execute(update(table).where(where).values(value=value))
    return old


def _delete_tag(conn: Connection, table: Any, owner: str, pk: int, key: str) -> str | None:
    """Delete a tag; the value it had (None: there was none, which is no error, as in MLflow)."""
    where = and_(table.c[owner] == pk, table.c.key == key)
    old = conn.execute(select(table.c.value).where(where)).scalar()
    if old is not None:
        conn.execute(delete(table).where(where))
    return old


# -- registered models ------------------------------------------------------------------
def create_model(
    conn: Connection,
    name: str,
    tags: Mapping[str, str],
    description: str | None,
    user: str,
    now: int,
) -> None:
    if conn.execute(select(_rm.c.id).where(_rm.c.name == name)).first() is not None:
        raise model_exists(name)
    pk = conn.execute(
        insert(_rm).values(
            name=name,
            description=description,
            user_id=user,
            creation_time=now,
            last_updated_time=now,
            last_version=0,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    if tags:
        conn.execute(
            insert(_rmt),
            [{"registered_model_id": pk, "key": k, "value": v} for k, v in tags.items()],
        )
    record(
        conn,
        now,
        user,
        Action.MODEL_CREATED,
        name,
        description=description or None,
        tags=dict(tags) or None,
    )


def rename_model(conn: Connection, name: str, new_name: str, user: str, now: int) -> None:
    row = model_row(conn, name)
    if new_name == name:
        return
    if conn.execute(select(_rm.c.id).where(_rm.c.name == new_name)).first() is not None:
        raise model_exists(new_name)
    _touch_model(conn, row.id, now, name=new_name)
    conn.execute(
        update(_mv).where(_mv.c.registered_model_id == row.id).values(last_updated_time=now)
    )
    # Recorded under the new name: the event that links the two names' histories.
    record(conn, now, user, Action.MODEL_RENAMED, new_name, None, name, new_name)


def update_model(conn: Connection, name: str, description: str | None, user: str, now: int) -> None:
    row = model_row(conn, name)
    _touch_model(conn, row.id, now, description=description)
    if (row.description or None) != (description or None):
        action = Action.MODEL_DESCRIPTION_UPDATED
        record(conn, now, user, action, name, None, row.description, description)


def delete_model(conn: Connection, name: str, user: str, now: int) -> None:
    row = model_row(conn, name)
    of_model = _mv.c.registered_model_id == row.id
    versions = list(conn.execute(select(_mv.c.version).where(of_model).order_by(_mv.c.version)))
    # Children first: the cascade does it too, but not every database enforces it the same way.
    conn.execute(delete(_al).where(_al.c.registered_model_id == row.id))
    conn.execute(delete(_mvt).where(_mvt.c.model_version_id.in_(select(_mv.c.id).where(of_model))))
    conn.execute(delete(_mv).where(of_model))
    conn.execute(delete(_rmt).where(_rmt.c.registered_model_id == row.id))
    conn.execute(delete(_rm).where(_rm.c.id == row.id))
    numbers = [v for (v,) in versions] or None
    record(conn, now, user, Action.MODEL_DELETED, name, versions=numbers)


def set_model_tag(conn: Connection, name: str, key: str, value: str, user: str, now: int) -> None:
    row = model_row(conn, name)
    old = _upsert_tag(conn, _rmt, "registered_model_id", row.id, key, value)
    if old != value:
        record(conn, now, user, Action.MODEL_TAG_SET, name, None, old, value, key=key)


def delete_model_tag(conn: Connection, name: str, key: str, user: str, now: int) -> None:
    row = model_row(conn, name)
    old = _delete_tag(conn, _rmt, "registered_model_id", row.id, key)
    if old is not None:
        record(conn, now, user, Action.MODEL_TAG_DELETED, name, None, old, None, key=key)


# -- model versions ---------------------------------------------------------------------
def resolve_source(
    conn: Connection, source: str, run_id: str | None, model_id: str | None
) -> tuple[str, str, str | None, str | None]:
    """(source, where the files are, run id, model id) of a version about to be created.

    ``models:/m-<id>``: the logged model's files and source run. ``models:/<name>/...``:
    another version's files, run and model (the source is normalised to
    ``models:/<name>/<version>``). ``runs:/<run>/<path>``: that path in the run's
    artifacts (the URI itself for a run not in this store). Anything else is where the files are.
    """
    storage = source
    if source.startswith("models:"):
        uri = ModelUri.parse(source)
        if uri.model_id is not None:
            logged = _logged_models.model_row(conn, uri.model_id)
            storage = logged.artifact_location
            model_id = model_id or uri.model_id
            run_id = run_id or logged.source_run_id
        else:
            assert uri.name is not None
            other = version_row(conn, uri.name, resolve_version(conn, uri))
            source = f"models:/{other.name}/{other.version}"
            storage = other.storage_location
            run_id = run_id or other.run_id
            model_id = model_id or other.model_id
    elif source.startswith("runs:"):
        source_run, path = parse_runs_uri(source)
        run = conn.execute(
            select(s.runs.c.artifact_uri).where(s.runs.c.run_uuid == source_run)
        ).first()
        if run is not None:
            storage = f"{run.artifact_uri.rstrip('/')}/{path}" if path else run.artifact_uri
        # else a run of another tracking server (as MLflow, the version keeps the runs:/
        # URI, which a client resolves against its own tracking server)
        run_id = run_id or source_run
    if model_id and not run_id:
        run_id = _logged_models.model_row(conn, model_id).source_run_id
    elif model_id:
        _logged_models.model_row(conn, model_id)  # it must exist
    return source, storage, run_id or None, model_id or None


def resolve_version(conn: Connection, uri: ModelUri) -> int:
    """The version number a ``models:/<name>/...`` URI names (by number, alias, stage or
    newest)."""
    assert uri.name is not None
    if uri.version is not None:
        return uri.version
    row = model_row(conn, uri.name)
    if uri.alias is not None and uri.alias.lower() != "latest":
        target = alias_target(conn, row.id, uri.alias)
        if target is None:  # MLflow's code for a missing alias, which its clients expect
            raise InvalidParameterValue(f"Registered model alias {uri.alias} not found.")
        return target[1]
    found = newest_version(conn, row.id, uri.stage)
    if found is None:
        stage = "" if uri.stage is None else f" and stage '{uri.stage}'"
        raise ResourceDoesNotExist(f"No versions of model with name '{uri.name}'{stage} found")
    return found


def create_version(
    conn: Connection,
    name: str,
    source: str,
    run_id: str | None,
    tags: Mapping[str, str],
    run_link: str | None,
    description: str | None,
    model_id: str | None,
    user: str,
    now: int,
) -> int:
    """Insert the model's next version (READY, stage None); returns its number."""
    row = model_row(conn, name)
    source, storage, run_id, model_id = resolve_source(conn, source, run_id, model_id)
    # Bumping the counter locks the model's row until commit: concurrent registrations wait.
    bumped = conn.execute(
        update(_rm)
        .where(_rm.c.id == row.id)
        .values(last_version=_rm.c.last_version + 1, last_updated_time=now)
    ).rowcount
    if not bumped:
        raise model_not_found(name)
    version = int(conn.execute(select(_rm.c.last_version).where(_rm.c.id == row.id)).scalar_one())
    pk = conn.execute(
        insert(_mv).values(
            registered_model_id=row.id,
            version=version,
            creation_time=now,
            last_updated_time=now,
            description=description,
            user_id=user,
            current_stage=ModelVersionStage.NONE,
            source=source,
            storage_location=storage,
            run_id=run_id,
            run_link=run_link,
            model_id=model_id,
            status=ModelVersionStatus.READY,
            status_message=None,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    if tags:
        conn.execute(
            insert(_mvt), [{"model_version_id": pk, "key": k, "value": v} for k, v in tags.items()]
        )
    record(
        conn,
        now,
        user,
        Action.VERSION_CREATED,
        name,
        version,
        None,
        source,
        storage_location=storage,
        run_id=run_id,
        model_id=model_id,
        run_link=run_link,
        description=description or None,
        tags=dict(tags) or None,
    )
    return version


def update_version(
    conn: Connection, name: str, version: int, description: str | None, user: str, now: int
) -> None:
    row = version_row(conn, name, version)
    _touch_version(conn, row.id, now, description=description)
    if (row.description or None) != (description or None):
        action = Action.VERSION_DESCRIPTION_UPDATED
        record(conn, now, user, action, name, version, row.description, description)


def transition_stage(
    conn: Connection,
    name: str,
    version: int,
    stage: str,
    archive_existing: bool,
    user: str,
    now: int,
) -> None:
    """Move a version to ``stage`` (canonical); with ``archive_existing``, the other
    versions in that stage go to Archived, each with an event of its own."""
    row = version_row(conn, name, version)
    # Touching the model first locks its row: transitions of one model run one at a time.
    _touch_model(conn, row.registered_model_id, now)
    if archive_existing:
        others = conn.execute(
            select(_mv.c.id, _mv.c.version).where(
                _mv.c.registered_model_id == row.registered_model_id,
                _mv.c.current_stage == stage,
                _mv.c.id != row.id,
            )
        ).all()
        archived = ModelVersionStage.ARCHIVED
        for other_pk, other in others:
            _touch_version(conn, other_pk, now, current_stage=archived)
            action = Action.STAGE_TRANSITIONED
            record(
                conn, now, user, action, name, other, stage, archived, archived_by_version=version
            )
    _touch_version(conn, row.id, now, current_stage=stage)
    if row.current_stage != stage:
        archiving = True if archive_existing else None
        record(
            conn,
            now,
            user,
            Action.STAGE_TRANSITIONED,
            name,
            version,
            row.current_stage,
            stage,
            archive_existing_versions=archiving,
        )


def delete_version(conn: Connection, name: str, version: int, user: str, now: int) -> None:
    """Delete a version, its tags and the aliases pointing to it."""
    row = version_row(conn, name, version)
    pointing = _al.c.model_version_id == row.id
    aliases = sorted(conn.execute(select(_al.c.alias).where(pointing)).scalars())
    conn.execute(delete(_al).where(pointing))
    conn.execute(delete(_mvt).where(_mvt.c.model_version_id == row.id))
    conn.execute(delete(_mv).where(_mv.c.id == row.id))
    _touch_model(conn, row.registered_model_id, now)
    stage = row.current_stage
    record(conn, now, user, Action.VERSION_DELETED, name, version, stage, aliases=aliases or None)


def set_version_tag(
    conn: Connection, name: str, version: int, key: str, value: str, user: str, now: int
) -> None:
    row = version_row(conn, name, version)
    old = _upsert_tag(conn, _mvt, "model_version_id", row.id, key, value)
    if old != value:
        record(conn, now, user, Action.VERSION_TAG_SET, name, version, old, value, key=key)


def delete_version_tag(
    conn: Connection, name: str, version: int, key: str, user: str, now: int
) -> None:
    row = version_row(conn, name, version)
    old = _delete_tag(conn, _mvt, "model_version_id", row.id, key)
    if old is not None:
        record(conn, now, user, Action.VERSION_TAG_DELETED, name, version, old, None, key=key)


# -- aliases ----------------------------------------------------------------------------
def set_alias(conn: Connection, name: str, alias: str, version: int, user: str, now: int) -> None:
    """Point ``alias`` at ``version`` (moving it if it points elsewhere)."""
    row = version_row(conn, name, version)
    model_pk = row.registered_model_id
    current = alias_target(conn, model_pk, alias)
    if current is None:
        conn.execute(
            insert(_al).values(registered_model_id=model_pk, alias=alias, model_version_id=row.id)
        )
        record(conn, now, user, Action.ALIAS_SET, name, version, None, str(version), alias=alias)
    elif current[0] != row.id:
        conn.execute(
            update(_al)
            .where(_al.c.registered_model_id == model_pk, _al.c.alias == alias)
            .values(model_version_id=row.id)
        )
        old = str(current[1])
        record(conn, now, user, Action.ALIAS_MOVED, name, version, old, str(version), alias=alias)


def delete_alias(conn: Connection, name: str, alias: str, user: str, now: int) -> None:
    """Delete an alias; one that is not there is no error (as in MLflow)."""
    row = model_row(conn, name)
    current = alias_target(conn, row.id, alias)
    if current is not None:
        conn.execute(delete(_al).where(_al.c.registered_model_id == row.id, _al.c.alias == alias))
        version = current[1]
        record(conn, now, user, Action.ALIAS_DELETED, name, version, str(version), alias=alias)
