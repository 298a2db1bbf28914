"""SIGKILL in the middle of work, then run it again: nothing lost, nothing doubled.

Each test starts the real command as a process (`tracker ingest`, `tracker projections
rebuild`, `tracker worker`, `tracker serve`), kills it with SIGKILL once it has started
writing (no handler runs, no transaction commits), and runs it again. Then it checks the
log item by item and the read models against a clean rebuild. Leases of a killed worker
are made to lapse by moving their end into the past, which is what their clock would do
(a slow variant waits for the real webhook lease).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from operations.processes import (
    FeedServer,
    Processes,
    Receiver,
    TrackerProcess,
    expire_claims_of,
    processes,
    run_tracker,
    tracker_env,
    tracker_feed,
    wait_until,
    worker_id_of,
    write_registry,
)
from sqlalchemy import Engine, select
from support import (
    bulk_items,
    check_log,
    engine_for,
    event_count,
    projection_lag,
    read_models,
    writer_active,
)

from tracker.commands.feeds import FeedBusy, feeds
from tracker.commands.ingest import ingest_feed
from tracker.commands.recording import record_events
from tracker.commands.subscriptions import create_subscription
from tracker.commands.webhook_tables import deliveries
from tracker.db import read_connection
from tracker.domain.feed_format import ParsedFeed
from tracker.feeds.scheduler import manual_poller
from tracker.projections.rebuild import rebuild
from tracker.projections.runner import catch_up
from tracker.settings import Settings
from tracker.store.heartbeats import live_workers
from tracker.store.migrate import upgrade_to_head
from tracker.store.schema import idempotency_keys

ITEMS = 1500  # three ingest chunks: a kill after the first commit lands mid-feed
SUMMARY = re.compile(r"new (\d+), duplicate (\d+), rejected (\d+)")


@pytest.fixture
def migrated(database_url: str) -> str:
    with engine_for(database_url) as engine:
        upgrade_to_head(engine)
    return database_url


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.slow), "postgresql"])
def worker_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database for the worker tests; SQLite (where `tracker serve` is the
    worker) runs with `make reliability` only, to keep `make test` short."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_migrated_database"))
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    with engine_for(url) as engine:
        upgrade_to_head(engine)
    return url


def kill_once_writing(process: TrackerProcess, engine: Engine, total: int, *, what: str) -> int:
    """SIGKILL `process` as soon as some but not all events are stored; that count."""
    stored = wait_until(
        lambda: event_count(engine) or (None if process.alive() else -1),
        timeout=120,
        every=0.02,
        message=lambda: f"{what} never stored an event:\n{process.describe()}",
    )
    process.kill()
    assert stored != -1, f"{what} ended before it wrote:\n{process.describe()}"
    at_kill = event_count(engine)
    assert 0 < at_kill < total, f"the kill came too late to interrupt {what}: {at_kill}"
    return at_kill


def ingest_killed_then_rerun(url: str, tmp_path: Path, items: list[dict[str, Any]]) -> None:
    feed_file = tmp_path / "bulk.json"
    feed_file.write_bytes(tracker_feed(items))
    env = tracker_env(url)
    keys = {item["key"] for item in items}
    with engine_for(url) as engine, processes(tmp_path, env) as group:
        first = group.start("ingest-1", ["ingest", str(feed_file)])
        at_kill = kill_once_writing(first, engine, len(items), what="tracker ingest")

        # What survived the kill is whole items only: each committed chunk, all of it.
        with read_connection(engine) as conn:
            survived = {row.key for row in conn.execute(select(idempotency_keys.c.key))}
        assert survived < keys
        assert check_log(engine, survived).events == at_kill

        again = run_tracker(["ingest", str(feed_file)], env, timeout=300)
        new, duplicate, rejected = map(int, SUMMARY.findall(again.stdout)[-1])
        assert (new, duplicate, rejected) == (len(items) - len(survived), len(survived), 0)
        assert check_log(engine, keys).events == len(items)
        assert not any(projection_lag(engine).values())
        incremental = read_models(engine)

        # The read models the runner built, batch by batch across two processes, are the
        # ones a clean replay of the whole log builds.
        run_tracker(["projections", "rebuild"], env, timeout=300)
        assert read_models(engine) == incremental


@pytest.mark.parametrize(
    "items",
    [pytest.param(ITEMS, id="1500"), pytest.param(20_000, id="20000", marks=pytest.mark.slow)],
)
def test_an_ingest_killed_mid_feed_and_run_again_stores_every_item_exactly_once(
    migrated: str, tmp_path: Path, items: int
) -> None:
    if items > ITEMS and not migrated.startswith("postgresql"):
        pytest.skip("the large feed runs on PostgreSQL only")
    ingest_killed_then_rerun(migrated, tmp_path, bulk_items(items))


def test_a_rebuild_killed_midway_leaves_the_old_read_models_and_a_rerun_matches_them(
    migrated: str, tmp_path: Path
) -> None:
    items = bulk_items(ITEMS)
    env = tracker_env(migrated)
    with engine_for(migrated) as engine, processes(tmp_path, env) as group:
        ingest_feed(engine, ParsedFeed(source=None, items=items), after_write=catch_up)
        built = read_models(engine)
        assert sum(map(len, built.values())) > ITEMS / 2
        rebuilding = group.start("rebuild", ["projections", "rebuild"])
        wait_until(
            lambda: writer_active(migrated) or not rebuilding.alive(),
            timeout=60,
            every=0.01,
            message=rebuilding.describe,
        )
        time.sleep(0.05)  # inside its one transaction: tables emptied, rows going in
        assert rebuilding.alive(), f"it finished before the kill:\n{rebuilding.describe()}"
        rebuilding.kill()

        # Readers never saw a half-built model, and none is left behind.
        assert read_models(engine) == built
        assert not any(projection_lag(engine).values())
        done = run_tracker(["projections", "rebuild"], env, timeout=300)
        assert f"from {len(items)} events" in done.stdout
        assert read_models(engine) == built
        assert check_log(engine, {item["key"] for item in items}).events == len(items)


def registered(slug: str) -> dict[str, Any]:
    data = {"company": slug, "name": slug.title()}
    return {"type": "company.registered", "occurred_on": "2024", "data": data}


def start_worker(group: Processes, name: str, backend: str) -> TrackerProcess:
    """PostgreSQL runs `tracker worker` beside the API; SQLite runs them in one process."""
    if backend == "postgresql":
        return group.worker(name)
    return group.serve(name)


def wait_for_heartbeat(engine: Engine, process: TrackerProcess) -> None:
    def beating() -> bool:
        with engine.connect() as conn:
            return any(beat.pid == process.pid for beat in live_workers(conn))

    wait_until(beating, timeout=60, message=process.describe)


@pytest.mark.parametrize(
    "wait_for_lease",
    [
        pytest.param(False, id="lease-expired"),
        pytest.param(True, id="real-lease", marks=pytest.mark.slow),
    ],
)
def test_a_worker_killed_while_sending_a_webhook_delivers_everything_after_a_restart(
    worker_database: str, tmp_path: Path, wait_for_lease: bool
) -> None:
    backend = "postgresql" if worker_database.startswith("postgresql") else "sqlite"
    env = tracker_env(
        worker_database,
        allow_private_webhooks="true",
        worker_poll_seconds=0.2,
        webhook_timeout_seconds=2,
    )
    with (
        engine_for(worker_database) as engine,
        Receiver(delay=0.5) as receiver,
        processes(tmp_path, env) as group,
    ):
        create_subscription(engine, url=receiver.url, check_url=lambda url: None)
        first = start_worker(group, "worker-1", backend)
        wait_for_heartbeat(engine, first)
        recorded = [
            event.id
            for n in range(3)
            for event in record_events(engine, [registered(f"hooked-{n}")]).events
        ]
        ids = {str(event_id) for event_id in recorded}

        # The receiver holds each call half a second: kill the worker inside one.
        wait_until(lambda: receiver.in_flight > 0, timeout=60, every=0.01, message=first.describe)
        interrupted = receiver.calls[-1]
        dead = worker_id_of(worker_database, first.pid)
        first.kill()
        assert dead is not None
        assert interrupted not in receiver.answered

        second = start_worker(group, "worker-2", backend)
        wait_for_heartbeat(engine, second)
        if not wait_for_lease:
            assert expire_claims_of(worker_database, dead)[0] == 1
        wait_until(
            lambda: ids <= receiver.event_ids() and all_succeeded(engine, len(ids)),
            timeout=120,
            message=lambda: f"undelivered: {ids - receiver.event_ids()}\n{group.describe()}",
        )

        # At least once, and the repeat is the same delivery (the same webhook-id).
        repeats = [c for c in receiver.calls if c.event_id == interrupted.event_id]
        assert len(repeats) >= 2
        assert {call.webhook_id for call in repeats} == {interrupted.webhook_id}
        with read_connection(engine) as conn:
            rows = conn.execute(select(deliveries.c.event_id, deliveries.c.status)).all()
        assert sorted(str(row.event_id) for row in rows) == sorted(ids)


def claimant(engine: Engine, feed: str) -> str | None:
    with read_connection(engine) as conn:
        return conn.execute(select(feeds.c.claimed_by).where(feeds.c.name == feed)).scalar()


def all_succeeded(engine: Engine, count: int) -> bool:
    """All `count` deliveries are recorded as sent (the receiver's 200 reached a worker)."""
    with read_connection(engine) as conn:
        statuses = conn.execute(select(deliveries.c.status)).scalars().all()
    return len(statuses) == count and all(status == "succeeded" for status in statuses)


def test_a_worker_killed_mid_poll_leaves_no_duplicates_when_the_feed_is_polled_again(
    worker_database: str, tmp_path: Path
) -> None:
    items = bulk_items(ITEMS, prefix="polled")
    keys = {item["key"] for item in items}
    with FeedServer(tracker_feed(items)) as feed, engine_for(worker_database) as engine:
        registry = write_registry(tmp_path / "feeds.toml", [("bulk", feed.url, "1h")])
        env = tracker_env(worker_database, feeds=registry, worker_poll_seconds=0.2)
        backend = "postgresql" if worker_database.startswith("postgresql") else "sqlite"
        with processes(tmp_path, env) as group:
            first = start_worker(group, "worker-1", backend)
            kill_once_writing(first, engine, len(items), what="the feed poll")
            dead = claimant(engine, "bulk")
            assert dead is not None and dead.startswith("worker-"), dead

            # The dead worker's claim holds until its lease lapses; then anyone may poll.
            settings = Settings(database_url=worker_database, feeds=registry)
            with pytest.raises(FeedBusy, match="being polled"):
                manual_poller(engine, settings)("bulk")
            assert expire_claims_of(worker_database, dead)[1] == 1
            second = start_worker(group, "worker-2", backend)
            wait_until(
                lambda: (
                    event_count(engine) == len(items) and not any(projection_lag(engine).values())
                ),
                timeout=120,
                message=second.describe,
            )
            second.stop()

        again = run_tracker(["feeds", "poll", "bulk"], env)
        assert SUMMARY.search(again.stdout).groups() == ("0", str(len(items)), "0")  # type: ignore[union-attr]
        assert check_log(engine, keys).events == len(items)
        incremental = read_models(engine)
        rebuild(engine)
        assert read_models(engine) == incremental
