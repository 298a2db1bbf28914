"""Webhook deliveries, the outbox rows: listing them, retrying, replaying, pinging.

A delivery is one message to one subscription; its id is the `webhook-id` the receiver
sees on every attempt (Standard Webhooks, "Idempotency"). These commands only change
rows; the delivery worker (webhooks/delivery_worker.py) sends what is due.

Statuses:
    pending    queued: not tried yet, or waiting for its next retry (`next_attempt_at`)
    sending    claimed by a worker until `claimed_until` (a lease: a crashed worker's
               claim runs out and another worker sends it)
    succeeded  the receiver answered 2xx
    failed     its failure disabled the subscription (410 Gone, unsafe target, 5 days)
    dead       the retry schedule ran out
    cancelled  queued when its subscription was disabled
Re-enabling a subscription queues its failed and cancelled deliveries again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select, tuple_, update

from tracker.commands.subscriptions import Clock, load_subscription, matches, new_id, utc_now
from tracker.commands.webhook_tables import QUEUED, STATUSES, as_utc, deliveries
from tracker.db import read_connection, write_transaction
from tracker.domain.envelope import RecordedEvent
from tracker.domain.errors import InvalidInput, NotFound
from tracker.domain.events import EVENT_TYPES
from tracker.projections.keyset import Key, Page, keyset_page
from tracker.projections.runner import load_checkpoint
from tracker.store.reading import EVENT_COLUMNS, count_after, record_from_row
from tracker.store.schema import events

__all__ = [
    "DISPATCHER_CHECKPOINT",
    "PING_TYPE",
    "REPLAY_LIMIT",
    "Replayed",
    "company_of",
    "delivery_values",
    "dispatcher_lag",
    "list_deliveries",
    "ping_subscription",
    "replay_deliveries",
    "retry_delivery",
    "retry_queue_depth",
]

DISPATCHER_CHECKPOINT = "webhooks.dispatcher"
PING_TYPE = "webhook.ping"  # a delivery type only, never an event in the log (DESIGN §5)
REPLAY_LIMIT = 10_000  # deliveries per replay call; `next_position` continues it
_INSERT_CHUNK = 1000


@dataclass(frozen=True)
class Replayed:
    deliveries: int
    generation: int
    next_position: int | None  # replay from here to continue; None: nothing left


def delivery_view(row: Row[Any]) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "subscription_id": m["subscription_id"],
        "event_id": str(m["event_id"]) if m["event_id"] is not None else None,
        "event_type": m["event_type"],
        "position": m["position"],
        "replay": m["generation"],
        "status": m["status"],
        "attempts": m["attempts"],
        "next_attempt_at": as_utc(m["next_attempt_at"]) if m["status"] in QUEUED else None,
        "created_at": as_utc(m["created_at"]),
        "delivered_at": as_utc(m["delivered_at"]),
        "last_status": m["last_status"],
        "last_error": m["last_error"],
    }


def company_of(event: RecordedEvent) -> str | None:
    # Corrections and retractions go to their target's stream, so the stream names the
    # company for every event type.
    return event.company if event.stream.startswith("company-") else None


def delivery_values(
    subscription_id: str, event: RecordedEvent, now: datetime, generation: int = 0
) -> dict[str, Any]:
    """A new delivery row of `event`, due at once; its id is its webhook-id for good."""
    return {
        "id": new_id("msg_", now),
        "subscription_id": subscription_id,
        "event_id": event.id,
        "generation": generation,
        "position": event.position,
        "event_type": event.type,
        "payload": event.envelope(),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "event_recorded_at": event.recorded_at,
    }


def list_deliveries(
    engine: Engine,
    subscription_id: str,
    *,
    status: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page:
    """A subscription's deliveries, newest first (ids sort by creation time)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput.at(("query", "status"), f"must be one of {', '.join(STATUSES)}")
    with read_connection(engine) as conn:
        load_subscription(conn, subscription_id)
        query = select(deliveries).where(deliveries.c.subscription_id == subscription_id)
        if status is not None:
            query = query.where(deliveries.c.status == status)
        keys = [Key(deliveries.c.id, "str", descending=True)]
        return keyset_page(conn, query, keys, limit, cursor, delivery_view)


