"""The dispatcher on SQLite and PostgreSQL: one delivery per matching (subscription,
event), written with the checkpoint in one transaction, never twice, never skipping an
event that commits late."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tracker.commands.deliveries import DISPATCHER_CHECKPOINT, dispatcher_lag
from tracker.commands.recording import append_resolved, record_events
from tracker.commands.subscriptions import create_subscription, update_subscription
from tracker.commands.webhook_tables import deliveries
from tracker.db import make_engine, read_connection, write_transaction
from tracker.domain.envelope import parse_draft
from tracker.projections.runner import load_checkpoint
from tracker.webhooks import dispatcher
from tracker.webhooks.dispatcher import dispatch_new_events

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def accept(url: str) -> None:
    """Every URL passes: these tests never send anything."""


def registered(slug: str, name: str, *aliases: str) -> dict[str, Any]:
    return {
        "type": "company.registered",
        "occurred_on": "2023-04",
        "data": {"company": slug, "name": name, "aliases": list(aliases)},
    }


def appointed(company: str, person: str) -> dict[str, Any]:
    return {
        "type": "leadership.appointed",
        "occurred_on": "2026-01-26",
        "data": {"company": company, "person": person, "person_name": person, "role": "ceo"},
    }


def released(company: str, model: str) -> dict[str, Any]:
    return {
        "type": "model.released",
        "occurred_on": "2025-07",
        "data": {"company": company, "model": model, "name": model},
    }


@pytest.fixture
def log(engine: Engine) -> Engine:
    record_events(
        engine,
        [
            registered("stepfun", "StepFun", "Step Star", "阶跃星辰"),
            registered("moonshot", "Moonshot AI", "Dark Side of the Moon"),
        ],
    )
    return engine


def subscribe(engine: Engine, **filters: Any) -> str:
    created = create_subscription(
        engine, url="https://hooks.example.test/", check_url=accept, clock=lambda: T0, **filters
    )
    return str(created.subscription["id"])


def rows(engine: Engine) -> list[tuple[str, str, int]]:
    with read_connection(engine) as conn:
        found = conn.execute(
            select(deliveries.c.subscription_id, deliveries.c.event_type, deliveries.c.position)
        ).all()
    return sorted((row[0], row[1], row[2]) for row in found)


def dispatch_until(engine: Engine, expected: int, timeout: float = 10.0) -> int:
    """Dispatch until `expected` deliveries exist. On PostgreSQL the gap-free reader
    waits for older transactions anywhere in the cluster (other tests), so allow time."""
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    written = 0
    while True:
        written += dispatch_new_events(engine, clock=lambda: T0)
        if len(rows(engine)) >= expected or datetime.now(UTC) > deadline:
            return written


def dispatch_past(engine: Engine, position: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dispatch_new_events(engine, clock=lambda: T0)
        with read_connection(engine) as conn:
            if load_checkpoint(conn, DISPATCHER_CHECKPOINT).position >= position:
                return
        time.sleep(0.02)
    raise AssertionError(f"the dispatcher did not pass position {position}")


def test_each_matching_subscription_gets_one_delivery_per_event(log: Engine) -> None:
    everything = subscribe(log)
    leadership = subscribe(log, event_types=["leadership.*"])
    models_only = subscribe(log, event_types=["model.released"])
    stepfun = subscribe(log, companies=["阶跃星辰"])  # an alias, saved as the slug
    record_events(log, [appointed("stepfun", "yin-qi"), released("moonshot", "kimi-k2")])

    assert dispatch_until(log, 5) == 5
    assert dispatch_new_events(log) == 0  # the checkpoint moved: nothing twice

    found = rows(log)
    assert [(s, t) for s, t, _ in found] == sorted(
        [
            (everything, "leadership.appointed"),
            (everything, "model.released"),
            (leadership, "leadership.appointed"),
            (models_only, "model.released"),
            (stepfun, "leadership.appointed"),
        ]
    )


def test_a_subscription_gets_only_events_after_its_creation_and_none_while_disabled(
    log: Engine,
) -> None:
    record_events(log, [appointed("stepfun", "yin-qi")])
    sub = subscribe(log)
    update_subscription(log, sub, {"enabled": False}, check_url=accept)
    while_disabled = record_events(log, [appointed("stepfun", "jiang-daxin")]).events[0]
    dispatch_past(log, while_disabled.position)
    update_subscription(log, sub, {"enabled": True}, check_url=accept)
    record_events(log, [released("stepfun", "step-3")])

    dispatch_until(log, 1)

    assert [t for _, t, _ in rows(log)] == ["model.released"]


def test_a_crash_before_the_checkpoint_loses_nothing_and_doubles_nothing(
    log: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribe(log)
    record_events(log, [appointed("stepfun", "yin-qi")])

    def crash(*_args: Any) -> None:
        raise RuntimeError("process died between the rows and the checkpoint")

    with monkeypatch.context() as patched:
        patched.setattr(dispatcher, "save_checkpoint", crash)
        with pytest.raises(RuntimeError):
            for _ in range(200):  # PostgreSQL may hold the event back for a moment
                dispatch_new_events(log)
                time.sleep(0.05)
    assert rows(log) == []

    restarted = make_engine(database_url)  # a new process: only the database remembers
    try:
        dispatch_until(restarted, 1)
        assert len(rows(restarted)) == 1
        with read_connection(restarted) as conn:
            assert load_checkpoint(conn, DISPATCHER_CHECKPOINT).position > 0
    finally:
        restarted.dispose()


def test_the_lag_falls_to_zero_once_dispatched(log: Engine) -> None:
    subscribe(log)
    record_events(log, [appointed("stepfun", "yin-qi")])

    dispatch_until(log, 1)

    with read_connection(log) as conn:
        assert dispatcher_lag(conn) == 0


@pytest.mark.postgres_only
def test_an_event_that_commits_late_with_a_lower_position_is_still_dispatched(
    pg_engine: Engine,
) -> None:
    record_events(pg_engine, [registered("stepfun", "StepFun"), registered("moonshot", "Kimi")])
    subscribe(pg_engine)
    with pg_engine.connect() as slow:
        transaction = slow.begin()
        append_resolved(slow, [parse_draft(appointed("stepfun", "yin-qi"))])  # lower position
        record_events(pg_engine, [released("moonshot", "kimi-k2")])  # commits first

        dispatch_new_events(pg_engine)
        assert rows(pg_engine) == []  # held back: skipping ahead would lose the slow one
        transaction.commit()

    dispatch_until(pg_engine, 2)
    assert [t for _, t, _ in rows(pg_engine)] == ["leadership.appointed", "model.released"]


@pytest.mark.postgres_only
def test_concurrent_dispatchers_on_postgresql_never_write_an_event_twice(
    pg_engine: Engine,
) -> None:
    record_events(pg_engine, [registered("stepfun", "StepFun")])
    subscribe(pg_engine)
    subscribe(pg_engine, event_types=["model.*"])
    errors: list[BaseException] = []
    appending = threading.Event()

    def dispatch_while_appending() -> None:
        try:
            while appending.is_set():
                dispatch_new_events(pg_engine, batch=3)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    appending.set()
    workers = [threading.Thread(target=dispatch_while_appending) for _ in range(4)]
    for worker in workers:
        worker.start()
    for n in range(20):
        record_events(pg_engine, [released("stepfun", f"step-{n}")])
    appending.clear()
    for worker in workers:
        worker.join()

    dispatch_until(pg_engine, 40)
    assert errors == []
    with write_transaction(pg_engine) as conn:
        count = conn.execute(select(func.count()).select_from(deliveries)).scalar_one()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(deliveries.c.subscription_id, deliveries.c.event_id).distinct().subquery()
            )
        ).scalar_one()
    assert count == distinct == 40
