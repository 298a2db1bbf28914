"""Concurrency on PostgreSQL: the log is read gap-free and a stream version has one owner."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import Engine

from tracker.db import read_connection, write_transaction
from tracker.domain.dates import FuzzyDate
from tracker.domain.envelope import EventDraft
from tracker.domain.errors import VersionConflict
from tracker.store.appending import PendingEvent, append_events
from tracker.store.reading import START, LogCursor, read_all


def draft(expected_version: int | None = None) -> EventDraft:
    return EventDraft(
        type="company.alias_added",
        data={"company": "x", "alias": uuid.uuid4().hex},
        occurred_on=FuzzyDate.parse("2026-01-26"),
        expected_version=expected_version,
    )


def follow(engine: Engine, cursor: LogCursor) -> tuple[LogCursor, list[int]]:
    with read_connection(engine) as conn:
        batch = read_all(conn, cursor)
    if batch:
        cursor = LogCursor(batch[-1].tx, batch[-1].position)
    return cursor, [event.position for event in batch]


def test_a_reader_never_skips_an_event_that_commits_late(pg_engine: Engine) -> None:
    slow = pg_engine.connect()
    slow_tx = slow.begin()
    late = append_events(slow, [PendingEvent("company-slow", draft())]).events[0]
    with write_transaction(pg_engine) as conn:
        early = append_events(conn, [PendingEvent("company-fast", draft())]).events[0]
    assert late.position < early.position

    cursor, seen = follow(pg_engine, START)
    assert seen == []  # the committed higher position waits for the open lower one

    slow_tx.commit()
    slow.close()
    cursor, seen = follow(pg_engine, cursor)
    assert sorted(seen) == [late.position, early.position]


def test_writers_on_many_streams_and_a_live_reader_see_every_event_once(
    pg_engine: Engine,
) -> None:
    writers, per_writer = 8, 60
    done = threading.Event()
    seen: list[int] = []

    def write(number: int) -> None:
        for i in range(per_writer):
            with write_transaction(pg_engine) as conn:
                append_events(conn, [PendingEvent(f"company-w{number}-{i % 5}", draft())])

    def read() -> None:
        cursor = START
        while True:
            finished = done.is_set()
            cursor, batch = follow(pg_engine, cursor)
            seen.extend(batch)
            if finished and not batch:
                return

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join(timeout=60)
    with read_connection(pg_engine) as conn:
        stored = [event.position for event in read_all(conn, limit=100_000)]
    assert len(stored) == writers * per_writer
    assert len(seen) == len(set(seen)), "an event was delivered twice"
    assert sorted(seen) == sorted(stored), "an event was skipped"


def test_writers_racing_on_one_stream_version_have_exactly_one_winner(
    pg_engine: Engine,
) -> None:
    with write_transaction(pg_engine) as conn:
        append_events(conn, [PendingEvent("company-race", draft())])
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def race() -> None:
        barrier.wait()
        try:
            with write_transaction(pg_engine) as conn:
                append_events(conn, [PendingEvent("company-race", draft(expected_version=1))])
            outcomes.append("won")
        except VersionConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    with read_connection(pg_engine) as conn:
        assert [e.version for e in read_all(conn, streams=["company-race"])] == [1, 2]


def test_an_open_transaction_in_another_database_does_not_stall_readers(
    pg_engine: Engine, pg_database: str
) -> None:
    import psycopg

    other = psycopg.connect(pg_database.replace("postgresql+psycopg", "postgresql"))
    try:
        other.execute("CREATE TABLE scratch (x int)")
        other.commit()
        other.execute("INSERT INTO scratch VALUES (1)")  # holds an xid, uncommitted
        with write_transaction(pg_engine) as conn:
            stored = append_events(conn, [PendingEvent("company-free", draft())]).events[0]
        _, seen = follow(pg_engine, START)
        assert seen == [stored.position]
    finally:
        other.rollback()
        other.close()
