"""Webhook delivery claims in the SQL store (store/sql/_webhooks.py), on every database: a
claim is a lease that one process, and only one, may retake once it has run out, until
its delivery is finished."""

from __future__ import annotations

from typing import Any

import pytest

LEASE = 60_000


@pytest.fixture
def rows(sql_store: Any) -> Any:
    from labtrack.store.sql._webhooks import SqlWebhookStore

    return SqlWebhookStore(sql_store)


def test_one_claim_per_delivery_while_its_lease_runs(rows: Any) -> None:
    assert rows.claim("hook", 1, 1_000_000, 1_000_000 - LEASE)
    assert not rows.claim("hook", 1, 1_000_500, 1_000_500 - LEASE)  # taken, lease running
    assert rows.claim("hook", 2, 1_000_500, 1_000_500 - LEASE)  # another event
    assert rows.claim("other", 1, 1_000_500, 1_000_500 - LEASE)  # another webhook
    assert rows.expired_claims(1_000_000, 10) == []


def test_an_expired_claim_is_retaken_once(rows: Any) -> None:
    assert rows.claim("hook", 1, 1_000_000, 0)
    assert rows.claim("hook", 2, 1_000_600, 0)
    later = 1_000_000 + LEASE + 500
    assert rows.expired_claims(later - LEASE, 10) == [("hook", 1)]  # oldest first, 2 runs on
    assert rows.retake("hook", 1, later, later - LEASE)
    assert not rows.retake("hook", 1, later, later - LEASE)  # a second process: too late
    assert not rows.claim("hook", 1, later, later - LEASE)
    assert rows.expired_claims(later - LEASE, 10) == []


def test_a_finished_delivery_is_never_retaken(rows: Any) -> None:
    assert rows.claim("hook", 1, 1_000_000, 0)
    rows.renew("hook", 1, 1_000_200)
    rows.finish("hook", 1, 1_000_300)
    much_later = 9_000_000_000
    assert rows.expired_claims(much_later, 10) == []
    assert not rows.claim("hook", 1, much_later, much_later - LEASE)
    assert not rows.retake("hook", 1, much_later, much_later - LEASE)
    rows.renew("hook", 1, much_later)  # a renewal does not reopen it
    assert rows.expired_claims(much_later + LEASE, 10) == []


def test_old_claims_are_forgotten(rows: Any) -> None:
    assert rows.claim("hook", 1, 1_000, 0)  # pending, long ago
    assert rows.claim("hook", 2, 2_000, 0)
    rows.finish("hook", 2, 3_000)  # finished long ago
    assert rows.claim("hook", 3, 50_000, 0)
    rows.finish("hook", 3, 60_000)  # finished recently
    rows.forget_claims(10_000)
    assert rows.claim("hook", 1, 70_000, 0)  # gone: a fresh claim
    assert rows.claim("hook", 2, 70_000, 0)
    assert not rows.claim("hook", 3, 70_000, 70_000)  # kept
