"""The pieces every benchmark shares: scratch databases, timing and the result row."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import Engine

from tracker.db import make_engine
from tracker.store.migrate import upgrade_to_head

PG_ADMIN_URL = os.environ.get("TRACKER_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Row:
    figure: str
    value: float
    unit: str
    baseline: float | None
    baseline_name: str
    goal: str
    met: bool | None

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]


def rate(count: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


@contextmanager
def pg_database() -> Iterator[str]:
    name = f"tracker_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rpartition("/")[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_database(folder: Path) -> Iterator[str]:
    path = folder / f"bench-{uuid.uuid4().hex[:8]}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def migrated(url: str, **kwargs: object) -> Iterator[Engine]:
    engine = make_engine(url, **kwargs)  # type: ignore[arg-type]
    upgrade_to_head(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")
