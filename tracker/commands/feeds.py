"""Feeds as rows: the registry mirrored into the `feeds` table, and what operators do.

The registry file says which feeds exist; `sync_registry` mirrors it into the table
(migration 0005) and keeps each feed's polling state (validators, counts, errors, the
410 state). `list_feeds` and `get_feed` are what `GET /v1/feeds` and `tracker feeds list`
show; `request_poll` and `reenable_feed` are operator actions. What a poll records, and
how workers claim feeds, lives in `feed_polls`.

Commands never import `tracker.feeds` (DESIGN.md §4): registry entries come in as any
object with the attributes of `FeedDefinition`, such as `tracker.feeds.registry.FeedConfig`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from tracker.db import is_postgres, read_connection, write_transaction
from tracker.domain.errors import NotFound, TrackerError

__all__ = [
    "DISABLED",
    "ERROR",
    "GONE_REASON",
    "OK",
    "FeedBusy",
    "FeedDefinition",
    "FeedDisabled",
    "FeedStatus",
    "PollCounts",
    "SyncReport",
    "as_utc",
    "feed_status",
    "feeds",
    "get_feed",
    "list_feeds",
    "lock_feed",
    "reenable_feed",
    "request_poll",
    "sync_registry",
]

OK: Final = "ok"
ERROR: Final = "error"
DISABLED: Final = "disabled"
GONE_REASON: Final = "410 Gone"

metadata = MetaData()
_Json = JSON().with_variant(JSONB(), "postgresql")

# Mirrors migrations/versions/0005_feeds.py.
feeds = Table(
    "feeds",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("adapter", String(32), nullable=False),
    Column("url", Text, nullable=False),
    Column("interval_seconds", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("options", _Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("disabled_reason", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_polled_at", DateTime(timezone=True)),
    Column("next_poll_at", DateTime(timezone=True), nullable=False),
    Column("error_count", Integer, nullable=False),
    Column("last_error", Text),
    Column("poll_count", Integer, nullable=False),
    Column("last_counts", _Json),
    Column("totals", _Json, nullable=False),
    Column("claimed_by", String(200)),
    Column("claimed_until", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class FeedDisabled(TrackerError):
    """A feed disabled by its server (410 Gone) is not polled, not even on request."""


class FeedBusy(TrackerError):
    """Another worker is polling this feed right now."""


class FeedDefinition(Protocol):
    """A registry entry, as `tracker.feeds.registry.FeedConfig` holds it."""

    @property
    def name(self) -> str: ...
    @property
    def adapter(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def interval(self) -> timedelta: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def options(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class PollCounts:
    """Feed items of one poll (or of all polls) by what became of them."""

    new: int = 0
    duplicate: int = 0
    rejected: int = 0

    def __add__(self, other: PollCounts) -> PollCounts:
        return PollCounts(
            self.new + other.new, self.duplicate + other.duplicate, self.rejected + other.rejected
        )

    def to_json(self) -> dict[str, int]:
        return {"new": self.new, "duplicate": self.duplicate, "rejected": self.rejected}

    @classmethod
    def from_json(cls, value: Any) -> PollCounts:
        if not isinstance(value, dict):
            return cls()
        return cls(*(int(value.get(name) or 0) for name in ("new", "duplicate", "rejected")))

    def summary(self) -> str:
        """`new 3, duplicate 37, rejected 0`: the same words as `tracker ingest`."""
        return f"new {self.new}, duplicate {self.duplicate}, rejected {self.rejected}"


@dataclass(frozen=True)
class FeedStatus:
    """One feed's row: its registry entry and how its polls went."""

    name: str
    adapter: str
    url: str
    interval: timedelta
    enabled: bool
    options: dict[str, Any]
    status: str
    disabled_reason: str | None
    etag: str | None
    last_modified: str | None
    last_polled_at: datetime | None
    next_poll_at: datetime
    error_count: int
    last_error: str | None
    poll_count: int
    counts: PollCounts | None
    totals: PollCounts
    claimed_by: str | None
    claimed_until: datetime | None


@dataclass(frozen=True)
class SyncReport:
    added: list[str]
    changed: list[str]
    retired: list[str]


def as_utc(moment: datetime) -> datetime:
    # SQLite keeps no zone: SQLAlchemy writes the wall-clock digits of whatever it gets.
    # Every time is therefore stored as UTC, and a zone-less one read back means UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _maybe_utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None


def feed_status(row: Row[Any]) -> FeedStatus:
    return FeedStatus(
        name=row.name,
        adapter=row.adapter,
        url=row.url,
        interval=timedelta(seconds=row.interval_seconds),
        enabled=bool(row.enabled),
        options=dict(row.options or {}),
        status=row.status,
        disabled_reason=row.disabled_reason,
        etag=row.etag,
        last_modified=row.last_modified,
        last_polled_at=_maybe_utc(row.last_polled_at),
        next_poll_at=as_utc(row.next_poll_at),
        error_count=row.error_count,
        last_error=row.last_error,
        poll_count=row.poll_count,
        counts=PollCounts.from_json(row.last_counts) if row.last_counts is not None else None,
        totals=PollCounts.from_json(row.totals),
        claimed_by=row.claimed_by,
        claimed_until=_maybe_utc(row.claimed_until),
    )


