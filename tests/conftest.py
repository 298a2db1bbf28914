"""Shared fixtures: every store, projection and API test runs on SQLite and PostgreSQL.

Each PostgreSQL test gets its own database, created for it and dropped after, so runs on
the shared cluster never see each other's data. With CI=true an unreachable PostgreSQL
fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine

from tracker.db import make_engine
from tracker.store.migrate import upgrade_to_head

PG_ADMIN_URL = os.environ.get("TRACKER_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN_URL} and CI=true: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}")


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated database to clone: CREATE DATABASE ... TEMPLATE copies it in a fraction
    of the time migrations take, and the suite creates hundreds of databases."""
    name = f"tracker_template_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        engine = make_engine(_pg_url(name))
        upgrade_to_head(engine)
        engine.dispose()
        yield name
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _create_database(template: str | None) -> Iterator[str]:
    name = f"tracker_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        clause = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{clause}')
    try:
        yield _pg_url(name)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (no schema); yields its URL."""
    yield from _create_database(None)


@pytest.fixture
def pg_migrated_database(pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database at the newest schema; yields its URL."""
    yield from _create_database(pg_template)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each backend: an empty SQLite file, or a PostgreSQL database cloned
    from the migrated template (migrating it again is a no-op)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
    else:
        yield request.getfixturevalue("pg_migrated_database")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database of each backend."""
    engine = make_engine(database_url)
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_migrated_database: str) -> Iterator[Engine]:
    """A migrated PostgreSQL database, for tests only PostgreSQL can run (concurrency)."""
    engine = make_engine(pg_migrated_database, pool_size=20)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def loopback_server() -> Iterator[HTTPServer]:
    """One HTTP server for the session, bound to 127.0.0.1 itself: "localhost" may mean
    ::1 or worse, and tests never send a packet anywhere but the loopback address.
    Threaded, so a handler that hangs on purpose holds up no other request."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def httpserver(loopback_server: HTTPServer) -> HTTPServer:
    """pytest-httpserver's fixture, on 127.0.0.1, cleared for each test."""
    loopback_server.clear()
    return loopback_server
