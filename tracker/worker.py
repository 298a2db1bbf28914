"""The background worker: projections, feed polls, webhook dispatch and delivery.

A composition root like cli.py and api/app.py: it wires the edges together. `tracker
worker` runs it alone; `tracker serve` runs it beside the API unless `--no-worker`.
Stopping (SIGTERM) stops taking new work, lets in-flight polls and deliveries finish
or their leases lapse, and returns within the grace period.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from tracker.db import write_transaction
from tracker.feeds.scheduler import FeedPolling
from tracker.projections.loop import ProjectionWorker
from tracker.settings import Settings
from tracker.store.appending import utc_now
from tracker.store.heartbeats import forget_worker, record_heartbeat
from tracker.webhooks.worker import start_webhook_worker

__all__ = ["background_worker", "new_worker_id"]

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10.0


class Stoppable(Protocol):
    def stop(self, *, timeout: float = ...) -> None: ...


def new_worker_id() -> str:
    return f"worker-{uuid.uuid4().hex[:8]}"


class _Heartbeat:
    def __init__(self, engine: Engine, worker_id: str, state: Callable[[], dict[str, Any]]) -> None:
        self.engine, self.worker_id, self.state = engine, worker_id, state
        self.started_at: datetime = utc_now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with write_transaction(self.engine) as conn:
                    record_heartbeat(conn, self.worker_id, self.started_at, self.state())
            except Exception:  # the database may be away; the next beat retries
                log.warning("heartbeat failed", exc_info=True)
            self._stop.wait(HEARTBEAT_SECONDS)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        try:
            with write_transaction(self.engine) as conn:
                forget_worker(conn, self.worker_id)
        except Exception:
            log.warning("could not remove heartbeat", exc_info=True)


def _start_parts(engine: Engine, settings: Settings, worker_id: str) -> list[Stoppable]:
    parts: list[Stoppable] = []
    projections = ProjectionWorker(engine, settings.worker_poll_seconds)
    projections.start()
    parts.append(projections)
    parts.extend(_start_edges(engine, settings, worker_id))
    return parts


def _start_edges(engine: Engine, settings: Settings, worker_id: str) -> list[Stoppable]:
    """Feed polling and webhook delivery, wired here so the edges never meet."""
    feeds = FeedPolling(engine, settings, worker_id)
    webhooks = start_webhook_worker(engine, settings, worker_id=worker_id)
    return [feeds, webhooks]


@contextmanager
def background_worker(engine: Engine, settings: Settings) -> Iterator[str]:
    worker_id = new_worker_id()
    parts = _start_parts(engine, settings, worker_id)
    heartbeat = _Heartbeat(engine, worker_id, lambda: {"parts": [type(p).__name__ for p in parts]})
    heartbeat.start()
    log.info("worker started", extra={"worker": worker_id})
    try:
        yield worker_id
    finally:
        log.info("worker stopping", extra={"worker": worker_id})
        for part in reversed(parts):
            part.stop(timeout=25.0)
        heartbeat.stop()
        log.info("worker stopped", extra={"worker": worker_id})
