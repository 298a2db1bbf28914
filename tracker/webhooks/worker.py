"""The webhook worker, and the webhooks edge's wiring for the composition roots.

Background threads: one dispatcher loop (events → deliveries, dispatcher.py) and a few
sender loops (claim → send → record, delivery_worker.py). Each loop runs at once again
while it finds work and sleeps `interval` when idle, so an event reaches its receivers
within about a second. Several sender loops, each with its own claims, keep one hanging
receiver from stalling the others beyond its own batch. Every claim lives in the
database, so any number of processes can run this worker side by side.

Stopping sets a flag and joins: each loop finishes the sends in flight and records
them; claims not yet sent are released for another worker (their lease would expire
anyway, but releasing lets the next worker send them at once).

For `cli.py` and `api/app.py`:
- `start_webhook_worker` / `stop_webhook_worker`, or `webhook_worker` for both as a
  context manager (the shape of `create_app(start_worker=...)`);
- `url_checker(settings)`: the SSRF guard as `check_url`, set as
  `app.state.check_webhook_url` for the subscription routes.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine

from tracker.settings import Settings
from tracker.webhooks.address_guard import Resolver, check_target, system_resolver
from tracker.webhooks.delivery_worker import deliver_due
from tracker.webhooks.dispatcher import dispatch_new_events
from tracker.webhooks.sender import delivery_client

__all__ = [
    "WebhookWorker",
    "start_webhook_worker",
    "stop_webhook_worker",
    "url_checker",
    "webhook_worker",
]

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
_MAX_BACKOFF = 30.0  # seconds between rounds while the database keeps failing


def _utc_now() -> datetime:
    return datetime.now(UTC)


def url_checker(settings: Settings, resolve: Resolver = system_resolver) -> Callable[[str], None]:
    """`check_url` for the subscription commands: raises UnsafeTarget (or
    UnresolvableHost) for a URL the worker would refuse to call."""

    def check(url: str) -> None:
        check_target(url, allow_private=settings.allow_private_webhooks, resolve=resolve)

    return check


@dataclass
class WebhookWorker:
    """The running threads; `stop()` ends them. Also a context manager."""

    stopping: threading.Event
    threads: list[threading.Thread]
    client: httpx.Client
    own_client: bool
    stopped: bool = field(default=False)

    def stop(self, *, timeout: float | None = None) -> None:
        stop_webhook_worker(self, timeout=timeout)

    def __enter__(self) -> WebhookWorker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _loop(
    name: str,
    step: Callable[[], int],
    interval: float,
    stopping: threading.Event,
    wake: threading.Event,
    on_work: Callable[[], None] | None = None,
) -> None:
    """Run `step` again at once while it finds work; when idle, wait for `wake` (set by
    the dispatcher when it queued deliveries) or `interval`, whichever comes first."""
    failures = 0
    while not stopping.is_set():
        try:
            done = step()
            failures = 0
        except Exception:
            failures += 1
            log.exception("webhook %s round failed", name)
            done = 0
        if done and on_work is not None:
            on_work()
        if not done:
            if failures:
                stopping.wait(min(interval * 2**failures, _MAX_BACKOFF))
            else:
                wake.wait(interval)
                wake.clear()


def start_webhook_worker(
    engine: Engine,
    settings: Settings,
    *,
    clock: Clock = _utc_now,
    resolve: Resolver = system_resolver,
    rng: random.Random | None = None,
    client: httpx.Client | None = None,
    worker_id: str | None = None,
    senders: int = 4,
    batch: int = 8,
    interval: float | None = None,
) -> WebhookWorker:
    """Start dispatching and delivering in background threads; returns the worker."""
    stopping = threading.Event()
    http = client or delivery_client()
    base = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    every = interval if interval is not None else min(settings.worker_poll_seconds, 1.0)
    # One generator per thread, seeded from the given one: random.Random shares state
    # across threads, and per-thread seeds keep a seeded test reproducible.
    random_source = rng or random.Random()

    def dispatch() -> int:
        return dispatch_new_events(engine, clock=clock)

    def sender(index: int) -> Callable[[], int]:
        rng_for_thread = random.Random(random_source.random())

        def deliver() -> int:
            return deliver_due(
                engine,
                http,
                f"{base}/{index}",
                clock=clock,
                resolve=resolve,
                allow_private=settings.allow_private_webhooks,
                rng=rng_for_thread,
                limit=batch,
                timeout=settings.webhook_timeout_seconds,
                stopping=stopping,
            )

        return deliver

    # Senders sleep on `queued`; the dispatcher sets it when it wrote deliveries, so a
    # new event goes out at once instead of after a second poll interval.
    queued, dispatcher_idle = threading.Event(), threading.Event()
    threads = [
        threading.Thread(
            target=_loop,
            args=("dispatcher", dispatch, every, stopping, dispatcher_idle, queued.set),
            name="webhook-dispatcher",
            daemon=True,
        )
    ] + [
        threading.Thread(
            target=_loop,
            args=(f"sender-{i}", sender(i), every, stopping, queued),
            name=f"webhook-sender-{i}",
            daemon=True,
        )
        for i in range(senders)
    ]
    for thread in threads:
        thread.start()
    log.info("webhook worker started", extra={"worker": base, "senders": senders})
    return WebhookWorker(stopping, threads, http, own_client=client is None)


def stop_webhook_worker(worker: WebhookWorker, *, timeout: float | None = None) -> None:
    """Stop the loops; waits for the sends in flight (each bounded by its timeout)."""
    if worker.stopped:
        return
    worker.stopping.set()
    for thread in worker.threads:
        thread.join(timeout)
    if worker.own_client and not any(thread.is_alive() for thread in worker.threads):
        worker.client.close()
    worker.stopped = True
    log.info("webhook worker stopped")


@contextmanager
def webhook_worker(engine: Engine, settings: Settings) -> Iterator[WebhookWorker]:
    """The webhook worker for as long as the block runs: `create_app(start_worker=...)`."""
    worker = start_webhook_worker(engine, settings)
    try:
        yield worker
    finally:
        stop_webhook_worker(worker)
