"""Secrets never reach the logs, and oversized bodies are refused.

`tracker serve --no-worker --first-run` and `tracker worker` run with JSON logs on
stderr while an operator creates keys, subscribes, rotates a secret, sends events,
pings, makes mistakes (unknown keys, a key of too small a scope) and the database drops
its connections once. Then no log line holds an API key or a `whsec_` secret.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from operations.processes import (
    KEY_PATTERN,
    Receiver,
    api_client,
    processes,
    run_tracker,
    terminate_connections,
    tracker_env,
    wait_healthy,
    wait_until,
)
from sqlalchemy import Connection, Engine, event
from support import engine_for, terminate_backend

from tracker.cli import build_app
from tracker.commands.keys import create_api_key
from tracker.logs import JsonFormatter
from tracker.settings import Settings
from tracker.store.migrate import upgrade_to_head

pytestmark = pytest.mark.postgres_only

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


def retrying(call: Any, *args: Any, **options: Any) -> httpx.Response:
    """One API call, again while the database is away (503) or the connection dropped."""
    for _ in range(50):
        try:
            response: httpx.Response = call(*args, **options)
        except httpx.TransportError:
            continue
        if response.status_code != 503:
            return response
    raise AssertionError(f"{args}: no answer")


def secret_forms(secret: str) -> set[str]:
    """The secret, and its key material alone (what a careless log might print)."""
    return {secret, secret.removeprefix("whsec_")}


def test_no_api_key_and_no_webhook_secret_appears_in_any_log_line(
    pg_migrated_database: str, tmp_path: Path
) -> None:
    # DEBUG: every line INFO would print, and whatever the libraries add below it.
    env = tracker_env(
        pg_migrated_database,
        log_format="json",
        log_level="DEBUG",
        allow_private_webhooks="true",
        worker_poll_seconds=0.2,
    )
    secrets: set[str] = set()
    with Receiver() as receiver, processes(tmp_path, env) as group:
        api = group.serve("api", "--no-worker", "--first-run")
        worker = group.worker("worker")
        wait_healthy(api)
        [admin] = KEY_PATTERN.findall(api.stdout())  # printed once, on stdout
        created = run_tracker(["keys", "create", "--scope", "write"], env)
        writer = created.stdout.strip().splitlines()[-1]
        with engine_for(pg_migrated_database) as engine:
            reader = create_api_key(engine, "read")
        keys = {admin, writer, reader}

        with api_client(api, admin) as client:
            subscription = client.post("/v1/subscriptions", json={"url": receiver.url}).json()
            secrets |= secret_forms(subscription["secret"])
            rotated = client.post(f"/v1/subscriptions/{subscription['id']}/rotate-secret")
            assert rotated.status_code == 200, rotated.text
            secrets |= secret_forms(rotated.json()["secret"])
            assert client.post(f"/v1/subscriptions/{subscription['id']}/ping").status_code == 202

        posted: list[str] = []
        with api_client(api, writer) as client:
            for n in range(5):
                event = {
                    "type": "company.registered",
                    "occurred_on": "2024",
                    "data": {"company": f"secretive-{n}", "name": f"Secretive {n}"},
                }
                response = retrying(client.post, "/v1/events", json=event)
                assert response.status_code == 201, response.text
                posted += [e["id"] for e in response.json()["events"]]
                if n == 2:  # the database drops every connection once, mid-traffic
                    terminate_connections(pg_migrated_database)

        # Mistakes an operator makes: an unknown key, a key of too small a scope.
        wrong = "trk_" + "x" * 32
        keys.add(wrong)
        assert (
            httpx.get(
                f"{api.url}/v1/events", headers={"Authorization": f"Bearer {wrong}"}
            ).status_code
            == 401
        )
        with api_client(api, reader) as client:
            assert client.get("/v1/subscriptions").status_code == 403
            assert client.post("/v1/events", json={}).status_code == 403

        wait_until(
            lambda: set(posted) <= receiver.event_ids(),
            timeout=60,
            message=worker.describe,
        )
        assert any(call.event_type == "webhook.ping" for call in receiver.calls)
        # Graceful stops flush every line (uvicorn re-raises SIGTERM once it has shut down).
        assert api.stop() in (0, -signal.SIGTERM) and worker.stop() == 0

        lines = {
            "api": api.stderr().splitlines(),
            "worker": worker.stderr().splitlines(),
            "keys create": created.stderr.splitlines(),
        }
    assert sum(map(len, lines.values())) > 10, "hardly anything was logged"
    leaks = [
        f"{source}: {line[:300]}"
        for source, source_lines in lines.items()
        for line in source_lines
        if any(secret in line for secret in keys | secrets)
        or KEY_PATTERN.search(line)
        or SECRET.search(line)
    ]
    assert not leaks, f"{len(leaks)} log lines hold a key or secret:\n" + "\n".join(leaks[:5])
    not_json = [line for source in ("api", "worker") for line in lines[source] if not is_json(line)]
    assert not not_json, not_json[:5]


def is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_a_body_over_the_limit_gets_413_problem_json_whether_declared_or_streamed(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    env = tracker_env(url, max_body_bytes=2048)
    with engine_for(url) as engine:
        upgrade_to_head(engine)
        key = create_api_key(engine, "write")
    with processes(tmp_path, env) as group:
        api = group.serve("api", "--no-worker")
        wait_healthy(api)
        event = {
            "type": "company.registered",
            "occurred_on": "2024",
            "data": {"company": "verbose", "name": "Verbose", "description": "x" * 4000},
        }
        body = json.dumps(event).encode()
        with api_client(api, key) as client:
            declared = client.post(
                "/v1/events", content=body, headers={"Content-Type": "application/json"}
            )

            def chunks() -> Any:
                for start in range(0, len(body), 512):
                    yield body[start : start + 512]

            streamed = client.post(
                "/v1/events", content=chunks(), headers={"Content-Type": "application/json"}
            )
            small = client.post(
                "/v1/events", json=event | {"data": {"company": "terse", "name": "Terse"}}
            )
        for response in (declared, streamed):
            assert response.status_code == 413, response.text
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["status"] == 413
            assert {"type", "title", "detail"} <= set(problem)
            assert "2048" in problem["detail"]
        assert small.status_code == 201, small.text
        assert api.alive()


def test_a_rotation_the_database_refuses_does_not_log_the_current_secret(
    pg_engine: Engine, pg_migrated_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=pg_migrated_database, allow_private_webhooks=True)
    app = build_app(pg_engine, settings, worker=False)
    key = create_api_key(pg_engine, "admin")
    armed = threading.Event()

    @event.listens_for(pg_engine, "before_cursor_execute")
    def cut(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        # The connection dies just as the rotation's UPDATE goes out.
        if armed.is_set() and statement.lstrip().upper().startswith("UPDATE SUBSCRIPTIONS"):
            armed.clear()
            driver = conn.connection.driver_connection
            assert driver is not None
            terminate_backend(pg_migrated_database, driver.info.backend_pid)

    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        created = client.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"})
        assert created.status_code == 201, created.text
        current = created.json()["secret"]
        armed.set()
        with caplog.at_level(logging.DEBUG):
            refused = client.post(f"/v1/subscriptions/{created.json()['id']}/rotate-secret")
    assert not armed.is_set(), "the fault was not injected"
    assert refused.status_code == 503, refused.text
    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert lines, "the failure was not logged at all"
    leaks = [line for line in lines if current.removeprefix("whsec_") in line]
    assert not leaks, leaks[0][:500]
