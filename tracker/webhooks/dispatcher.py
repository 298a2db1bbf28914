"""The dispatcher: turns new events into deliveries, the outbox half of webhooks.

It follows the log gap-free (store/reading.py) from its checkpoint, "webhooks.dispatcher"
in `projection_checkpoints`, and for each batch writes one delivery per matching
(enabled subscription, event) and moves the checkpoint, in one transaction. So an event
whose append committed is delivered even if the process died right after: the
checkpoint, not memory, says what is done, and a crash between the rows and the
checkpoint rolls both back (the transactional outbox; python-event-sourcery's
`outbox.py` keeps the same at-least-once shape).

One dispatcher runs at a time: on PostgreSQL a transaction-scoped advisory lock elects
it among all processes (the others skip the round); on SQLite `BEGIN IMMEDIATE`
serialises writers anyway. Subscriptions are matched as they are when the batch is
read: a subscription gets the events after the log head at its creation, and nothing
while it is disabled (a replay sends those on request).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text

from tracker.commands.deliveries import DISPATCHER_CHECKPOINT, company_of, delivery_values
from tracker.commands.subscriptions import matches, utc_now
from tracker.commands.webhook_tables import deliveries, subscriptions
from tracker.db import write_transaction
from tracker.projections.runner import load_checkpoint, save_checkpoint
from tracker.store.reading import LogCursor, head, read_all

__all__ = ["dispatch_new_events"]

log = logging.getLogger(__name__)
_LOCK_KEY = zlib.crc32(b"tracker.webhooks.dispatcher")
# Batches per call: enough to catch up after a pause, bounded so a huge backlog cannot
# hold the worker loop (and its delivery sends) for long.
_MAX_BATCHES = 20


def dispatch_new_events(
    engine: Engine, batch: int = 500, *, clock: Callable[[], datetime] = utc_now
) -> int:
    """Write the deliveries of events after the checkpoint; returns how many were written.

    Runs up to a bounded number of batches, each its own transaction; returns 0 at once
    when another process holds the dispatcher lock.
    """
    written = 0
    for _ in range(_MAX_BATCHES):
        step = _step(engine, batch, clock)
        if step is None:
            break
        written += step
    return written


def _try_lock(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return True
    query = text("SELECT pg_try_advisory_xact_lock(:key)")
    return bool(conn.execute(query, {"key": _LOCK_KEY}).scalar())


def _step(engine: Engine, batch: int, clock: Callable[[], datetime]) -> int | None:
    """One batch: deliveries written, or None when there is nothing (more) to do."""
    with write_transaction(engine) as conn:
        if not _try_lock(conn):
            return None
        cursor = load_checkpoint(conn, DISPATCHER_CHECKPOINT)
        found = read_all(conn, cursor, batch)
        if not found:
            return None
        last = LogCursor(found[-1].tx, found[-1].position)
        # Events first, then subscriptions: on PostgreSQL each statement sees what had
        # committed when it started, so every subscription that committed before one of
        # these events is seen below; one that commits later only wants later events.
        skip_to = max(head(conn), last)
        wanted = conn.execute(
            select(
                subscriptions.c.id,
                subscriptions.c.event_types,
                subscriptions.c.companies,
                subscriptions.c.start_tx,
                subscriptions.c.start_position,
            )
            .where(subscriptions.c.enabled.is_(True))
            .order_by(subscriptions.c.id)
        ).all()
        if not wanted:
            # Nobody listens: skip to the head rather than read every event in batches.
            save_checkpoint(conn, DISPATCHER_CHECKPOINT, skip_to)
            return 0
        now = clock()
        rows: list[dict[str, Any]] = [
            delivery_values(sub.id, event, now)
            for event in found
            for sub in wanted
            if LogCursor(event.tx, event.position) > LogCursor(sub.start_tx, sub.start_position)
            and matches(sub.event_types, sub.companies, event.type, company_of(event))
        ]
        if rows:
            conn.execute(insert(deliveries), rows)
        save_checkpoint(conn, DISPATCHER_CHECKPOINT, last)
    log.debug(
        "webhook deliveries dispatched",
        extra={"deliveries": len(rows), "position": last.position},
    )
    return len(rows)