def _serialise(conn: Connection, name: str) -> None:
    """On PostgreSQL, one registry sync at a time: processes starting together would
    otherwise insert the same new feed twice. SQLite's BEGIN IMMEDIATE already does it."""
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(name.encode())})


def sync_registry(
    engine: Engine, definitions: Iterable[FeedDefinition], now: datetime
) -> SyncReport:
    """Mirror the registry into the table, keeping every feed's polling state.

    A new feed is due at once. A feed whose URL changed forgets its validators (they
    belong to the old URL); one whose interval shrank is due that much sooner. A feed
    missing from the registry is kept, with its history, but no longer enabled.
    """
    now = as_utc(now)
    report = SyncReport([], [], [])
    with write_transaction(engine) as conn:
        _serialise(conn, "tracker.feeds.sync")
        stored = {row.name: row for row in conn.execute(select(feeds))}
        listed: set[str] = set()
        for entry in definitions:
            listed.add(entry.name)
            registry = {
                "adapter": entry.adapter,
                "url": entry.url,
                "interval_seconds": max(1, int(entry.interval.total_seconds())),
                "enabled": entry.enabled,
                "options": dict(entry.options),
            }
            old = stored.get(entry.name)
            if old is None:
                conn.execute(feeds.insert().values(name=entry.name, **registry, **_fresh(now)))
                report.added.append(entry.name)
            elif any(getattr(old, column) != value for column, value in registry.items()):
                values = {**registry, "updated_at": now}
                if old.url != entry.url:
                    values.update(etag=None, last_modified=None)
                shorter = registry["interval_seconds"] < old.interval_seconds
                if shorter and old.last_polled_at is not None and old.status == OK:
                    # A shorter interval applies from the last poll, not after the old wait.
                    sooner = as_utc(old.last_polled_at) + entry.interval
                    values["next_poll_at"] = min(as_utc(old.next_poll_at), sooner)
                conn.execute(update(feeds).where(feeds.c.name == entry.name).values(values))
                report.changed.append(entry.name)
        for name, old in stored.items():
            if name not in listed and old.enabled:
                conn.execute(
                    update(feeds).where(feeds.c.name == name).values(enabled=False, updated_at=now)
                )
                report.retired.append(name)
    return report


def _fresh(now: datetime) -> dict[str, Any]:
    return {
        "status": OK,
        "next_poll_at": now,
        "error_count": 0,
        "poll_count": 0,
        "totals": PollCounts().to_json(),
        "updated_at": now,
    }


def list_feeds(engine: Engine) -> list[FeedStatus]:
    with read_connection(engine) as conn:
        return [feed_status(row) for row in conn.execute(select(feeds).order_by(feeds.c.name))]


def get_feed(engine: Engine, name: str) -> FeedStatus:
    with read_connection(engine) as conn:
        row = conn.execute(select(feeds).where(feeds.c.name == name)).first()
    if row is None:
        raise NotFound(f"no feed named {name!r}")
    return feed_status(row)


def lock_feed(conn: Connection, name: str) -> FeedStatus:
    """The feed's row, locked for this transaction; refused if unknown or gone (410)."""
    row = conn.execute(select(feeds).where(feeds.c.name == name).with_for_update()).first()
    if row is None:
        raise NotFound(f"no feed named {name!r}")
    status = feed_status(row)
    if status.status == DISABLED:
        reason = status.disabled_reason or GONE_REASON
        raise FeedDisabled(f"feed {name} is disabled ({reason}); re-enable it first")
    return status


def request_poll(engine: Engine, name: str, now: datetime) -> FeedStatus:
    """Make the feed due now; the next scheduler round polls it."""
    with write_transaction(engine) as conn:
        lock_feed(conn, name)
        conn.execute(update(feeds).where(feeds.c.name == name).values(next_poll_at=as_utc(now)))
        return feed_status(conn.execute(select(feeds).where(feeds.c.name == name)).one())


def reenable_feed(engine: Engine, name: str, now: datetime) -> FeedStatus:
    """Lift a 410's disabling: the feed is due at once, with no errors and no validators.

    The registry's `enabled` is the operator's file and is not touched here.
    """
    with write_transaction(engine) as conn:
        if conn.execute(select(feeds.c.name).where(feeds.c.name == name)).first() is None:
            raise NotFound(f"no feed named {name!r}")
        conn.execute(
            update(feeds)
            .where(feeds.c.name == name, feeds.c.status == DISABLED)
            .values(
                status=OK,
                disabled_reason=None,
                error_count=0,
                last_error=None,
                etag=None,
                last_modified=None,
                next_poll_at=as_utc(now),
                updated_at=as_utc(now),
            )
        )
        return feed_status(conn.execute(select(feeds).where(feeds.c.name == name)).one())
