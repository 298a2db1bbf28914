"""The docker-compose topology as real processes on PostgreSQL: one `tracker migrate`, two
API processes (`tracker serve --no-worker`), three `tracker worker`s. Feeds and webhook
receivers are HTTP servers on 127.0.0.1.

It proves what `docker compose up --scale worker=3` promises: the workers share feed
polls and deliveries without doing one twice, every event reaches its receiver, the read
models catch up whichever API took the write, and a worker killed with SIGKILL mid-work
loses nothing: another takes over once its leases lapse.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from operations.processes import (
    FeedServer,
    Processes,
    Receiver,
    TrackerProcess,
    api_client,
    create_key,
    expire_claims_of,
    pg_connect,
    processes,
    run_tracker,
    tracker_env,
    tracker_feed,
    wait_healthy,
    wait_until,
    worker_id_of,
    write_registry,
)

pytestmark = pytest.mark.postgres_only

INTERVAL = 2.0  # the feed's interval in the registry ("2s")
FEED_ITEMS = [
    {
        "key": f"loopback:{slug}",
        "type": "company.registered",
        "occurred_on": "2023-04",
        "data": {"company": slug, "name": name},
    }
    for slug, name in (("stepfun", "StepFun"), ("moonshot", "Moonshot AI"), ("zhipu", "Zhipu AI"))
]


COMPANY = {
    "type": "company.registered",
    "occurred_on": "2024",
    "data": {"company": "acme-labs", "name": "Acme Labs"},
}


def released(model: str) -> dict[str, Any]:
    data = {"company": "acme-labs", "model": model, "name": model.title()}
    return {"type": "model.released", "occurred_on": "2025-07", "data": data}


class Posting:
    """Writes events through the API processes in turn; remembers every id they recorded."""

    def __init__(self, clients: list[httpx.Client]) -> None:
        self.turn = itertools.cycle(clients)
        self.recorded: list[str] = []
        self.lock = threading.Lock()

    def post(self, event: dict[str, Any]) -> list[str]:
        client = next(self.turn)
        response = client.post(
            "/v1/events", json=event, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert response.status_code == 201, (client.base_url, response.text)
        ids = [recorded["id"] for recorded in response.json()["events"]]
        with self.lock:
            self.recorded.extend(ids)
        return ids


def live_workers(url: str) -> int:
    with pg_connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM worker_heartbeats WHERE beat_at > now() - interval '60 seconds'"
        ).fetchone()
    return int(row[0]) if row else 0


def log_ids(client: httpx.Client) -> list[str]:
    """Every event id of GET /v1/events, following next_cursor."""
    ids: list[str] = []
    after = 0
    while True:
        page = client.get("/v1/events", params={"after": after, "limit": 1000})
        assert page.status_code == 200, page.text
        body = page.json()
        ids += [event["id"] for event in body["items"]]
        if body["next_cursor"] is None:
            return ids
        after = int(body["next_cursor"])


def deliveries_of(client: httpx.Client, subscription: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"/v1/subscriptions/{subscription}/deliveries", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        rows += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


def caught_up(api: TrackerProcess) -> bool:
    health = httpx.get(f"{api.url}/health", timeout=5).json()
    return health["status"] == "ok" and not any(health["projections"].values())


def worker_in_flight(url: str, workers: list[TrackerProcess]) -> TrackerProcess | None:
    """A worker process that holds a delivery claim right now (it is sending)."""
    by_id = {worker_id_of(url, worker.pid): worker for worker in workers}
    with pg_connect(url) as conn:
        rows = conn.execute("SELECT claimed_by FROM deliveries WHERE status = 'sending'").fetchall()
    for (claimed_by,) in rows:
        worker = by_id.get(str(claimed_by).split("/", 1)[0])
        if worker is not None:
            return worker
    return None


def sending_worker(
    url: str, workers: list[TrackerProcess], *, within: float
) -> TrackerProcess | None:
    """The worker caught holding a delivery claim within `within` seconds, if any."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        worker = worker_in_flight(url, workers)
        if worker is not None:
            return worker
        time.sleep(0.02)
    return None


def test_two_apis_and_three_workers_share_the_work_and_survive_a_killed_worker(
    pg_database: str, tmp_path: Path
) -> None:
    with FeedServer(tracker_feed(FEED_ITEMS)) as feed, Receiver(delay=0.05) as receiver:
        registry = write_registry(tmp_path / "feeds.toml", [("loopback", feed.url, "2s")])
        env = tracker_env(
            pg_database,
            feeds=registry,
            worker_poll_seconds=0.2,
            allow_private_webhooks="true",
            webhook_timeout_seconds=5,
        )
        # The compose `migrate` service, then the operator's first key.
        assert "newest schema" in run_tracker(["migrate"], env).stdout
        key = create_key(env, "admin")

        with processes(tmp_path, env) as group:
            run_topology(group, pg_database, env, key, feed, receiver)


