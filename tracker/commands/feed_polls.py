"""What pollers do to feed rows: claim feeds to poll, then record what each poll found.

Claims follow the outbox shape (python-event-sourcery, `outbox.py`): on PostgreSQL
`FOR UPDATE SKIP LOCKED`, so workers sharing the table each take different due rows
without waiting on one another; then a lease (`claimed_until`), so a worker that dies
mid-poll holds a feed only until the lease runs out (DESIGN.md §3, scale-out).

Every `record_*` releases the claim, and lands only while the claim is still the
recorder's own: a worker whose lease ran out and was taken over must not overwrite the
newer poll. The error counter resets on success, as miniflux does (internal/model/feed.go).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, and_, or_, select, update

from tracker.commands.feeds import (
    DISABLED,
    ERROR,
    GONE_REASON,
    OK,
    FeedBusy,
    FeedStatus,
    PollCounts,
    as_utc,
    feed_status,
    feeds,
    lock_feed,
)
from tracker.db import write_transaction

__all__ = [
    "claim_due_feeds",
    "claim_feed",
    "record_failure",
    "record_gone",
    "record_not_modified",
    "record_success",
    "release_claims",
]

log = logging.getLogger(__name__)
_MAX_ERROR_CHARS: Final = 2000


def claim_due_feeds(
    engine: Engine, worker_id: str, now: datetime, lease: timedelta, limit: int
) -> list[FeedStatus]:
    """Take up to `limit` due feeds for `worker_id` until `now + lease`, earliest due first.

    PostgreSQL: SKIP LOCKED passes over rows another worker is claiming this instant,
    and READ COMMITTED re-checks the WHERE on rows it does lock, so a feed claimed a
    moment ago is no longer due. SQLite: the transaction begins IMMEDIATE, so claims
    run one at a time and FOR UPDATE (which SQLite lacks) is left out by SQLAlchemy.
    """
    now = as_utc(now)
    due = and_(
        feeds.c.enabled.is_(True),
        feeds.c.status != DISABLED,
        feeds.c.next_poll_at <= now,
        or_(feeds.c.claimed_until.is_(None), feeds.c.claimed_until < now),
    )
    with write_transaction(engine) as conn:
        names = list(
            conn.execute(
                select(feeds.c.name)
                .where(due)
                .order_by(feeds.c.next_poll_at, feeds.c.name)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not names:
            return []
        conn.execute(
            update(feeds)
            .where(feeds.c.name.in_(names))
            .values(claimed_by=worker_id, claimed_until=now + lease)
        )
        rows = conn.execute(select(feeds).where(feeds.c.name.in_(names)))
        claimed = {row.name: feed_status(row) for row in rows}
    return [claimed[name] for name in names]


def claim_feed(
    engine: Engine, name: str, worker_id: str, now: datetime, lease: timedelta
) -> FeedStatus:
    """Take one feed for a poll on request, due or not (a registry-disabled feed too).

    Refused for a feed disabled by 410 (`FeedDisabled`) and for one another worker is
    polling right now (`FeedBusy`): two polls of one feed at once would race.
    """
    now = as_utc(now)
    with write_transaction(engine) as conn:
        feed = lock_feed(conn, name)
        held = feed.claimed_until is not None and feed.claimed_until >= now
        if held and feed.claimed_by != worker_id:
            raise FeedBusy(f"feed {name} is being polled by {feed.claimed_by}; try again shortly")
        conn.execute(
            update(feeds)
            .where(feeds.c.name == name)
            .values(claimed_by=worker_id, claimed_until=now + lease)
        )
        return feed_status(conn.execute(select(feeds).where(feeds.c.name == name)).one())


def _record(
    engine: Engine,
    name: str,
    worker_id: str,
    now: datetime,
    values: dict[str, Any],
    counts: PollCounts,
) -> bool:
    """Store one poll's result and release the claim; False if the claim was lost."""
    now = as_utc(now)
    with write_transaction(engine) as conn:
        row = conn.execute(
            select(feeds.c.totals)
            .where(feeds.c.name == name, feeds.c.claimed_by == worker_id)
            .with_for_update()
        ).first()
        if row is None:
            log.warning(
                "feed claim lost; result dropped", extra={"feed": name, "worker": worker_id}
            )
            return False
        conn.execute(
            update(feeds)
            .where(feeds.c.name == name)
            .values(
                **values,
                last_polled_at=now,
                poll_count=feeds.c.poll_count + 1,
                last_counts=counts.to_json(),
                totals=(PollCounts.from_json(row.totals) + counts).to_json(),
                claimed_by=None,
                claimed_until=None,
                updated_at=now,
            )
        )
    return True


def record_success(
    engine: Engine,
    name: str,
    *,
    worker_id: str,
    now: datetime,
    next_poll_at: datetime,
    counts: PollCounts,
    etag: str | None,
    last_modified: str | None,
    note: str | None = None,
) -> bool:
    """A body fetched and ingested. `note` says why items were rejected, if any were."""
    values = {
        "status": OK,
        "error_count": 0,
        "last_error": _clip(note),
        "etag": etag,
        "last_modified": last_modified,
        "next_poll_at": as_utc(next_poll_at),
    }
    return _record(engine, name, worker_id, now, values, counts)


def record_not_modified(
    engine: Engine,
    name: str,
    *,
    worker_id: str,
    now: datetime,
    next_poll_at: datetime,
    etag: str | None,
    last_modified: str | None,
) -> bool:
    """A 304 (RFC 9110 §15.4.5): nothing new, and the feed is healthy."""
    values = {
        "status": OK,
        "error_count": 0,
        "last_error": None,
        "etag": etag,
        "last_modified": last_modified,
        "next_poll_at": as_utc(next_poll_at),
    }
    return _record(engine, name, worker_id, now, values, PollCounts())


def record_failure(
    engine: Engine,
    name: str,
    *,
    worker_id: str,
    now: datetime,
    next_poll_at: datetime,
    error: str,
    counts: PollCounts | None = None,
) -> bool:
    """A poll that failed; the validators are kept, `next_poll_at` is the backoff.

    `counts` are of items that landed before the failure (e.g. a later page failed).
    """
    values = {
        "status": ERROR,
        "error_count": feeds.c.error_count + 1,
        "last_error": _clip(error),
        "next_poll_at": as_utc(next_poll_at),
    }
    return _record(engine, name, worker_id, now, values, counts or PollCounts())


def record_gone(engine: Engine, name: str, *, worker_id: str, now: datetime) -> bool:
    """A 410 (RFC 9110 §15.5.11): the feed is gone for good; poll it no more."""
    values = {
        "status": DISABLED,
        "disabled_reason": GONE_REASON,
        "last_error": "HTTP 410 Gone: the server says the feed is gone for good; "
        "re-enable it if it comes back",
    }
    return _record(engine, name, worker_id, now, values, PollCounts())


def release_claims(engine: Engine, worker_id: str, names: Iterable[str]) -> None:
    """Hand back claimed feeds unpolled (a worker shutting down), due as they were."""
    names = list(names)
    if not names:
        return
    with write_transaction(engine) as conn:
        conn.execute(
            update(feeds)
            .where(feeds.c.name.in_(names), feeds.c.claimed_by == worker_id)
            .values(claimed_by=None, claimed_until=None)
        )


def _clip(message: str | None) -> str | None:
    if message is None or len(message) <= _MAX_ERROR_CHARS:
        return message
    return message[: _MAX_ERROR_CHARS - 1] + "…"
