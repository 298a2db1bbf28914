"""API fixtures: the app on each backend, keys of each scope, and the seed feed loaded
through the real write path (`commands.ingest`, as `tracker ingest` does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tracker.api.app import create_app
from tracker.commands.ingest import ingest_feed
from tracker.commands.keys import create_api_key
from tracker.domain.feed_format import parse_tracker_feed
from tracker.projections.runner import catch_up, catch_up_to
from tracker.settings import Settings
from tracker.store.reading import LogCursor
from tracker.store.schema import events

SEED = Path(__file__).resolve().parents[2] / "feeds" / "seed.json"


@pytest.fixture
def settings() -> Settings:
    return Settings(database_url="sqlite://", max_body_bytes=64 * 1024)


@pytest.fixture
def app(engine: Engine, settings: Settings) -> FastAPI:
    return create_app(engine, settings)


@pytest.fixture
def keys(engine: Engine) -> dict[str, dict[str, str]]:
    """The Authorization header of a fresh key of each scope: keys["read"], ..."""
    return {
        scope: {"Authorization": f"Bearer {create_api_key(engine, scope, 'tests')}"}
        for scope in ("read", "write", "admin")
    }


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """A client that sends no key."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def reader(app: FastAPI, keys: dict[str, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(app, headers=keys["read"]) as client:
        yield client


@pytest.fixture
def writer(app: FastAPI, keys: dict[str, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(app, headers=keys["write"]) as client:
        yield client


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    """The bundled seed feed (StepFun and its peers), ingested and projected.

    On PostgreSQL the gap-free reader sees the log only below the oldest transaction
    still writing anywhere in the cluster, so while other test runs write to their own
    databases the seed may become readable a moment after it commits: wait for that.
    """
    report = ingest_feed(engine, parse_tracker_feed(SEED.read_bytes()), after_write=catch_up)
    assert not report.rejected, report.rejected
    with engine.connect() as conn:
        row = conn.execute(
            select(events.c.tx_id, events.c.position).order_by(events.c.position.desc()).limit(1)
        ).one()
    last = LogCursor(row.tx_id, row.position)
    assert catch_up_to(engine, last, timeout=60), "the seed was not projected in 60 s"
    return engine