def run_topology(
    group: Processes,
    url: str,
    env: dict[str, str],
    key: str,
    feed: FeedServer,
    receiver: Receiver,
) -> None:
    apis = [group.serve(f"api-{n}", "--no-worker") for n in (1, 2)]
    workers = [group.worker(f"worker-{n}") for n in (1, 2, 3)]
    for api in apis:
        wait_healthy(api)
    wait_until(lambda: live_workers(url) == 3, timeout=60, message=group.describe)
    window_start = time.monotonic()
    clients = [api_client(api, key) for api in apis]
    posting = Posting(clients)

    # A subscription to everything, through one API; events through both.
    created = clients[0].post("/v1/subscriptions", json={"url": receiver.url})
    assert created.status_code == 201, created.text
    subscription = created.json()["id"]
    posting.post(COMPANY)
    for number in range(10):
        posting.post(released(f"step-{number}"))

    # Read-your-writes across processes: what one API wrote, the other reads at once.
    models = clients[1].get("/v1/models", params={"company": "acme-labs", "limit": 100})
    assert {m["model"] for m in models.json()["items"]} >= {f"step-{n}" for n in range(10)}

    wait_until(
        lambda: set(posting.recorded) <= receiver.event_ids(),
        timeout=60,
        message=lambda: f"undelivered: {set(posting.recorded) - receiver.event_ids()}",
    )
    for api in apis:
        wait_until(lambda api=api: caught_up(api), timeout=30, message=api.describe)
    assert "3 live worker(s)" in run_tracker(["health", "--worker"], env).stdout
    health = httpx.get(f"{apis[0].url}/health").json()
    if "workers" in health:  # /health reports heartbeats once it lists them
        assert len(health["workers"]) == 3, health

    # One poll per interval among the three workers, not one each. A window of at least
    # four intervals; one poll every INTERVAL, plus one for each edge of the window.
    time.sleep(max(0.0, window_start + 4 * INTERVAL - time.monotonic()))
    window_end = time.monotonic()
    polls = feed.hits_between(window_start, window_end)
    allowed = int((window_end - window_start) / INTERVAL) + 2
    assert 1 <= polls <= allowed, f"{polls} fetches in {window_end - window_start:.1f}s"

    # Crash: SIGKILL a worker while deliveries flow (one that is sending, if caught so).
    receiver.delay = 0.1
    stop_posting = threading.Event()

    failed: list[BaseException] = []

    def keep_posting() -> None:
        try:
            for number in range(15):
                if stop_posting.is_set():
                    return
                posting.post(released(f"step-crash-{number}"))
                time.sleep(0.05)
        except BaseException as exc:  # seen by the test, not lost in the thread
            failed.append(exc)

    before = set(posting.recorded)
    poster = threading.Thread(target=keep_posting)
    poster.start()
    try:
        wait_until(
            lambda: len(receiver.event_ids() - before) >= 3, timeout=60, message=group.describe
        )
        victim = sending_worker(url, workers, within=5.0) or workers[0]
        victim_id = worker_id_of(url, victim.pid)
        victim.kill()
    except BaseException:
        stop_posting.set()
        raise
    finally:
        poster.join(timeout=120)
    assert not failed, failed
    assert victim_id is not None
    survivors = [worker for worker in workers if worker is not victim]
    assert all(worker.alive() for worker in survivors), group.describe()

    # Its leases would lapse in 4 x timeout + 30 s (deliveries) and 10 min (feeds).
    expire_claims_of(url, victim_id)
    wait_until(
        lambda: set(posting.recorded) <= receiver.event_ids(),
        timeout=60,
        message=lambda: f"lost after the kill: {set(posting.recorded) - receiver.event_ids()}",
    )
    after_kill = time.monotonic()
    wait_until(
        lambda: feed.hits_between(after_kill, time.monotonic()) >= 1,
        timeout=30,
        message="nobody polls the feed after the kill",
    )

    # Nothing doubled: the log holds every recorded event once, plus the feed's items
    # (read through the other API), and each event has one delivery (one webhook-id),
    # however many times the receiver saw it.
    logged = log_ids(clients[1])
    assert len(logged) == len(set(logged))
    assert set(logged) == set(posting.recorded) | feed_event_ids(clients[0])
    assert len(logged) == len(set(posting.recorded)) + len(FEED_ITEMS)
    rows = [row for row in deliveries_of(clients[0], subscription) if row["event_id"]]
    per_event: defaultdict[str, list[str]] = defaultdict(list)
    for row in rows:
        per_event[row["event_id"]].append(row["id"])
    assert all(len(ids) == 1 for ids in per_event.values()), per_event
    webhook_ids: defaultdict[str, set[str]] = defaultdict(set)
    for call in receiver.calls:
        if call.event_id:
            webhook_ids[call.event_id].add(call.webhook_id)
    assert all(len(ids) == 1 for ids in webhook_ids.values())
    wait_until(
        lambda: all(
            row["status"] == "succeeded" for row in deliveries_of(clients[0], subscription)
        ),
        timeout=30,
        message="deliveries not all recorded as succeeded",
    )
    for api in apis:
        wait_until(lambda api=api: caught_up(api), timeout=30, message=api.describe)
    for client in clients:
        client.close()


def feed_event_ids(client: httpx.Client) -> set[str]:
    page = client.get("/v1/events", params={"type": "company.registered", "limit": 1000})
    return {
        event["id"]
        for event in page.json()["items"]
        if event["data"]["company"] in {item["data"]["company"] for item in FEED_ITEMS}
    }
