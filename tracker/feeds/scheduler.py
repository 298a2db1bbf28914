"""The feed scheduler, and the feeds edge's wiring for the composition roots.

miniflux's shape (miniflux/v2, internal/cli/scheduler.go): a scheduler that only asks
"which feeds are due?" every few seconds, and a worker that claims and polls them
(`poller.poll_due`). Here the scheduler is one APScheduler 3 interval job with
`max_instances=1` and `coalesce=True`: a tick that comes while the last round still
polls is dropped, not queued, so a slow feed never piles rounds up behind it. Which
feed is due, and which worker polls it, lives in the database, so any number of
processes can run this scheduler side by side.

For `cli.py` and `api/app.py`:
- `sync_feed_registry`: the registry file (`TRACKER_FEEDS`) mirrored into the table;
- `start_feed_scheduler` / `stop_feed_scheduler`; the same as `FeedPolling`, a part
  of `tracker.worker` with `stop(timeout)`, or as `feed_worker`, a context manager (the
  shape of `create_app(start_worker=...)`);
- `manual_poller`: the callable behind `POST /v1/feeds/{name}/poll` (set it as
  `app.state.poll_feed_now`) and `tracker feeds poll NAME`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from tracker.commands.feeds import SyncReport, sync_registry
from tracker.feeds.fetcher import make_client
from tracker.feeds.poller import Clock, PollOutcome, poll_due, poll_feed_now
from tracker.feeds.registry import DEFAULT_REGISTRY, load_registry
from tracker.settings import Settings

__all__ = [
    "JOB_ID",
    "FeedPolling",
    "feed_worker",
    "manual_poller",
    "start_feed_scheduler",
    "stop_feed_scheduler",
    "sync_feed_registry",
    "worker_name",
]

log = logging.getLogger(__name__)

JOB_ID: Final = "feeds.poll_due"
# Where the scheduler keeps what stop_feed_scheduler needs: the job and the client.
_STATE: Final = "tracker_feeds"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def worker_name() -> str:
    """`host:pid:random`: tells an operator which process holds a claim, and never
    repeats, so a restarted process does not mistake its predecessor's claims for its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def sync_feed_registry(engine: Engine, settings: Settings, now: datetime) -> SyncReport:
    """Load `settings.feeds` and mirror it into the table. A missing default registry
    means no feeds; a registry named explicitly must exist (RegistryError)."""
    configs = load_registry(settings.feeds, missing_ok=settings.feeds == DEFAULT_REGISTRY)
    report = sync_registry(engine, configs, now)
    if report.added or report.changed or report.retired:
        log.info(
            "feed registry synced",
            extra={"added": report.added, "changed": report.changed, "retired": report.retired},
        )
    return report


class _Round:
    """The job: one `poll_due` round, and whether one is running (for a graceful stop)."""

    def __init__(
        self, engine: Engine, client: httpx.Client, worker_id: str, clock: Clock, max_bytes: int
    ) -> None:
        self.engine, self.client, self.worker_id, self.clock = engine, client, worker_id, clock
        self.max_bytes = max_bytes
        self.stopping = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        # Taken to start a round and to stop: a round either began before the stop (and
        # the stop waits for it) or sees the stop and does not begin.
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            if self.stopping.is_set():
                return
            self.idle.clear()
        try:
            poll_due(
                self.engine,
                self.client,
                self.worker_id,
                self.clock,
                max_bytes=self.max_bytes,
                should_stop=self.stopping.is_set,
            )
        finally:
            self.idle.set()


def start_feed_scheduler(
    engine: Engine,
    settings: Settings,
    *,
    clock: Clock = _utc_now,
    client: httpx.Client | None = None,
    worker_id: str | None = None,
    sync: bool = True,
) -> Any:
    """Start polling due feeds every `settings.worker_poll_seconds`, in a background thread.

    With `sync` (the default) the registry is mirrored first, so a broken registry stops
    the start with its message. Returns the running BackgroundScheduler; stop it with
    `stop_feed_scheduler`. A `client` passed in stays the caller's to close.
    """
    if sync:
        sync_feed_registry(engine, settings, clock())
    feed_client = client or make_client(settings.feed_timeout_seconds)
    job = _Round(engine, feed_client, worker_id or worker_name(), clock, settings.feed_max_bytes)
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        job,
        "interval",
        seconds=settings.worker_poll_seconds,
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        # A round that starts late is still worth running (it only polls what is due).
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
    )
    setattr(scheduler, _STATE, (job, feed_client if client is None else None))
    scheduler.start()
    log.info("feed scheduler started", extra={"worker": job.worker_id})
    return scheduler


def stop_feed_scheduler(scheduler: Any, *, timeout: float | None = None) -> bool:
    """Stop ticking and wait (at most `timeout` seconds; None: as long as it takes) for
    the poll in flight to be recorded. True if nothing was left running.

    The round in flight finishes its current feed and hands the rest of its claims
    back, so a stop waits for one poll at most, never a whole round. A poll still
    running at the timeout keeps its claim until its lease lapses.
    """
    job, own_client = getattr(scheduler, _STATE)
    with job.lock:
        job.stopping.set()
    if scheduler.running:
        scheduler.shutdown(wait=False)
    finished = bool(job.idle.wait(timeout))
    if finished and own_client is not None:
        own_client.close()
    log.info("feed scheduler stopped", extra={"worker": job.worker_id, "finished": finished})
    return finished


class FeedPolling:
    """The scheduler as a part of `tracker.worker`: started here, `stop(timeout)` there."""

    def __init__(self, engine: Engine, settings: Settings, worker_id: str | None = None) -> None:
        self.scheduler = start_feed_scheduler(engine, settings, worker_id=worker_id)

    def stop(self, timeout: float = 25.0) -> None:
        stop_feed_scheduler(self.scheduler, timeout=timeout)


@contextmanager
def feed_worker(engine: Engine, settings: Settings) -> Iterator[Any]:
    """The feed scheduler for as long as the block runs: `create_app(start_worker=...)`."""
    scheduler = start_feed_scheduler(engine, settings)
    try:
        yield scheduler
    finally:
        stop_feed_scheduler(scheduler)


def manual_poller(
    engine: Engine, settings: Settings, *, clock: Clock = _utc_now
) -> Callable[[str], PollOutcome]:
    """`poll(name)`: poll one feed now and record the result; raises NotFound,
    FeedDisabled or FeedBusy as `commands.feed_polls.claim_feed` does."""

    def poll(name: str) -> PollOutcome:
        with make_client(settings.feed_timeout_seconds) as client:
            return poll_feed_now(engine, client, name, clock, max_bytes=settings.feed_max_bytes)

    return poll
