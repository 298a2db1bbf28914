"""Webhook delivery benchmarks (issue #5) on PostgreSQL, each beside a baseline measured
in the same run, against one threaded receiver on 127.0.0.1.

The real worker runs (`start_webhook_worker`, default senders, batch and idle interval)
with `allow_private_webhooks` and an injected resolver that maps the benchmark host
(a reserved `.test` name that never resolves) to 127.0.0.1, so no packet leaves loopback.

1. Latency, append → receipt, with one subscription and no other load: events are
   appended one at a time through `commands.recording.record_events` at random spacing
   (so they land at every phase of the worker's idle polling), stamped just before the
   append; the receiver stamps each on arrival. Baseline: the same append followed by a
   plain httpx POST of the delivery body straight to the receiver.
2. Throughput to 100 subscriptions (100 × N deliveries, one receiver): counted from the
   first receipt to the last. Baseline: plain httpx POSTs of the very bodies and headers
   the worker sent, from as many threads as the worker sends from (senders × batch).
"""

from __future__ import annotations

import json
import queue
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.benchmarks.harness import Row, migrated, pg_database
from tracker.commands.recording import record_events
from tracker.commands.subscriptions import create_subscription
from tracker.commands.webhook_tables import deliveries
from tracker.db import read_connection
from tracker.settings import Settings
from tracker.webhooks.signing import delivery_body
from tracker.webhooks.worker import start_webhook_worker, url_checker

HOST = "hooks.bench.test"
LATENCY_EVENTS = 100
SPACING = (0.1, 0.4)  # seconds between appends in the latency run, uniform
SUBSCRIPTIONS = 100
EVENTS = 20  # per subscription in the throughput run: 2,000 deliveries
SENDERS, BATCH = 4, 8  # start_webhook_worker's defaults, spelled out for the baseline
COMPANY = "bench-co"


def loopback(host: str, port: int) -> list[str]:
    """The injected DNS: the benchmark host is 127.0.0.1 and nothing else resolves."""
    if host != HOST:
        raise OSError(f"unexpected lookup of {host}")
    return ["127.0.0.1"]


