"""Worker heartbeats: each worker says it is alive and what it runs; /health reads them."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    select,
)

from tracker.store.appending import utc_now

__all__ = ["Heartbeat", "forget_worker", "live_workers", "record_heartbeat", "worker_heartbeats"]

metadata = MetaData()
worker_heartbeats = Table(
    "worker_heartbeats",
    metadata,
    Column("worker_id", String(100), primary_key=True),
    Column("hostname", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("beat_at", DateTime(timezone=True), nullable=False),
    Column("state", JSON, nullable=False),
)


@dataclass(frozen=True)
class Heartbeat:
    worker_id: str
    hostname: str
    pid: int
    beat_at: datetime
    state: dict[str, Any]


def record_heartbeat(
    conn: Connection, worker_id: str, started_at: datetime, state: dict[str, Any]
) -> None:
    now = utc_now()
    values = {"beat_at": now, "state": state}
    if (
        conn.execute(
            worker_heartbeats.update()
            .where(worker_heartbeats.c.worker_id == worker_id)
            .values(**values)
        ).rowcount
        == 0
    ):
        conn.execute(
            worker_heartbeats.insert().values(
                worker_id=worker_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                started_at=started_at,
                **values,
            )
        )


def forget_worker(conn: Connection, worker_id: str) -> None:
    conn.execute(delete(worker_heartbeats).where(worker_heartbeats.c.worker_id == worker_id))


def live_workers(conn: Connection, within: timedelta = timedelta(seconds=60)) -> list[Heartbeat]:
    since = utc_now() - within
    rows = conn.execute(select(worker_heartbeats).order_by(worker_heartbeats.c.worker_id))
    beats = []
    for row in rows:
        beat_at = row.beat_at if row.beat_at.tzinfo else row.beat_at.replace(tzinfo=since.tzinfo)
        if beat_at >= since:
            beats.append(Heartbeat(row.worker_id, row.hostname, row.pid, beat_at, row.state))
    return beats
