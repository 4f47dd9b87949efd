"""The first labtrack schema: experiments, runs, params, tags, metrics, datasets.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

A new database is created from ``labtrack.store.sql.schema`` and stamped with
the newest revision, so this baseline has nothing to do: no database predates it.
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass
