"""A bounded soak: `tracker serve` (API and worker) on PostgreSQL for SOAK_SECONDS
(default 120) under concurrent writers and readers, a feed that publishes new items and
is polled every two seconds, and a webhook receiver taking every delivery, all on
127.0.0.1. `make reliability` runs it; `pytest -s` shows the report.

It asserts no request failed, every event reached the receiver, every published feed
item is in the log exactly once, and the server's resident memory grew by less than
SOAK_MAX_GROWTH_MB (default 150) from its level after warm-up.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from operations.processes import (
    FeedServer,
    Receiver,
    TrackerProcess,
    api_client,
    create_key,
    pg_connect,
    processes,
    tracker_env,
    tracker_feed,
    wait_healthy,
    wait_until,
    write_registry,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))
MAX_GROWTH_MB = float(os.environ.get("SOAK_MAX_GROWTH_MB", "150"))
COMPANIES = [f"soak-{n}" for n in range(40)]
FEED_COMPANY = "soak-feed"


@dataclass
class Load:
    """What every load thread measured: latencies per kind, statuses, failures."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    recorded: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, client: httpx.Client, kind: str, method: str, path: str, **options: Any) -> Any:
        started = time.perf_counter()
        try:
            response = client.request(method, path, **options)
        except httpx.HTTPError as exc:
            with self.lock:
                self.errors.append(f"{method} {path}: {exc!r}")
            return None
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies.setdefault(kind, []).append(elapsed)
            self.statuses[response.status_code] += 1
            if response.status_code >= 400:
                self.errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
                return None
        return response.json()


def event_for(n: int) -> dict[str, Any]:
    company = random.choice(COMPANIES)
    kind = n % 3
    if kind == 0:
        model = f"m-{uuid.uuid4().hex[:12]}"
        data: dict[str, Any] = {"company": company, "model": model, "name": model}
        return {"type": "model.released", "occurred_on": "2025-07", "data": data}
    if kind == 1:
        money = {
            "value": str(random.randint(1, 900) * 1_000_000),
            "currency": "USD",
            "qualifier": "about",
        }
        data = {
            "company": company,
            "round": "strategic",
            "money_raised": money,
            "lead_investors": [f"Fund {n % 9}"],
        }
        return {"type": "funding_round.announced", "occurred_on": "2025-01-15", "data": data}
    person = f"p-{uuid.uuid4().hex[:8]}"
    data = {"company": company, "person": person, "person_name": person, "role": "board_member"}
    return {"type": "leadership.appointed", "occurred_on": "2024-06", "data": data}


