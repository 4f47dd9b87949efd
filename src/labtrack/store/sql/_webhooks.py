"""Registry webhooks in the SQL store: the ``webhooks`` rows, the registry events still
to deliver, and the delivery claims (``webhook_deliveries``).

A claim is an insert keyed by (webhook, event): of several server processes polling the
same event log, the one whose insert succeeds delivers the event; the others see the
key taken and skip it. A claim is a lease: ``claimed_time`` is when it was taken (or
renewed), and a claim older than the lease whose delivery never finished (its process
died) is retaken by another process, which delivers the event again. A finished delivery
keeps its row with ``claimed_time`` set to minus the time it finished, so it is never
retaken (the sign is the whole state: no column beyond the claim's time is needed).

The secret column holds what the service layer gave (the encrypted secret); this module
never sees the secret in clear.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update

from labtrack.entities import RegistryEvent, Webhook
from labtrack.errors import ResourceDoesNotExist
from labtrack.store.sql import schema as s
from labtrack.store.sql._registry_reads import load_events

if TYPE_CHECKING:
    from labtrack.store.sql.store import SqlStore

_wh = s.webhooks
_wd = s.webhook_deliveries
_ev = s.registry_events


def webhook_not_found(webhook_id: str) -> ResourceDoesNotExist:
    return ResourceDoesNotExist(f"Webhook with ID {webhook_id} not found.")


def _entity(row: Any) -> Webhook:
    return Webhook(
        webhook_id=row.id,
        name=row.name,
        url=row.url,
        events=tuple(json.loads(row.events)),
        status=row.status,
        creation_timestamp=row.creation_time,
        last_updated_timestamp=row.last_updated_time,
        description=row.description,
        has_secret=row.secret is not None,
    )


class SqlWebhookStore:
    """Webhook rows and delivery claims over a :class:`SqlStore`'s database."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    # -- webhooks ---------------------------------------------------------------------------
    def create_webhook(
        self,
        webhook_id: str,
        name: str,
        url: str,
        events: Sequence[str],
        status: str,
        now: int,
        description: str | None = None,
        secret: str | None = None,
    ) -> Webhook:
        with self.store._write() as conn:
            conn.execute(
                insert(_wh).values(
                    id=webhook_id,
                    name=name,
                    url=url,
                    events=json.dumps(list(events)),
                    status=status,
                    secret=secret,
                    description=description,
                    creation_time=now,
                    last_updated_time=now,
                )
            )
        return self.get_webhook(webhook_id)

    def get_webhook(self, webhook_id: str) -> Webhook:
        return _entity(self._row(webhook_id))

    def get_secret(self, webhook_id: str) -> str | None:
        """The stored (encrypted) secret of a webhook."""
        return self._row(webhook_id).secret

    def _row(self, webhook_id: str) -> Any:
        with self.store._read() as conn:
            row = conn.execute(select(_wh).where(_wh.c.id == webhook_id)).first()
        if row is None:
            raise webhook_not_found(webhook_id)
        return row

    def list_webhooks(self, max_results: int, offset: int) -> tuple[list[Webhook], bool]:
        """One page, newest first (as MLflow lists them), and whether more follow."""
        query = (
            select(_wh)
            .order_by(_wh.c.creation_time.desc(), _wh.c.id)
            .offset(offset)
            .limit(max_results + 1)
        )
        with self.store._read() as conn:
            rows = conn.execute(query).all()
        return [_entity(r) for r in rows[:max_results]], len(rows) > max_results

    def update_webhook(self, webhook_id: str, now: int, **fields: Any) -> Webhook:
        """Set the given columns (``events`` as a list; ``secret`` as stored)."""
        values = dict(fields)
        if "events" in values:
            values["events"] = json.dumps(list(values["events"]))
        with self.store._write() as conn:
            done = conn.execute(
                update(_wh).where(_wh.c.id == webhook_id).values(last_updated_time=now, **values)
            )
            if done.rowcount == 0:
                raise webhook_not_found(webhook_id)
        return self.get_webhook(webhook_id)

    def delete_webhook(self, webhook_id: str) -> None:
        with self.store._write() as conn:
            done = conn.execute(delete(_wh).where(_wh.c.id == webhook_id))
            if done.rowcount == 0:
                raise webhook_not_found(webhook_id)
            conn.execute(delete(_wd).where(_wd.c.webhook_id == webhook_id))

    def active_webhooks(self) -> list[tuple[Webhook, str | None]]:
        """Every ACTIVE webhook with its stored secret."""
        with self.store._read() as conn:
            rows = conn.execute(select(_wh).where(_wh.c.status == "ACTIVE")).all()
        return [(_entity(r), r.secret) for r in rows]

    # -- the event log and the claims -------------------------------------------------------
    def last_event_id(self) -> int:
        with self.store._read() as conn:
            return int(conn.execute(select(func.max(_ev.c.id))).scalar() or 0)

    def events_since(self, after_id: int, since_time: int, limit: int) -> list[RegistryEvent]:
        """Events after ``after_id``, and those at or after ``since_time`` (a change that
        committed late under a lower id), oldest first."""
        query = (
            select(_ev)
            .where((_ev.c.id > after_id) | (_ev.c.timestamp >= since_time))
            .order_by(_ev.c.id)
            .limit(limit)
        )
        with self.store._read() as conn:
            return load_events(conn.execute(query).all())

    def claim(self, webhook_id: str, event_id: int, now: int, expired_before: int) -> bool:
        """Take on delivering ``event_id`` to ``webhook_id``: False if a process already has
        (a claim taken at or after ``expired_before``, or a finished delivery)."""
        import sqlalchemy.exc as sa_exc

        try:
            with self.store.engine.begin() as conn:
                conn.execute(
                    insert(_wd).values(webhook_id=webhook_id, event_id=event_id, claimed_time=now)
                )
        except sa_exc.IntegrityError:
            return self.retake(webhook_id, event_id, now, expired_before)
        return True

    def retake(self, webhook_id: str, event_id: int, now: int, expired_before: int) -> bool:
        """Take over a claim taken before ``expired_before`` whose delivery never finished:
        of several processes trying at once, exactly one succeeds."""
        query = (
            update(_wd)
            .where(
                (_wd.c.webhook_id == webhook_id)
                & (_wd.c.event_id == event_id)
                & (_wd.c.claimed_time >= 0)
                & (_wd.c.claimed_time < expired_before)
            )
            .values(claimed_time=now)
        )
        with self.store._write() as conn:
            return bool(conn.execute(query).rowcount == 1)

    def renew(self, webhook_id: str, event_id: int, now: int) -> None:
        """Start a held claim's lease again (its delivery is starting now)."""
        query = (
            update(_wd)
            .where(
                (_wd.c.webhook_id == webhook_id)
                & (_wd.c.event_id == event_id)
                & (_wd.c.claimed_time >= 0)
            )
            .values(claimed_time=now)
        )
        with self.store._write() as conn:
            conn.execute(query)

    def finish(self, webhook_id: str, event_id: int, now: int) -> None:
        """A claim's delivery is over (sent, refused or out of retries): never retake it."""
        query = (
            update(_wd)
            .where((_wd.c.webhook_id == webhook_id) & (_wd.c.event_id == event_id))
            .values(claimed_time=-now)
        )
        with self.store._write() as conn:
            conn.execute(query)

    def expired_claims(self, expired_before: int, limit: int) -> list[tuple[str, int]]:
        """(webhook, event) of unfinished claims taken before ``expired_before``, oldest first."""
        query = (
            select(_wd.c.webhook_id, _wd.c.event_id)
            .where((_wd.c.claimed_time >= 0) & (_wd.c.claimed_time < expired_before))
            .order_by(_wd.c.claimed_time)
            .limit(limit)
        )
        with self.store._read() as conn:
            return [(str(r.webhook_id), int(r.event_id)) for r in conn.execute(query)]

    def events(self, event_ids: Sequence[int]) -> dict[int, RegistryEvent]:
        """The events of the log with these ids, by id."""
        if not event_ids:
            return {}
        query = select(_ev).where(_ev.c.id.in_(list(event_ids)))
        with self.store._read() as conn:
            return {e.event_id: e for e in load_events(conn.execute(query).all())}

    def forget_claims(self, before: int) -> None:
        """Drop claims taken or finished before ``before`` (their events are past every
        rescan window, and a lease long expired has been retaken since if it could be)."""
        finished_long_ago = (_wd.c.claimed_time < 0) & (_wd.c.claimed_time > -before)
        with self.store._write() as conn:
            conn.execute(
                delete(_wd).where(
                    ((_wd.c.claimed_time >= 0) & (_wd.c.claimed_time < before)) | finished_long_ago
                )
            )