class _QuietHandler(WSGIRequestHandler):
    """No access log: werkzeug would print a line per request to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class Receipt:
    at: float
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that answers 200 at once and stamps each call."""

    receipts: list[Receipt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: BaseWSGIServer | None = None

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        at = time.time()
        request = Request(environ)
        headers = {
            k.lower(): v for k, v in request.headers.items() if k.lower().startswith("webhook-")
        }
        receipt = Receipt(at, request.get_data(), headers)
        with self.lock:
            self.receipts.append(receipt)
        return Response("ok", content_type="text/plain")(environ, start_response)

    def count(self) -> int:
        with self.lock:
            return len(self.receipts)

    def take(self) -> list[Receipt]:
        with self.lock:
            taken, self.receipts = self.receipts, []
        return taken

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"receiver got {self.count()} of {count} calls in {timeout} s")
            time.sleep(0.01)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_port


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.server = make_server(
        "127.0.0.1", 0, receiver.app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(10)


def released(n: int) -> dict[str, Any]:
    data = {"company": COMPANY, "model": f"bench-model-{n}", "name": f"Bench Model {n}"}
    return {"type": "model.released", "occurred_on": "2025-07-01", "data": data}


def prepare(engine: Engine, settings: Settings, receiver: Receiver, subscriptions: int) -> None:
    """A company to write about, and subscriptions through the real command and guard."""
    registered = {"company": COMPANY, "name": "Bench Co"}
    record_events(
        engine, [{"type": "company.registered", "occurred_on": "2020", "data": registered}]
    )
    check = url_checker(settings, resolve=loopback)
    for _ in range(subscriptions):
        create_subscription(engine, url=f"http://{HOST}:{receiver.port}/hook", check_url=check)


def event_id(body: bytes) -> str:
    return str(json.loads(body)["data"]["id"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def worker_latencies(engine: Engine, settings: Settings, receiver: Receiver) -> list[float]:
    rng = random.Random(5)
    appended: dict[str, float] = {}
    worker = start_webhook_worker(engine, settings, resolve=loopback)
    try:
        for n in range(LATENCY_EVENTS):
            time.sleep(rng.uniform(*SPACING))
            stamp = time.time()
            recorded = record_events(engine, [released(n)])
            appended[str(recorded.events[0].id)] = stamp
        receiver.wait_for(LATENCY_EVENTS, timeout=30)
    finally:
        worker.stop(timeout=30)
    return [r.at - appended[event_id(r.body)] for r in receiver.take()]


def direct_latencies(engine: Engine, receiver: Receiver) -> list[float]:
    """The floor: the same append, then the body POSTed at once, no outbox between."""
    appended: dict[str, float] = {}
    with httpx.Client() as client:
        for n in range(LATENCY_EVENTS):
            stamp = time.time()
            [event] = record_events(engine, [released(LATENCY_EVENTS + n)]).events
            appended[str(event.id)] = stamp
            body = delivery_body(event.type, event.recorded_at, event.envelope())
            client.post(
                f"http://127.0.0.1:{receiver.port}/hook",
                content=body,
                headers={"Content-Type": "application/json"},
            ).raise_for_status()
    receiver.wait_for(LATENCY_EVENTS, timeout=30)
    return [r.at - appended[event_id(r.body)] for r in receiver.take()]


def dispatch_split(engine: Engine) -> tuple[float, float]:
    """Median seconds from append (recorded_at) to delivery row (created_at), and from
    delivery row to the recorded success: where the worker's latency goes."""
    with read_connection(engine) as conn:
        rows = conn.execute(
            select(
                deliveries.c.event_recorded_at, deliveries.c.created_at, deliveries.c.delivered_at
            ).where(deliveries.c.status == "succeeded")
        ).all()
    waits = [(r.created_at - r.event_recorded_at).total_seconds() for r in rows]
    sends = [(r.delivered_at - r.created_at).total_seconds() for r in rows]
    return statistics.median(waits), statistics.median(sends)


def latency_rows(settings: Settings) -> list[Row]:
    with pg_database() as url, migrated(url) as engine, receiving() as receiver:
        prepare(engine, settings, receiver, 1)
        ours = worker_latencies(engine, settings, receiver)
        dispatch, send = dispatch_split(engine)
        floor = direct_latencies(engine, receiver)
    p50, p99 = percentile(ours, 0.5), percentile(ours, 0.99)
    split = f"median {dispatch * 1000:.0f} ms to dispatch, {send * 1000:.0f} ms dispatch → sent"
    return [
        Row(
            f"PG: append → webhook receipt p50, idle, 1 subscription ({split})",
            p50 * 1000,
            "ms",
            percentile(floor, 0.5) * 1000,
            "append + direct POST p50",
            "—",
            None,
        ),
        Row(
            f"PG: append → webhook receipt p99, idle, 1 subscription ({LATENCY_EVENTS} events)",
            p99 * 1000,
            "ms",
            percentile(floor, 0.99) * 1000,
            "append + direct POST p99",
            "p99 < 1 s",
            p99 < 1.0,
        ),
    ]


def receipt_rate(receipts: list[Receipt]) -> float:
    times = sorted(r.at for r in receipts)
    return (len(times) - 1) / (times[-1] - times[0])


def worker_throughput(engine: Engine, settings: Settings, receiver: Receiver) -> list[Receipt]:
    record_events(engine, [released(n) for n in range(EVENTS)])
    total = SUBSCRIPTIONS * EVENTS
    worker = start_webhook_worker(engine, settings, resolve=loopback, senders=SENDERS, batch=BATCH)
    try:
        receiver.wait_for(total, timeout=150)
    finally:
        worker.stop(timeout=30)
    with read_connection(engine) as conn:
        done = conn.execute(
            select(func.count()).select_from(deliveries).where(deliveries.c.status == "succeeded")
        ).scalar_one()
    if done != total:
        raise RuntimeError(f"{done} of {total} deliveries recorded as succeeded")
    return receiver.take()


def plain_posts(receiver: Receiver, sent: list[Receipt], threads: int) -> list[Receipt]:
    """The same bodies and signature headers, POSTed by `threads` threads, one client."""
    work: queue.SimpleQueue[Receipt] = queue.SimpleQueue()
    for receipt in sent:
        work.put(receipt)
    url = f"http://127.0.0.1:{receiver.port}/hook"

    def post_all(client: httpx.Client) -> None:
        while True:
            try:
                item = work.get_nowait()
            except queue.Empty:
                return
            headers = {**item.headers, "Content-Type": "application/json"}
            client.post(url, content=item.body, headers=headers).raise_for_status()

    with httpx.Client(limits=httpx.Limits(max_connections=threads)) as client:
        posters = [threading.Thread(target=post_all, args=(client,)) for _ in range(threads)]
        for poster in posters:
            poster.start()
        for poster in posters:
            poster.join()
    receiver.wait_for(len(sent), timeout=30)
    return receiver.take()


def throughput_rows(settings: Settings) -> list[Row]:
    with pg_database() as url, migrated(url) as engine, receiving() as receiver:
        prepare(engine, settings, receiver, SUBSCRIPTIONS)
        sent = worker_throughput(engine, settings, receiver)
        ours = receipt_rate(sent)
        plain = receipt_rate(plain_posts(receiver, sent, SENDERS * BATCH))
    return [
        Row(
            f"PG: deliveries to {SUBSCRIPTIONS} subscriptions ({len(sent):,}, first → last receipt)",
            ours,
            "deliveries/s",
            plain,
            f"plain httpx POSTs, {SENDERS * BATCH} threads",
            "≥ 0.5× plain POSTs",
            ours >= 0.5 * plain,
        )
    ]


def run(scratch: Path) -> list[Row]:
    settings = Settings(allow_private_webhooks=True)
    return latency_rows(settings) + throughput_rows(settings)
