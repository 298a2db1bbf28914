"""Event store benchmarks (issue #2), each beside raw inserts/selects of the same rows."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg

from tests.benchmarks.harness import (
    Row,
    migrated,
    pg_database,
    psycopg_url,
    rate,
    sqlite_database,
)
from tracker.commands.ingest import ingest_feed
from tracker.db import make_engine, read_connection, write_transaction
from tracker.domain.dates import FuzzyDate
from tracker.domain.envelope import EventDraft
from tracker.domain.feed_format import ParsedFeed
from tracker.store.appending import PendingEvent, append_events
from tracker.store.reading import START, LogCursor, read_all

SINGLE = 1500
BATCH = 20_000
PER_WRITER = 400
COLUMNS = (
    "id, stream, version, type, occurred_on, occurred_precision, recorded_at, data,"
    " sources, event_metadata, tx_id"
)


def model_draft(n: int) -> EventDraft:
    return EventDraft(
        type="model.released",
        data={"company": f"c{n % 100}", "model": f"m-{n}", "name": f"M {n}", "modalities": []},
        occurred_on=FuzzyDate.parse("2025-07-01"),
        sources=[{"url": f"https://example.org/{n}", "publisher": "Bench"}],
    )


def raw_row(n: int, version: int) -> tuple[Any, ...]:
    draft = model_draft(n)
    return (
        str(uuid.uuid4()),
        f"company-c{n % 100}",
        version,
        draft.type,
        date(2025, 7, 1),
        "day",
        datetime.now(UTC),
        json.dumps(draft.data),
        json.dumps(draft.sources),
        "{}",
        0,
    )


def create_raw_table(url: str) -> None:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(
                "CREATE TABLE raw_events (position INTEGER PRIMARY KEY AUTOINCREMENT,"
                f" {COLUMNS.replace(',', ' ,')} , UNIQUE(stream, version))"
            )
        return
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE raw_events (LIKE events INCLUDING DEFAULTS INCLUDING INDEXES)")


def raw_connect(url: str) -> Any:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn
    return psycopg.connect(psycopg_url(url))


def placeholders(url: str) -> str:
    mark = "?" if url.startswith("sqlite") else "%s"
    return ", ".join([mark] * 11)


def raw_single_inserts(url: str, start: int, count: int) -> None:
    conn = raw_connect(url)
    sql = f"INSERT INTO raw_events ({COLUMNS}) VALUES ({placeholders(url)})"
    sqlite = url.startswith("sqlite")
    for n in range(start, start + count):
        if sqlite:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(sql, raw_row(n, n + 1))
            conn.execute("COMMIT")
        else:
            conn.execute(sql, raw_row(n, n + 1))
            conn.commit()
    conn.close()


def store_single_appends(url: str, start: int, count: int) -> None:
    engine = make_engine(url)
    for n in range(start, start + count):
        with write_transaction(engine) as conn:
            append_events(conn, [PendingEvent(f"company-c{n % 100}", model_draft(n))])
    engine.dispose()


def raw_executemany(url: str, count: int) -> None:
    conn = raw_connect(url)
    sql = f"INSERT INTO raw_events ({COLUMNS}) VALUES ({placeholders(url)})"
    rows = [raw_row(n, 10_000_000 + n) for n in range(count)]
    if url.startswith("sqlite"):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    else:
        with conn.cursor() as cursor:
            cursor.executemany(sql, rows)
        conn.commit()
    conn.close()


def feed_of(count: int) -> ParsedFeed:
    items = [
        {
            "key": f"bench:{n}",
            "type": "model.released",
            "occurred_on": "2025-07",
            "data": {"company": f"c{n % 100}", "model": f"batch-{n}", "name": f"Batch {n}"},
        }
        for n in range(count)
    ]
    return ParsedFeed(source={"publisher": "Bench", "url": "https://example.org/feed"}, items=items)


def parallel(target: Callable[[str, int, int], None], url: str, writers: int, run: int) -> float:
    """Events per second of `writers` processes each doing PER_WRITER single appends."""
    base = run * 100_000_000
    procs = [
        multiprocessing.Process(target=target, args=(url, base + (w + 1) * 1_000_000, PER_WRITER))
        for w in range(writers)
    ]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return writers * PER_WRITER / (time.perf_counter() - started)


def follow_log(url: str, stop: threading.Event, seen: list[int]) -> None:
    engine = make_engine(url)
    cursor = START
    while True:
        finished = stop.is_set()
        with read_connection(engine) as conn:
            batch = read_all(conn, cursor, 1000)
        if batch:
            cursor = LogCursor(batch[-1].tx, batch[-1].position)
            seen.extend(e.position for e in batch)
        elif finished:
            break
        else:
            time.sleep(0.005)
    engine.dispose()


def scaling(url: str) -> list[Row]:
    raw_1, raw_8 = parallel(raw_single_inserts, url, 1, 1), parallel(raw_single_inserts, url, 8, 2)
    with read_connection(make_engine(url)) as conn:
        before = len(read_all(conn, limit=10_000_000))
    stop, seen = threading.Event(), []  # type: ignore[var-annotated]
    reader = threading.Thread(target=follow_log, args=(url, stop, seen))
    reader.start()
    ours_1 = parallel(store_single_appends, url, 1, 3)
    ours_8 = parallel(store_single_appends, url, 8, 4)
    stop.set()
    reader.join()
    complete = len(seen) == len(set(seen)) == before + 9 * PER_WRITER
    ours, raw = ours_8 / ours_1, raw_8 / raw_1
    return [
        Row(
            "PG: 8 writers vs 1 (scaling factor)",
            ours,
            "×",
            raw,
            "raw psycopg 8 vs 1",
            f"≥ 3× or ≥ raw's {raw:.1f}×; reader complete",
            (ours >= 3 or ours >= 0.9 * raw) and complete,
        )
    ]


def read_paging(url: str) -> list[Row]:
    engine = make_engine(url)
    with read_connection(engine) as conn:
        total = len(read_all(conn, limit=10_000_000))

    def ours() -> None:
        cursor = START
        with read_connection(engine) as conn:
            while batch := read_all(conn, cursor, 1000):
                cursor = LogCursor(batch[-1].tx, batch[-1].position)

    def raw() -> None:
        conn = raw_connect(url)
        mark = "?" if url.startswith("sqlite") else "%s"
        last = 0
        sqlite = url.startswith("sqlite")
        while rows := conn.execute(
            f"SELECT position, {COLUMNS} FROM events WHERE position > {mark}"
            f" ORDER BY position LIMIT 1000",
            (last,),
        ).fetchall():
            if sqlite:  # psycopg decodes jsonb itself; sqlite3 hands back text
                for row in rows:
                    json.loads(row[8]), json.loads(row[9]), json.loads(row[10])
            last = rows[-1][0]
        conn.close()

    theirs, mine = rate(total, raw), rate(total, ours)
    engine.dispose()
    return [
        Row(
            f"{backend(url)}: read_all paging",
            mine,
            "events/s",
            theirs,
            "raw paged SELECT",
            "≥ 0.8× raw",
            mine >= 0.8 * theirs,
        )
    ]


def backend(url: str) -> str:
    return "SQLite" if url.startswith("sqlite") else "PG"


def run_backend(url: str) -> list[Row]:
    with migrated(url):
        pass
    create_raw_table(url)
    rows: list[Row] = []
    raw = rate(SINGLE, lambda: raw_single_inserts(url, 0, SINGLE))
    ours = rate(SINGLE, lambda: store_single_appends(url, 0, SINGLE))
    rows.append(
        Row(
            f"{backend(url)}: single-event appends",
            ours,
            "events/s",
            raw,
            "raw single inserts",
            "≥ 0.7× raw",
            ours >= 0.7 * raw,
        )
    )
    raw = rate(BATCH, lambda: raw_executemany(url, BATCH))
    engine = make_engine(url)
    feed = feed_of(BATCH)
    ours = rate(BATCH, lambda: ingest_feed(engine, feed))
    engine.dispose()
    rows.append(
        Row(
            f"{backend(url)}: batch ingest of 20,000 events",
            ours,
            "events/s",
            raw,
            "raw executemany",
            "≥ 0.5× raw",
            ours >= 0.5 * raw,
        )
    )
    rows += read_paging(url)
    if not url.startswith("sqlite"):
        rows += scaling(url)
    return rows


def run(scratch: Path) -> list[Row]:
    rows: list[Row] = []
    with sqlite_database(scratch) as url:
        rows += run_backend(url)
    with pg_database() as url:
        rows += run_backend(url)
    return rows
