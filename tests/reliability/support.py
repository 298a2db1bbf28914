"""What the reliability tests share: bulk feeds, checks of the log, snapshots of the read
models, and (from tests/operations/processes.py) tracker processes and loopback servers."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from operations.processes import database_name, pg_connect
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from tracker.db import make_engine, read_connection
from tracker.projections.runner import lag
from tracker.projections.tables import funding_rounds, models, roles, round_investors
from tracker.store.schema import events, idempotency_keys, streams

__all__ = [
    "LogCheck",
    "bulk_items",
    "check_log",
    "engine_for",
    "event_count",
    "projection_lag",
    "read_models",
    "terminate_backend",
    "writer_active",
]

READ_MODELS = (funding_rounds, round_investors, roles, models)


def bulk_items(count: int, per_company: int = 30, prefix: str = "bulk") -> list[dict[str, Any]]:
    """`count` feed items: companies of `per_company` items each (a registration, then
    model releases, funding rounds and board appointments), keyed `prefix:...`."""
    items: list[dict[str, Any]] = []
    company = 0
    while len(items) < count:
        slug = f"{prefix}-co-{company}"
        items.append(
            {
                "key": f"{prefix}:co:{company}",
                "type": "company.registered",
                "occurred_on": "2020",
                "data": {"company": slug, "name": f"{prefix.title()} Company {company}"},
            }
        )
        for number in range(min(per_company - 1, count - len(items))):
            items.append(_item(prefix, slug, company * per_company + number))
        company += 1
    return items


def _item(prefix: str, company: str, n: int) -> dict[str, Any]:
    key = f"{prefix}:{n}"
    if n % 3 == 0:
        data: dict[str, Any] = {"company": company, "model": f"model-{n}", "name": f"Model {n}"}
        return {"key": key, "type": "model.released", "occurred_on": "2025-07", "data": data}
    if n % 3 == 1:
        money = {"value": str(1_000_000 + n), "currency": "CNY", "qualifier": "at_least"}
        data = {
            "company": company,
            "round": "strategic",
            "money_raised": money,
            "lead_investors": [f"Investor {n % 17}"],
            "investors": [f"Fund {n % 5}"],
        }
        return {
            "key": key,
            "type": "funding_round.announced",
            "occurred_on": "2024-03",
            "data": data,
        }
    data = {
        "company": company,
        "person": f"person-{n % 400}",
        "person_name": f"Person {n % 400}",
        "role": "board_member",
    }
    return {"key": key, "type": "leadership.appointed", "occurred_on": "2023", "data": data}


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def event_count(engine: Engine) -> int:
    with read_connection(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


@dataclass(frozen=True)
class LogCheck:
    events: int
    keys: int


def check_log(engine: Engine, keys: set[str]) -> LogCheck:
    """The log holds each of `keys` (feed items) exactly once, and nothing else.

    Every key's events are stored (no item half-applied), every event belongs to exactly
    one key (no event without its idempotency row), ids are unique, and each stream's
    versions run 1..n without a hole, matching the stream's row."""
    with read_connection(engine) as conn:
        stored = {
            row.key: [str(i) for i in row.event_ids]
            for row in conn.execute(select(idempotency_keys.c.key, idempotency_keys.c.event_ids))
        }
        rows = conn.execute(select(events.c.id, events.c.stream, events.c.version)).all()
        stream_versions = dict(conn.execute(select(streams.c.stream, streams.c.version)).all())
    assert set(stored) == keys, (
        f"missing {len(keys - set(stored))} keys, {len(set(stored) - keys)} unexpected"
    )
    ids = [str(row.id) for row in rows]
    assert len(ids) == len(set(ids)), "an event id is stored twice"
    owners = Counter(event_id for key in keys for event_id in stored[key])
    assert set(owners) == set(ids), "events and idempotency rows disagree"
    assert all(n == 1 for n in owners.values()), "an event belongs to two items"
    by_stream: dict[str, list[int]] = {}
    for row in rows:
        by_stream.setdefault(row.stream, []).append(row.version)
    for stream, versions in by_stream.items():
        assert sorted(versions) == list(range(1, len(versions) + 1)), f"{stream}: {versions}"
        assert stream_versions[stream] == len(versions), stream
    return LogCheck(events=len(ids), keys=len(stored))


def read_models(engine: Engine) -> dict[str, list[str]]:
    """Every row of every read model, as sorted canonical JSON (comparable across runs)."""
    snapshot: dict[str, list[str]] = {}
    with read_connection(engine) as conn:
        for table in READ_MODELS:
            rows = conn.execute(select(table)).mappings().all()
            snapshot[table.name] = sorted(
                json.dumps(dict(row), sort_keys=True, default=str) for row in rows
            )
    return snapshot


def projection_lag(engine: Engine) -> dict[str, int]:
    with read_connection(engine) as conn:
        return lag(conn)


def writer_active(url: str) -> bool:
    """Whether some process is inside a write transaction that holds the projection
    lock: on PostgreSQL an advisory lock in this database, on SQLite the write lock."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        probe = sqlite3.connect(str(parsed.database), timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    with pg_connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE a.datname = %s AND l.locktype = 'advisory' AND l.granted",
            (database_name(url),),
        ).fetchone()
    return bool(row and row[0])


def terminate_backend(url: str, pid: int) -> None:
    """Terminate one backend of this test's database and wait until it is gone."""
    with pg_connect(url) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(200):
            if not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} still there")
