"""Reading the log: one stream, events by id, and the whole log gap-free.

Why not simply `WHERE position > :last ORDER BY position`? On PostgreSQL a position is
taken from a sequence when a transaction inserts, but becomes visible when it commits.
A reader may see position 11 (committed) while 10 is still in flight; after reading
past 11 it would never see 10. That is the classic outbox/projection bug.

Tracker stamps each event with its writing transaction's id (`pg_current_xact_id()`)
and reads in (tx_id, position) order, only below the oldest transaction still open in
this database (`safe_horizon`): every transaction with a lower id has committed or
aborted, so nothing can appear later below the cursor. Writers take no shared lock at
all; the cost is that a reader waits for the oldest open writing transaction of this
database (a projection rebuild included). Sources:
- PostgreSQL docs, "Transaction ID and Snapshot Information Functions" (9.27.x):
  https://www.postgresql.org/docs/current/functions-info.html
- Oskar Dudycz, "How to get all messages through Postgres logical replication" and
  "Ordering in Postgres Outbox": https://event-driven.io/en/ordering_in_postgres_outbox/
- The eventsourcing library serialises writers with `LOCK TABLE ... IN EXCLUSIVE MODE`
  instead (eventsourcing/postgres.py); Marten waits out gaps with a high-water mark
  timeout. Both cost writers or readers more; see tests/benchmarks for the measurement.
SQLite has one writer at a time, so commit order is position order and tx_id is 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Select, func, literal, select, text, tuple_

from tracker.domain.dates import FuzzyDate
from tracker.domain.envelope import RecordedEvent
from tracker.store.schema import events

__all__ = [
    "EVENT_COLUMNS",
    "START",
    "LogCursor",
    "count_after",
    "cursor_for_position",
    "events_by_id",
    "head",
    "iterate_all",
    "read_all",
    "read_stream",
    "read_streams",
    "record_from_row",
    "safe_horizon",
    "stream_version",
]

EVENT_COLUMNS = (
    events.c.position,
    events.c.id,
    events.c.stream,
    events.c.version,
    events.c.type,
    events.c.occurred_on,
    events.c.occurred_precision,
    events.c.recorded_at,
    events.c.data,
    events.c.sources,
    events.c.event_metadata,
    events.c.tx_id,
)


@dataclass(frozen=True, order=True)
class LogCursor:
    """A place in the log: everything at or before (tx, position) has been read."""

    tx: int
    position: int


START = LogCursor(-1, 0)


def record_from_row(row: Sequence[Any]) -> RecordedEvent:
    (
        position,
        event_id,
        stream,
        version,
        type_,
        occurred_on,
        precision,
        recorded_at,
        data,
        sources,
        meta,
        tx,
    ) = row
    if recorded_at.tzinfo is None:  # SQLite keeps no offset; we only ever write UTC
        recorded_at = recorded_at.replace(tzinfo=UTC)
    return RecordedEvent(
        id=event_id,
        type=type_,
        stream=stream,
        version=version,
        position=position,
        occurred_on=FuzzyDate.of(occurred_on, precision),
        recorded_at=recorded_at,
        data=data,
        sources=sources,
        metadata=meta,
        tx=tx,
    )


# Live state, read in a statement of its own *before* the statement that reads events:
# in READ COMMITTED that one takes a later snapshot, in which every transaction found
# finished here is finished too. pg_stat_activity.backend_xid is the 32-bit xid of each
# backend's open transaction, read from its PGPROC entry (no statistics delay).
_OPEN_WRITERS = text(
    "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid,"
    " ARRAY(SELECT backend_xid::text::bigint FROM pg_stat_activity"
    "       WHERE datname = current_database() AND backend_xid IS NOT NULL"
    "       UNION ALL SELECT transaction::text::bigint FROM pg_prepared_xacts"
    "       WHERE database = current_database()) AS open_xids"
)


def safe_horizon(conn: Connection) -> int:
    """The 64-bit transaction id below which every writer of *this* database has finished.

    Not `pg_snapshot_xmin(pg_current_snapshot())`: that counts open transactions of every
    database on the server, so one long transaction elsewhere would stall every reader.
    """
    row = conn.execute(_OPEN_WRITERS).one()
    next_xid, open_xids = int(row.next_xid), [int(x) for x in row.open_xids]
    epoch_base, next_low = next_xid - (next_xid & 0xFFFFFFFF), next_xid & 0xFFFFFFFF
    # A 32-bit xid above the next one's low bits belongs to the previous epoch.
    full = [epoch_base + x if x <= next_low else epoch_base - (1 << 32) + x for x in open_xids]
    return min(full, default=next_xid)


def _log_query(conn: Connection, after: LogCursor) -> Select[Any]:
    query = select(*EVENT_COLUMNS).where(
        tuple_(events.c.tx_id, events.c.position)
        > tuple_(literal(after.tx), literal(after.position))
    )
    if conn.dialect.name == "postgresql":
        query = query.where(events.c.tx_id < safe_horizon(conn))
    return query


def read_all(
    conn: Connection,
    after: LogCursor = START,
    limit: int = 1000,
    *,
    types: Sequence[str] | None = None,
    streams: Sequence[str] | None = None,
) -> list[RecordedEvent]:
    """Up to `limit` events after `after`, in log order, never skipping one that commits
    late. Filters narrow the page; the last event's cursor continues the walk."""
    query = _log_query(conn, after)
    if types:
        query = query.where(events.c.type.in_(list(types)))
    if streams:
        query = query.where(events.c.stream.in_(list(streams)))
    query = query.order_by(events.c.tx_id, events.c.position).limit(limit)
    return [record_from_row(row) for row in conn.execute(query)]


