"""PostgreSQL connections cut under load (pg_terminate_backend on this test's own database
only; the server itself never restarts).

A write either succeeds or fails with a database error the API answers 503; it is never
half-applied: every acknowledged write is in the log exactly once with its idempotency
row, and batches are all or nothing. Retrying a failed write with its idempotency key is
safe even when the failure hid a commit. Once connections are back, writes succeed again
without a restart (the engine pings pooled connections before use).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from operations.processes import (
    api_client,
    processes,
    terminate_connections,
    tracker_env,
    wait_healthy,
    wait_until,
)
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError
from support import check_log, projection_lag, terminate_backend

from tracker.api.app import create_app
from tracker.commands.keys import create_api_key
from tracker.commands.recording import record_events
from tracker.projections.runner import catch_up
from tracker.settings import Settings

pytestmark = pytest.mark.postgres_only

WRITERS = 6


def request(company: str) -> list[dict[str, Any]]:
    """One to three events with ids of their own, across one or two companies."""
    events = []
    for n in range(random.randint(1, 3)):
        model = f"m-{uuid.uuid4().hex[:10]}"
        data = {"company": company if n % 2 == 0 else "acme", "model": model, "name": model}
        events.append(
            {
                "id": str(uuid.uuid4()),
                "type": "model.released",
                "occurred_on": "2025-07",
                "data": data,
            }
        )
    return events


@dataclass
class Writer:
    """Writes requests until told to stop, retrying each failed one with its key."""

    engine: Engine
    number: int
    acknowledged: dict[str, list[str]] = field(default_factory=dict)
    failures: list[BaseException] = field(default_factory=list)
    crashed: BaseException | None = None

    def write(self, *, retries: int = 50) -> int:
        """One request, retried until acknowledged; the number of failed attempts."""
        key = f"faults:{uuid.uuid4().hex}"
        raw = request(f"writer-{self.number}")
        for attempt in range(retries):
            try:
                recorded = record_events(
                    self.engine, raw, idempotency_key=key, after_write=catch_up
                )
            except Exception as exc:  # what the API would see; checked by the test
                self.failures.append(exc)
                time.sleep(0.05)
                continue
            assert [str(e.id) for e in recorded.events] == [e["id"] for e in raw]
            self.acknowledged[key] = [e["id"] for e in raw]
            return attempt
        raise AssertionError(f"writer {self.number}: {retries} attempts failed")

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.write()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.crashed = exc


def test_writes_under_terminated_connections_are_whole_or_absent_and_recover(
    pg_engine: Engine, pg_migrated_database: str
) -> None:
    record_events(
        pg_engine,
        [
            {
                "type": "company.registered",
                "occurred_on": "2020",
                "data": {"company": "acme", "name": "Acme"},
            }
        ],
        idempotency_key="faults:acme",
    )
    for n in range(WRITERS):
        data = {"company": f"writer-{n}", "name": f"Writer {n}"}
        record_events(
            pg_engine,
            [{"type": "company.registered", "occurred_on": "2020", "data": data}],
            idempotency_key=f"faults:writer-{n}",
        )
    writers = [Writer(pg_engine, n) for n in range(WRITERS)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in writers]
    for thread in threads:
        thread.start()
    terminated = 0
    try:
        time.sleep(0.5)
        for _ in range(12):
            terminated += terminate_connections(pg_migrated_database)
            time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert terminated > 0
    assert not [w.crashed for w in writers if w.crashed], [w.crashed for w in writers]

    failures = [exc for writer in writers for exc in writer.failures]
    kinds = Counter(f"{type(exc).__module__}.{type(exc).__name__}" for exc in failures)
    assert failures, "no write was interrupted: the faults never hit"
    unclear = [exc for exc in failures if not isinstance(exc, OperationalError)]
    assert not unclear, f"errors the API would answer 500, not 503: {kinds}\n{unclear[0]!r}"

    # Connections are back: every writer's next writes succeed at the first attempt.
    for writer in writers:
        assert [writer.write(retries=1) for _ in range(3)] == [0, 0, 0]

    acknowledged = {k: ids for writer in writers for k, ids in writer.acknowledged.items()}
    keys = {"faults:acme", *(f"faults:writer-{n}" for n in range(WRITERS)), *acknowledged}
    check = check_log(pg_engine, keys)
    assert check.events == WRITERS + 1 + sum(map(len, acknowledged.values()))
    catch_up(pg_engine)
    assert not any(projection_lag(pg_engine).values())


@dataclass
class Client:
    """Posts events (with Idempotency-Key) and reads, retrying 503s; notes every status."""

    http: httpx.Client
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    recorded: set[str] = field(default_factory=set)

    def call(self, method: str, path: str, **options: Any) -> httpx.Response:
        for _ in range(100):
            try:
                response = self.http.request(method, path, **options)
            except httpx.TransportError as exc:  # the server dropped the connection
                self.problems.append(f"{method} {path}: {exc!r}")
                continue
            self.statuses[response.status_code] += 1
            if response.status_code == 503:
                # /health answers its own document; every other 503 is a problem document.
                media = "application/json" if path == "/health" else "application/problem+json"
                assert response.headers["content-type"] == media, (path, response.text)
                if path != "/health":
                    assert response.headers.get("retry-after"), response.headers
                time.sleep(0.1)
                continue
            if response.status_code >= 500:
                self.problems.append(f"{method} {path}: {response.status_code} {response.text}")
            return response
        raise AssertionError(f"{method} {path}: no answer in a hundred attempts")

    def post_event(self, company: str) -> None:
        model = f"m-{uuid.uuid4().hex[:10]}"
        body = {
            "type": "model.released",
            "occurred_on": "2025-07",
            "data": {"company": company, "model": model, "name": model},
        }
        key = {"Idempotency-Key": uuid.uuid4().hex}
        response = self.call("POST", "/v1/events", json=body, headers=key)
        if response.status_code in (200, 201):
            self.recorded.update(event["id"] for event in response.json()["events"])

    def run(self, stop: threading.Event, number: int) -> None:
        try:
            while not stop.is_set():
                self.post_event("acme")
                self.call("GET", "/v1/companies/acme")
                self.call("GET", "/v1/events", params={"limit": 20})
                self.call("GET", "/health")
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.problems.append(f"client {number} stopped: {exc!r}")


def test_a_serving_process_answers_503_at_worst_and_recovers_by_itself(
    pg_engine: Engine, pg_migrated_database: str, tmp_path: Path
) -> None:
    env = tracker_env(pg_migrated_database, worker_poll_seconds=0.2)
    key = create_api_key(pg_engine, "admin")
    with processes(tmp_path, env) as group:
        server = group.serve("api")
        wait_healthy(server)
        clients = [Client(api_client(server, key)) for _ in range(3)]
        clients[0].call(
            "POST",
            "/v1/events",
            json={
                "type": "company.registered",
                "occurred_on": "2020",
                "data": {"company": "acme", "name": "Acme"},
            },
        )
        stop = threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop, n)) for n, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.5)
            for _ in range(8):
                terminate_connections(pg_migrated_database)
                time.sleep(0.4)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=120)

        statuses = sum((client.statuses for client in clients), Counter[int]())
        problems = [problem for client in clients for problem in client.problems]
        assert server.alive(), server.describe()
        assert set(statuses) <= {200, 201, 503}, (statuses, problems[:3])

        # Recovered without a restart: health, a new write, and the worker's projections.
        wait_until(
            lambda: httpx.get(f"{server.url}/health").json()["database"] == "ok",
            timeout=30,
            message=server.describe,
        )
        follow_up = Client(api_client(server, key))
        follow_up.post_event("acme")
        assert follow_up.statuses == Counter({201: 1})

        def caught_up() -> bool:
            health = httpx.get(f"{server.url}/health").json()
            return health["status"] == "ok" and not any(health["projections"].values())

        wait_until(caught_up, timeout=30, message=server.describe)

        # Retried with their keys, no write was lost or doubled.
        recorded = set().union(*(client.recorded for client in clients), follow_up.recorded)
        logged = follow_up.call("GET", "/v1/events", params={"limit": 1000}).json()["items"]
        ids = [event["id"] for event in logged]
        assert len(ids) == len(set(ids))
        assert recorded <= set(ids)
        assert len(ids) == len(recorded) + 1  # and acme's registration

        # Every answer was a status (503 at worst), never a dropped connection.
        assert not problems, "\n".join([*problems[:3], server.stderr()[-4000:]])




def test_a_read_whose_closing_commit_fails_still_gets_a_whole_answer(
    pg_engine: Engine, pg_migrated_database: str
) -> None:
    key = create_api_key(pg_engine, "read")
    armed = threading.Event()

    @event.listens_for(pg_engine, "before_cursor_execute")
    def note(conn: Connection, _c: Any, statement: str, *_args: Any) -> None:
        if "FROM events" in statement:
            conn.info["read_events"] = True

    @event.listens_for(pg_engine, "commit")
    def cut(conn: Connection) -> None:
        # The read is done; the connection dies just before the transaction's COMMIT.
        if conn.info.pop("read_events", False) and armed.is_set():
            armed.clear()
            driver = conn.connection.driver_connection
            assert driver is not None
            terminate_backend(pg_migrated_database, driver.info.backend_pid)

    app = create_app(pg_engine, Settings(database_url=pg_migrated_database))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/events", headers=auth).status_code == 200
        armed.set()
        response = client.get("/v1/events", headers=auth)
    assert not armed.is_set(), "the fault was not injected"
    assert response.status_code in (200, 503), response.text
