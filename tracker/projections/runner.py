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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from tracker.db import write_transaction
from tracker.projections.company_state import fold_company
from tracker.projections.read_models import PROJECTIONS, Projection
from tracker.projections.tables import checkpoints
from tracker.store.reading import START, LogCursor, count_after, head, read_all, read_streams

__all__ = ["BATCH", "catch_up", "catch_up_to", "lag", "load_checkpoint", "run_once"]

log = logging.getLogger(__name__)
BATCH = 5000
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


def _step(engine: Engine, projections: Sequence[Projection], fault: Fault | None) -> int:
    """Apply one batch to every projection this runner holds; events applied, summed.

    The projections share the batch: each company it touches is read and folded once,
    and each projection replaces that company's rows only if the batch holds events past
    its own checkpoint (they differ after a rebuild of one of them).
    """
    with write_transaction(engine) as conn:
        mine = [p for p in projections if _try_lock(conn, p.name)]
        if not mine:
            return 0
        cursors = {p.name: load_checkpoint(conn, p.name) for p in mine}
        batch = read_all(conn, min(cursors.values()), BATCH)
        if not batch:
            return 0
        touched: dict[str, set[str]] = {}
        for projection in mine:
            after = cursors[projection.name]
            touched[projection.name] = {
                e.company
                for e in batch
                if e.stream.startswith("company-") and LogCursor(e.tx, e.position) > after
            }
        states = fold_states(conn, sorted(set().union(*touched.values())))
        for projection in mine:
            projection.replace(conn, {c: states[c] for c in sorted(touched[projection.name])})
        if fault:
            fault(",".join(p.name for p in mine))  # tests crash between rows and checkpoint
        end = LogCursor(batch[-1].tx, batch[-1].position)
        for projection in mine:
            save_checkpoint(conn, projection.name, end)
    log.debug("projections advanced", extra={"position": end.position})
    return sum(sum(1 for e in batch if LogCursor(e.tx, e.position) > cursors[p.name]) for p in mine)


def run_once(engine: Engine, *, fault: Fault | None = None) -> int:
    """Bring every projection up to the log head; returns events applied (summed over
    projections)."""
    held = [p for p in PROJECTIONS if _local_locks[p.name].acquire(blocking=False)]
    applied = 0
    try:
        while held and (step := _step(engine, held, fault)):
            applied += step
    finally:
        for projection in held:
            _local_locks[projection.name].release()
    return applied


def lag(conn: Connection) -> dict[str, int]:
    """Events each projection still has to apply."""
    return {p.name: count_after(conn, load_checkpoint(conn, p.name)) for p in PROJECTIONS}


def _projected(engine: Engine, target: LogCursor) -> bool:
    with engine.connect() as conn:
        return all(load_checkpoint(conn, p.name) >= target for p in PROJECTIONS)


def catch_up_to(engine: Engine, target: LogCursor, timeout: float = 10.0) -> bool:
    """Run the projections until every checkpoint has passed `target`; False after
    `timeout`. Where another runner holds a projection, this waits for its checkpoint,
    and where an older writer still holds the readable horizon back, for that writer."""
    deadline = time.monotonic() + timeout
    while not _projected(engine, target):
        if time.monotonic() > deadline:
            log.warning("projections did not catch up in time", extra={"position": target.position})
            return False
        if not run_once(engine):
            time.sleep(0.02)
    return True


def catch_up(engine: Engine) -> None:
    """Read-your-writes: after a write commits, apply the log up to its head before the
    write returns (a REST write targets its own events with `catch_up_to`)."""
    with engine.connect() as conn:
        target = head(conn)
    catch_up_to(engine, target)
