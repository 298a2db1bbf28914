"""The projection runner: follows the gap-free log and keeps each read model current.

Per batch and projection, one transaction: replace the rows of every company the batch
touched, then move the checkpoint. Both commit together or not at all, so a crash never
applies an event twice nor skips one. On PostgreSQL a transaction-scoped advisory lock
per projection elects one runner among all processes; the others skip that round (and
a writer waiting for read-your-writes waits for the checkpoint instead).

Companies are re-folded from their whole stream, not patched event by event: a stream
is short, and corrections and multi-report beliefs need the whole stream anyway.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from tracker.db import write_transaction
from tracker.projections.company_state import fold_company
from tracker.projections.read_models import PROJECTIONS, Projection
from tracker.projections.tables import checkpoints
from tracker.store.reading import START, LogCursor, count_after, head, read_all, read_streams

__all__ = ["BATCH", "catch_up", "lag", "load_checkpoint", "run_once", "wait_for"]

log = logging.getLogger(__name__)
BATCH = 2000
Fault = Callable[[str], None]
_local_locks = {p.name: threading.Lock() for p in PROJECTIONS}


def load_checkpoint(conn: Connection, name: str) -> LogCursor:
    row = conn.execute(
        select(checkpoints.c.tx_id, checkpoints.c.position).where(checkpoints.c.name == name)
    ).first()
    return LogCursor(row.tx_id, row.position) if row else START


def save_checkpoint(conn: Connection, name: str, cursor: LogCursor) -> None:
    now = datetime.now(UTC)
    updated = conn.execute(
        checkpoints.update()
        .where(checkpoints.c.name == name)
        .values(tx_id=cursor.tx, position=cursor.position, updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(
            checkpoints.insert().values(
                name=name, tx_id=cursor.tx, position=cursor.position, updated_at=now
            )
        )


def _try_lock(conn: Connection, name: str) -> bool:
    if conn.dialect.name != "postgresql":
        return True  # SQLite: one writer at a time, and the thread lock below
    key = zlib.crc32(f"tracker.projection.{name}".encode())
    return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar())


def fold_states(conn: Connection, companies: list[str]) -> dict[str, dict[str, Any] | None]:
    streams = read_streams(conn, [f"company-{c}" for c in companies])
    states: dict[str, dict[str, Any] | None] = {}
    for company in companies:
        state = fold_company(streams[f"company-{company}"])
        states[company] = state.to_json() if state else None
    return states


def _step(engine: Engine, projection: Projection, fault: Fault | None) -> int | None:
    """Apply one batch; the number of events applied, or None if another runner holds it."""
    with write_transaction(engine) as conn:
        if not _try_lock(conn, projection.name):
            return None
        cursor = load_checkpoint(conn, projection.name)
        batch = read_all(conn, cursor, BATCH)
        if not batch:
            return 0
        companies = sorted(
            {event.company for event in batch if event.stream.startswith("company-")}
        )
        projection.replace(conn, fold_states(conn, companies))
        if fault:
            fault(projection.name)  # tests inject a crash between rows and checkpoint
        save_checkpoint(conn, projection.name, LogCursor(batch[-1].tx, batch[-1].position))
    log.debug(
        "projection advanced", extra={"projection": projection.name, "position": batch[-1].position}
    )
    return len(batch)


def run_once(engine: Engine, *, fault: Fault | None = None) -> int:
    """Bring every projection up to the log head; returns events applied."""
    applied = 0
    for projection in PROJECTIONS:
        lock = _local_locks[projection.name]
        if not lock.acquire(blocking=False):
            continue
        try:
            while True:
                step = _step(engine, projection, fault)
                if not step:
                    break
                applied += step
        finally:
            lock.release()
    return applied


def lag(conn: Connection) -> dict[str, int]:
    """Events each projection still has to apply."""
    return {p.name: count_after(conn, load_checkpoint(conn, p.name)) for p in PROJECTIONS}


def wait_for(engine: Engine, target: LogCursor, timeout: float = 10.0) -> bool:
    """Wait until every projection's checkpoint has passed `target`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if all(load_checkpoint(conn, p.name) >= target for p in PROJECTIONS):
                return True
        time.sleep(0.02)
    return False


def catch_up(engine: Engine) -> None:
    """Read-your-writes: after a write commits, apply it before the write returns.

    If another runner holds a projection, wait (bounded) for its checkpoint instead.
    """
    with engine.connect() as conn:
        target = head(conn)
    run_once(engine)
    if not wait_for(engine, target, timeout=10.0):
        log.warning("projections did not catch up within 10s", extra={"position": target.position})
