"""Rebuilding read models from position 0, in one transaction.

Readers keep seeing the old rows until the new ones commit (MVCC on PostgreSQL, WAL
snapshots on SQLite), so nobody ever reads a half-built model, and no shadow tables are
needed. The log is read stream by stream (keyset pages over the unique (stream,
version) index), so each company is folded once: O(events), whatever the interleaving.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, or_, select, text, tuple_

from tracker.db import write_transaction
from tracker.domain.envelope import RecordedEvent
from tracker.projections.company_state import fold_company
from tracker.projections.read_models import PROJECTIONS, Projection, projection_named
from tracker.projections.runner import save_checkpoint
from tracker.store.reading import (
    EVENT_COLUMNS,
    START,
    LogCursor,
    count_after,
    head,
    record_from_row,
)
from tracker.store.schema import events

__all__ = ["rebuild"]

Progress = Callable[[int, int], None]
_PAGE = 5000
_FLUSH = 500


def _streams(conn: Connection, upto: LogCursor) -> Iterator[list[RecordedEvent]]:
    """Every company stream up to `upto`, whole, one at a time."""
    last: tuple[str, int] = ("", 0)
    current: list[RecordedEvent] = []
    while True:
        query = (
            select(*EVENT_COLUMNS)
            .where(
                or_(
                    events.c.stream > last[0],
                    and_(events.c.stream == last[0], events.c.version > last[1]),
                ),
                tuple_(events.c.tx_id, events.c.position) <= tuple_(upto.tx, upto.position),
            )
            .order_by(events.c.stream, events.c.version)
            .limit(_PAGE)
        )
        rows = conn.execute(query).all()
        for row in rows:
            event = record_from_row(row)
            if current and current[0].stream != event.stream:
                yield current
                current = []
            current.append(event)
        if len(rows) < _PAGE:
            break
        last = (rows[-1].stream, rows[-1].version)
    if current:
        yield current


def _lock(conn: Connection, projections: Sequence[Projection]) -> None:
    if conn.dialect.name == "postgresql":
        for projection in projections:
            key = zlib.crc32(f"tracker.projection.{projection.name}".encode())
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def rebuild(engine: Engine, names: Sequence[str] = (), progress: Progress | None = None) -> int:
    """Replay the whole log into the named projections (all when none are named)."""
    projections = [projection_named(name) for name in names] or list(PROJECTIONS)
    done = 0
    with write_transaction(engine) as conn:
        _lock(conn, projections)
        upto = head(conn)
        total = count_after(conn, START, cap=1 << 62)
        for projection in projections:
            for table in projection.tables:
                conn.execute(delete(table))
        pending: dict[str, dict[str, Any] | None] = {}
        for stream in _streams(conn, upto):
            state = fold_company(stream) if stream[0].stream.startswith("company-") else None
            pending[stream[0].company] = state.to_json() if state else None
            done += len(stream)
            if len(pending) >= _FLUSH:
                _flush(conn, projections, pending)
                if progress:
                    progress(done, total)
        _flush(conn, projections, pending)
        for projection in projections:
            save_checkpoint(conn, projection.name, upto)
        if progress:
            progress(done, total)
    return done


def _flush(
    conn: Connection, projections: Sequence[Projection], pending: dict[str, dict[str, Any] | None]
) -> None:
    for projection in projections:
        projection.insert(conn, pending)
    pending.clear()