def iterate_all(
    conn: Connection, after: LogCursor = START, page: int = 5000
) -> Iterator[RecordedEvent]:
    while True:
        batch = read_all(conn, after, page)
        yield from batch
        if len(batch) < page:
            return
        after = LogCursor(batch[-1].tx, batch[-1].position)


def head(conn: Connection) -> LogCursor:
    """The last safely readable place in the log (START when the log is empty)."""
    query = (
        _log_query(conn, START).order_by(events.c.tx_id.desc(), events.c.position.desc()).limit(1)
    )
    row = conn.execute(query).first()
    return LogCursor(row.tx_id, row.position) if row else START


def count_after(conn: Connection, after: LogCursor, cap: int = 10_000) -> int:
    """How many readable events lie after `after`, counted up to `cap` (health checks and
    metrics call this on every scrape: a lag of "10,000 or more" is all they need)."""
    inner = _log_query(conn, after).with_only_columns(events.c.position).limit(cap).subquery()
    return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def cursor_for_position(conn: Connection, position: int) -> LogCursor:
    """The cursor of a position a client got from us (`after=` in REST)."""
    if position <= 0:
        return START
    tx = conn.execute(select(events.c.tx_id).where(events.c.position == position)).scalar()
    if tx is None:
        # Not an event (a hole left by a rollback): resume after the last event below it.
        tx = conn.execute(
            select(func.max(events.c.tx_id)).where(events.c.position < position)
        ).scalar()
    return LogCursor(int(tx) if tx is not None else -1, position)


def read_stream(conn: Connection, stream: str, *, after_version: int = 0) -> list[RecordedEvent]:
    query = (
        select(*EVENT_COLUMNS)
        .where(events.c.stream == stream, events.c.version > after_version)
        .order_by(events.c.version)
    )
    return [record_from_row(row) for row in conn.execute(query)]


def read_streams(conn: Connection, names: Sequence[str]) -> dict[str, list[RecordedEvent]]:
    """Several whole streams in one query, each in version order."""
    found: dict[str, list[RecordedEvent]] = {name: [] for name in names}
    for start in range(0, len(names), 500):
        query = (
            select(*EVENT_COLUMNS)
            .where(events.c.stream.in_(list(names[start : start + 500])))
            .order_by(events.c.stream, events.c.version)
        )
        for row in conn.execute(query):
            found[row.stream].append(record_from_row(row))
    return found


def stream_version(conn: Connection, stream: str) -> int:
    version = conn.execute(
        select(func.max(events.c.version)).where(events.c.stream == stream)
    ).scalar()
    return int(version or 0)


def events_by_id(conn: Connection, ids: Sequence[str | UUID]) -> list[RecordedEvent]:
    """The stored events with these ids, in the order asked."""
    wanted = [UUID(str(event_id)) for event_id in ids]
    if not wanted:
        return []
    rows = conn.execute(select(*EVENT_COLUMNS).where(events.c.id.in_(wanted)))
    by_id = {record.id: record for record in map(record_from_row, rows)}
    return [by_id[event_id] for event_id in wanted if event_id in by_id]
