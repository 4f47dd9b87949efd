"""Registry webhooks in the SQL store: the ``webhooks`` rows, the registry events still
to deliver, and the delivery claims (``webhook_deliveries``).

A claim is an insert keyed by (webhook, event): of several server processes polling the
same event log, the one whose insert succeeds delivers the event; the others see the
key taken and skip it. The secret column holds what the service layer gave (the
encrypted secret); this module never sees the secret in clear.
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

    def claim(self, webhook_id: str, event_id: int, now: int) -> bool:
        """Take on delivering ``event_id`` to ``webhook_id``: False if a process already has."""
        import sqlalchemy.exc as sa_exc

        try:
            with self.store.engine.begin() as conn:
                conn.execute(
                    insert(_wd).values(webhook_id=webhook_id, event_id=event_id, claimed_time=now)
                )
        except sa_exc.IntegrityError:
            return False
        return True

    def forget_claims(self, before: int) -> None:
        """Drop claims older than ``before`` (their events are past every rescan window)."""
        with self.store._write() as conn:
            conn.execute(delete(_wd).where(_wd.c.claimed_time < before))
