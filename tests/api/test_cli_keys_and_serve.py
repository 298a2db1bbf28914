"""`tracker keys create` and `tracker serve --first-run`, on each backend."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from tracker import cli
from tracker.commands.keys import Scope, authenticate, create_api_key
from tracker.store.heartbeats import live_workers

KEY = re.compile(r"trk_[A-Za-z0-9_-]{32}")


@pytest.fixture
def env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("TRACKER_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    return engine


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `serve` hands to uvicorn, instead of running a server."""
    seen: dict[str, Any] = {}

    def run(app: FastAPI, **options: Any) -> None:
        seen.update(options, app=app)

    monkeypatch.setattr("uvicorn.run", run)
    return seen


def test_keys_create_prints_the_key_alone_on_its_last_line(env: Engine) -> None:
    result = CliRunner().invoke(
        cli.app, ["keys", "create", "--scope", "write", "--description", "curator"]
    )
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert KEY.fullmatch(last)
    assert authenticate(env, last) is Scope.WRITE


def test_keys_create_refuses_an_unknown_scope(env: Engine) -> None:
    result = CliRunner().invoke(cli.app, ["keys", "create", "--scope", "root"])
    assert result.exit_code != 0


def test_serve_first_run_creates_and_prints_one_admin_key(
    env: Engine, served: dict[str, Any]
) -> None:
    args = ["serve", "--first-run", "--no-worker", "--host", "127.0.0.1", "--port", "8123"]
    first = CliRunner().invoke(cli.app, args)
    assert first.exit_code == 0, first.output
    lines = first.stdout.strip().splitlines()
    assert "Tracker is running at http://127.0.0.1:8123/docs" in lines
    [key] = [m.group(1) for line in lines if (m := re.fullmatch(r"admin key: (trk_\S+)", line))]
    assert authenticate(env, key) is Scope.ADMIN
    assert (served["host"], served["port"]) == ("127.0.0.1", 8123)
    with TestClient(served["app"]) as client:
        auth = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/companies", headers=auth).status_code == 200
    again = CliRunner().invoke(cli.app, args)
    assert again.exit_code == 0
    assert "admin key" not in again.stdout


def test_serve_without_first_run_creates_no_key(env: Engine, served: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli.app, ["serve", "--no-worker"])
    assert result.exit_code == 0, result.output
    assert "admin key" not in result.stdout
    assert "app" in served


def test_first_run_keeps_quiet_when_a_key_exists(env: Engine, served: dict[str, Any]) -> None:
    create_api_key(env, "read")
    result = CliRunner().invoke(cli.app, ["serve", "--first-run", "--no-worker"])
    assert result.exit_code == 0
    assert not KEY.search(result.stdout)
    assert "Tracker is running at http://" in result.stdout  # where, on every start


def test_serve_runs_the_worker_for_the_app_lifetime_unless_told_not_to(
    env: Engine, served: dict[str, Any]
) -> None:
    assert CliRunner().invoke(cli.app, ["serve"]).exit_code == 0
    with TestClient(served["app"]):
        deadline = time.monotonic() + 10
        while not _workers(env) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _workers(env) == 1
    assert _workers(env) == 0
    assert CliRunner().invoke(cli.app, ["serve", "--no-worker"]).exit_code == 0
    with TestClient(served["app"]):
        time.sleep(0.2)
        assert _workers(env) == 0


def _workers(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(live_workers(conn))