def write(load: Load, client: httpx.Client, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        if n % 10 == 0:
            body: Any = {"events": [event_for(n + i) for i in range(5)]}
        else:
            body = event_for(n)
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        answer = load.call(client, "write", "POST", "/v1/events", json=body, headers=headers)
        if answer:
            with load.lock:
                load.recorded.update(event["id"] for event in answer["events"])
        time.sleep(0.02)


def read(load: Load, client: httpx.Client, stop: threading.Event) -> None:
    after = 0
    while not stop.is_set():
        company = random.choice(COMPANIES)
        load.call(client, "read", "GET", f"/v1/companies/{company}")
        load.call(
            client, "read", "GET", "/v1/funding-rounds", params={"sort": "-amount_usd", "limit": 20}
        )
        load.call(client, "read", "GET", "/v1/models", params={"company": company})
        page = load.call(client, "read", "GET", "/v1/events", params={"after": after, "limit": 200})
        if page and page["next_cursor"]:
            after = int(page["next_cursor"])
        time.sleep(0.02)


class Publisher:
    """Publishes five new feed items every two seconds; the feed shows the last fifty."""

    def __init__(self, feed: FeedServer) -> None:
        self.feed, self.stop = feed, threading.Event()
        registered = {"company": FEED_COMPANY, "name": "Soak Feed"}
        self.items: list[dict[str, Any]] = [
            {
                "key": "soak-feed:co",
                "type": "company.registered",
                "occurred_on": "2020",
                "data": registered,
            }
        ]
        self.thread = threading.Thread(target=self.run, daemon=True)

    def publish(self) -> None:
        for _ in range(5):
            n = len(self.items)
            data = {"company": FEED_COMPANY, "model": f"feed-model-{n}", "name": f"Feed model {n}"}
            self.items.append(
                {
                    "key": f"soak-feed:{n}",
                    "type": "model.released",
                    "occurred_on": "2025-08",
                    "data": data,
                }
            )
        with self.feed.lock:
            self.feed.body = tracker_feed(self.items[-50:])

    def run(self) -> None:
        while not self.stop.wait(2.0):
            self.publish()


def sample_memory(
    server: TrackerProcess, samples: list[tuple[float, int]], stop: threading.Event
) -> None:
    start = time.monotonic()
    while not stop.wait(2.0):
        if server.alive():
            samples.append((time.monotonic() - start, server.rss_kib()))


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[q - 1]


def test_a_soak_of_writes_reads_polls_and_deliveries_keeps_memory_flat_and_errors_at_zero(
    pg_migrated_database: str, tmp_path: Path
) -> None:
    with FeedServer() as feed, Receiver() as receiver:
        publisher = Publisher(feed)
        publisher.publish()  # before the first poll
        registry = write_registry(tmp_path / "feeds.toml", [("soak", feed.url, "2s")])
        env = tracker_env(
            pg_migrated_database,
            feeds=registry,
            allow_private_webhooks="true",
            worker_poll_seconds=0.5,
            log_level="WARNING",
        )
        key = create_key(env, "admin")
        with processes(tmp_path, env) as group:
            server = group.serve("api")
            wait_healthy(server)
            setup = httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
            assert setup.post("/v1/subscriptions", json={"url": receiver.url}).status_code == 201
            for slug in COMPANIES:
                body = {
                    "type": "company.registered",
                    "occurred_on": "2020",
                    "data": {"company": slug, "name": slug.title()},
                }
                assert setup.post("/v1/events", json=body).status_code == 201
            publisher.thread.start()

            load, stop, memory_stop = Load(), threading.Event(), threading.Event()
            samples: list[tuple[float, int]] = []
            clients = [api_client(server, key) for _ in range(6)]
            threads = [threading.Thread(target=write, args=(load, c, stop)) for c in clients[:3]]
            threads += [threading.Thread(target=read, args=(load, c, stop)) for c in clients[3:]]
            threads.append(
                threading.Thread(target=sample_memory, args=(server, samples, memory_stop))
            )
            started = time.monotonic()
            for thread in threads:
                thread.start()
            try:
                time.sleep(SECONDS)
            finally:
                stop.set()
                memory_stop.set()
                publisher.stop.set()
                for thread in threads:
                    thread.join(timeout=60)
            elapsed = time.monotonic() - started

            # Drain: every event delivered, the last published items polled, projections current.
            last_publication = time.monotonic()
            wait_until(
                lambda: load.recorded <= receiver.event_ids(),
                timeout=180,
                message=lambda: f"{len(load.recorded - receiver.event_ids())} undelivered",
            )
            wait_until(
                lambda: feed.hits_between(last_publication, time.monotonic()) >= 1,
                timeout=60,
                message="the feed is no longer polled",
            )
            wait_until(
                lambda: not any(httpx.get(f"{server.url}/health").json()["projections"].values()),
                timeout=60,
                message=server.describe,
            )
            with pg_connect(pg_migrated_database) as conn:
                feed_keys = conn.execute(
                    "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'soak-feed:%'"
                ).fetchone()
                duplicates = conn.execute(
                    "SELECT count(*) - count(DISTINCT id) FROM events"
                ).fetchone()
            rss_final = server.rss_kib()
            for client in [*clients, setup]:
                client.close()

    warm = [kib for at, kib in samples if at >= min(10.0, SECONDS / 4)] or [rss_final]
    baseline = min(warm[:3])
    growth_mb = (max([*warm[-3:], rss_final]) - baseline) / 1024
    writes, reads = load.latencies.get("write", []), load.latencies.get("read", [])
    requests = len(writes) + len(reads)
    report = [
        f"soak: {elapsed:.0f} s against one `tracker serve` (API + worker) on PostgreSQL",
        f"  requests   {requests} ({requests / elapsed:.1f}/s), statuses {dict(load.statuses)}",
        f"  writes     {len(writes)} ({len(load.recorded)} events, {len(load.recorded) / elapsed:.1f}/s);"
        f" p50 {percentile(writes, 50) * 1000:.0f} ms, p99 {percentile(writes, 99) * 1000:.0f} ms",
        f"  reads      {len(reads)}; p50 {percentile(reads, 50) * 1000:.0f} ms,"
        f" p99 {percentile(reads, 99) * 1000:.0f} ms",
        f"  feed       {len(publisher.items)} items published, {feed_keys[0] if feed_keys else '?'} in the log,"
        f" {len(feed.hits)} fetches",
        f"  webhooks   {len(receiver.calls)} calls for {len(receiver.event_ids())} events",
        f"  memory     RSS after warm-up {baseline / 1024:.0f} MB, final {rss_final / 1024:.0f} MB,"
        f" growth {growth_mb:.1f} MB (limit {MAX_GROWTH_MB:.0f})",
        f"  errors     {len(load.errors)}",
    ]
    print("\n" + "\n".join(report))

    assert not load.errors, load.errors[:5]
    assert writes and reads
    assert feed_keys is not None and feed_keys[0] == len(publisher.items)
    assert duplicates is not None and duplicates[0] == 0
    assert growth_mb < MAX_GROWTH_MB
