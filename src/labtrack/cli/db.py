"""``labtrack db``: the tracking database's schema."""

from __future__ import annotations

import click

from labtrack.cli._group import LabtrackGroup
from labtrack.cli._options import current_tracking_uri, tracking_uri_option


@click.group(cls=LabtrackGroup)
def db() -> None:
    """Manage the schema of the tracking database."""


@db.command("upgrade")
@tracking_uri_option
def upgrade() -> None:
    """Create or upgrade the schema of the database at the tracking URI.

    Safe to run at any time and from several processes at once: a database that is
    already current is left alone. labtrack also does this on first use; run it
    explicitly to upgrade a shared database at a time of your choosing.
    """
    from labtrack.artifacts import redact_uri
    from labtrack.config import settings
    from labtrack.errors import ConfigurationError
    from labtrack.store.sql.engine import get_engine, is_database_uri
    from labtrack.store.sql.migrate import upgrade as upgrade_schema
    from labtrack.tracking._stores import resolve_tracking_uri

    uri = resolve_tracking_uri(current_tracking_uri())
    if not is_database_uri(uri):
        raise ConfigurationError(
            f"labtrack db upgrade needs a database URL (sqlite:///labtrack.db, postgresql://..., "
            f"mysql+pymysql://...), not {redact_uri(uri)!r}"
        )
    engine = get_engine(uri, busy_timeout=settings.get("sqlite_busy_timeout"))
    message = upgrade_schema(engine, uri)
    click.echo(f"{redact_uri(uri)}: {message}")
