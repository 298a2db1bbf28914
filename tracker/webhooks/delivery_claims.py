"""Claiming due deliveries: which ones a worker may send now, held by a lease.

One transaction picks due rows with ``FOR UPDATE SKIP LOCKED`` (workers in other
processes skip each other's rows instead of waiting; the claim shape of
python-event-sourcery's ``outbox.py``), marks them ``sending`` with ``claimed_until``
and commits, so no transaction stays open while the worker calls receivers. A worker
that dies after claiming loses nothing: when the lease runs out the row is due again and
another worker sends it (at-least-once, with the same ``webhook-id``).

Order: per subscription only the oldest queued delivery (by log position) is eligible,
so a receiver gets events in log order and a failing one is not flooded; pings have no
position and go at once. Claims span subscriptions, so a slow or dead endpoint holds up
only its own deliveries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, or_, select, tuple_, update

from tracker.commands.webhook_tables import as_utc, deliveries, subscriptions
from tracker.db import write_transaction

__all__ = ["Claim", "claim_due", "lease_for", "release_claims"]


def lease_for(timeout: float) -> timedelta:
    """How long a claim holds: well past the sender's worst case (its timeout applies to
    connect, write and each read), so a live worker's claim never runs out mid-send."""
    return timedelta(seconds=4 * timeout + 30)


@dataclass(frozen=True)
class Claim:
    """A claimed delivery with what sending it needs. `secrets` never reach a log."""

    id: str
    subscription_id: str
    url: str
    event_type: str
    payload: dict[str, Any]
    event_recorded_at: datetime
    generation: int
    attempts: int
    secrets: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Claim(id={self.id!r}, subscription_id={self.subscription_id!r})"


def _due(now: datetime) -> Any:
    older = deliveries.alias("older")
    # Per-subscription order: an older queued or in-flight delivery (by position, then
    # id) blocks this one. Pings have no position; NULL compares as unknown, so pings
    # neither block nor wait.
    waits_behind = exists().where(
        older.c.subscription_id == deliveries.c.subscription_id,
        older.c.status.in_(("pending", "sending")),
        tuple_(older.c.position, older.c.id) < tuple_(deliveries.c.position, deliveries.c.id),
    )
    return and_(
        or_(
            and_(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now),
            and_(deliveries.c.status == "sending", deliveries.c.claimed_until < now),
        ),
        ~waits_behind,
    )


def claim_due(
    engine: Engine, worker_id: str, now: datetime, limit: int, lease: timedelta
) -> list[Claim]:
    """Claim up to `limit` due deliveries of enabled subscriptions, and commit."""
    with write_transaction(engine) as conn:
        query = (
            select(deliveries.c.id)
            .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
            .where(subscriptions.c.enabled.is_(True), _due(now))
            .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
            .limit(limit)
            .with_for_update(of=deliveries, skip_locked=True)
        )
        ids = list(conn.execute(query).scalars())
        if not ids:
            return []
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(ids))
            .values(status="sending", claimed_by=worker_id, claimed_until=now + lease)
        )
        return _claims(conn, ids, now)


def _claims(conn: Connection, ids: Sequence[str], now: datetime) -> list[Claim]:
    s, d = subscriptions.c, deliveries.c
    query = (
        select(
            d.id,
            d.subscription_id,
            d.event_type,
            d.payload,
            d.event_recorded_at,
            d.generation,
            d.attempts,
            s.url,
            s.secret,
            s.previous_secret,
            s.previous_secret_until,
        )
        .join(subscriptions, s.id == d.subscription_id)
        .where(d.id.in_(ids))
        .order_by(d.next_attempt_at, d.id)
    )
    claims = []
    for row in conn.execute(query):
        until = as_utc(row.previous_secret_until)
        # During a rotation both secrets sign (Standard Webhooks lists several
        # signatures), so receivers still holding the old secret keep verifying.
        keep_previous = row.previous_secret is not None and until is not None and until > now
        secrets = (row.secret, row.previous_secret) if keep_previous else (row.secret,)
        recorded_at = as_utc(row.event_recorded_at)
        assert recorded_at is not None
        claims.append(
            Claim(
                id=row.id,
                subscription_id=row.subscription_id,
                url=row.url,
                event_type=row.event_type,
                payload=row.payload,
                event_recorded_at=recorded_at,
                generation=row.generation,
                attempts=row.attempts,
                secrets=secrets,
            )
        )
    return claims


def release_claims(engine: Engine, worker_id: str, ids: Sequence[str]) -> None:
    """Give back claims that were never sent (a stopping worker), due at once."""
    if not ids:
        return
    with write_transaction(engine) as conn:
        conn.execute(
            update(deliveries)
            .where(
                deliveries.c.id.in_(list(ids)),
                deliveries.c.claimed_by == worker_id,
                deliveries.c.status == "sending",
            )
            .values(status="pending", claimed_by=None, claimed_until=None)
        )
