"""Read-your-writes for REST writes: return only once the read models show the write.

`runner.catch_up` waits for the log head, but on PostgreSQL the head it can see stops
below the oldest transaction still writing anywhere in the cluster (transaction ids are
cluster-wide; see store/reading.py), so a write can return before it is projected
while another database's writer is busy. Waiting for the written events' own place in
the log closes that gap; the wait ends once every older writer has finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from sqlalchemy import Engine

from tracker.db import read_connection
from tracker.domain.envelope import RecordedEvent
from tracker.projections.read_models import PROJECTIONS
from tracker.projections.runner import load_checkpoint, run_once
from tracker.store.reading import LogCursor

__all__ = ["until_applied", "until_projected"]

log = logging.getLogger(__name__)


def until_projected(engine: Engine, events: Sequence[RecordedEvent], timeout: float = 10.0) -> bool:
    """Run the projections until they have applied `events`; False after `timeout`."""
    if not events:
        return True
    target = max(LogCursor(event.tx, event.position) for event in events)
    return until_applied(engine, target, timeout)


def until_applied(engine: Engine, target: LogCursor, timeout: float = 10.0) -> bool:
    """Run the projections until every checkpoint has reached `target`."""
    deadline = time.monotonic() + timeout
    while not _projected(engine, target):
        if time.monotonic() > deadline:
            log.warning("write not projected in time", extra={"position": target.position})
            return False
        if not run_once(engine):
            time.sleep(0.02)  # an older writer still holds the horizon back
    return True


def _projected(engine: Engine, target: LogCursor) -> bool:
    with read_connection(engine) as conn:
        return all(load_checkpoint(conn, p.name) >= target for p in PROJECTIONS)