def retry_delivery(
    engine: Engine, subscription_id: str, delivery_id: str, *, clock: Clock = utc_now
) -> dict[str, Any]:
    """Make a delivery due now, whatever its status (one being sent is left alone).
    A dead one gets one more attempt, as Svix's manual resend does."""
    now = clock()
    where = (deliveries.c.id == delivery_id, deliveries.c.subscription_id == subscription_id)
    with write_transaction(engine) as conn:
        load_subscription(conn, subscription_id)
        row = conn.execute(select(deliveries).where(*where).with_for_update()).first()
        if row is None:
            raise NotFound(f"no delivery {delivery_id!r} of subscription {subscription_id!r}")
        if row.status != "sending":
            conn.execute(
                update(deliveries).where(*where).values(status="pending", next_attempt_at=now)
            )
        return delivery_view(conn.execute(select(deliveries).where(*where)).one())


def replay_deliveries(
    engine: Engine,
    subscription_id: str,
    from_position: int,
    *,
    clock: Clock = utc_now,
    limit: int = REPLAY_LIMIT,
) -> Replayed:
    """New deliveries, a new generation, of each matching event from `from_position` on,
    up to the dispatcher's checkpoint: the dispatcher delivers the later ones itself, so
    nothing is replayed and dispatched both by one call."""
    if from_position < 0:
        raise InvalidInput.at(("query", "from_position"), "must be 0 or more")
    now = clock()
    with write_transaction(engine) as conn:
        sub = load_subscription(conn, subscription_id, lock=True)  # one replay at a time
        latest = conn.execute(
            select(func.coalesce(func.max(deliveries.c.generation), 0)).where(
                deliveries.c.subscription_id == subscription_id
            )
        ).scalar_one()
        generation = int(latest) + 1
        found = _history(conn, sub, from_position, limit + 1)
        rows = [delivery_values(sub.id, event, now, generation) for event in found[:limit]]
        for start in range(0, len(rows), _INSERT_CHUNK):
            conn.execute(insert(deliveries), rows[start : start + _INSERT_CHUNK])
    more = found[limit].position if len(found) > limit else None
    return Replayed(len(rows), generation, more)


def _history(
    conn: Connection, sub: Row[Any], from_position: int, limit: int
) -> list[RecordedEvent]:
    """Events the subscription wants, from `from_position` to the dispatcher's checkpoint."""
    done = load_checkpoint(conn, DISPATCHER_CHECKPOINT)
    query = select(*EVENT_COLUMNS).where(
        events.c.position >= from_position,
        tuple_(events.c.tx_id, events.c.position) <= tuple_(done.tx, done.position),
    )
    if sub.event_types:
        wanted = [t for t in EVENT_TYPES if matches(sub.event_types, (), t, None)]
        query = query.where(events.c.type.in_(wanted))
    if sub.companies:
        query = query.where(events.c.stream.in_([f"company-{c}" for c in sub.companies]))
    rows = conn.execute(query.order_by(events.c.position).limit(limit))
    return [record_from_row(row) for row in rows]


def ping_subscription(
    engine: Engine, subscription_id: str, *, clock: Clock = utc_now
) -> dict[str, Any]:
    """Queue a `webhook.ping`: a signed test message with no event behind it. It goes
    while the subscription is enabled, without waiting behind queued deliveries."""
    now = clock()
    with write_transaction(engine) as conn:
        sub = load_subscription(conn, subscription_id)
        delivery_id = new_id("msg_", now)
        conn.execute(
            insert(deliveries).values(
                id=delivery_id,
                subscription_id=sub.id,
                event_id=None,
                generation=0,
                position=None,
                event_type=PING_TYPE,
                payload={"subscription_id": sub.id, "url": sub.url},
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                event_recorded_at=now,
            )
        )
        row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()
        return delivery_view(row)


def dispatcher_lag(conn: Connection) -> int:
    """Events the dispatcher has still to turn into deliveries (capped count)."""
    return count_after(conn, load_checkpoint(conn, DISPATCHER_CHECKPOINT))


def retry_queue_depth(conn: Connection) -> int:
    """Deliveries that failed at least once and wait for their next attempt."""
    waiting = (
        select(func.count())
        .select_from(deliveries)
        .where(deliveries.c.status == "pending", deliveries.c.attempts > 0)
    )
    return int(conn.execute(waiting).scalar_one())
