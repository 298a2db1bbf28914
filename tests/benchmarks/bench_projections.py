"""Projection and read benchmarks (issue #3) on PostgreSQL with 10,000 companies and
1,000,000 events, each figure beside a baseline measured in the same run."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.benchmarks.harness import Row, migrated, pg_database, psycopg_url
from tracker.db import make_engine, read_connection
from tracker.projections import queries
from tracker.projections.queries import company_state
from tracker.projections.rebuild import rebuild

COMPANIES = int(os.environ.get("BENCH_COMPANIES", "10000"))
PER_COMPANY = int(os.environ.get("BENCH_PER_COMPANY", "100"))
BIG = 1000
RECORDED = datetime(2026, 2, 1, tzinfo=UTC)


def event_rows(company: str, count: int) -> Iterator[tuple[Any, ...]]:
    """A plausible stream: registration, then rounds, roles, models and aliases."""
    stream = f"company-{company}"
    day = date(2015, 1, 1)
    yield _row(
        stream,
        1,
        "company.registered",
        day,
        {"company": company, "name": company.upper(), "aliases": [f"{company} labs"]},
    )
    for version in range(2, count + 1):
        day += timedelta(days=3)
        kind = version % 5
        if kind == 0:
            usd = str(1_000_000 * version)
            data: dict[str, Any] = {
                "company": company,
                "round": "strategic",
                "lead_investors": [f"fund {version % 7}"],
                "investors": [f"angel {version % 11}"],
                "money_raised": {
                    "value": usd,
                    "currency": "USD",
                    "qualifier": "about",
                    "value_usd": usd,
                    "usd_rate": "1",
                    "rate_date": day.isoformat(),
                },
            }
            yield _row(stream, version, "funding_round.announced", day, data)
        elif kind == 1:
            yield _row(
                stream,
                version,
                "leadership.appointed",
                day,
                {
                    "company": company,
                    "person": f"p-{version % 13}",
                    "person_name": f"P {version % 13}",
                    "role": "board_member",
                    "title": "Director",
                },
            )
        elif kind == 2:
            yield _row(
                stream,
                version,
                "leadership.departed",
                day,
                {"company": company, "person": f"p-{(version - 1) % 13}", "role": "board_member"},
            )
        elif kind == 3:
            yield _row(
                stream,
                version,
                "model.released",
                day,
                {
                    "company": company,
                    "model": f"m-{version}",
                    "name": f"M {version}",
                    "parameters_total": version * 1_000_000,
                    "modalities": ["text"],
                    "open_weights": True,
                },
            )
        else:
            yield _row(
                stream,
                version,
                "company.alias_added",
                day,
                {"company": company, "alias": f"{company} {version}"},
            )


def _row(stream: str, version: int, type_: str, day: date, data: dict[str, Any]) -> tuple[Any, ...]:
    sources = [{"url": f"https://example.org/{stream}/{version}", "publisher": "Bench"}]
    return (
        str(uuid.uuid4()),
        stream,
        version,
        type_,
        day,
        "day",
        RECORDED + timedelta(seconds=version),
        json.dumps(data),
        json.dumps(sources),
        "{}",
    )


def load(url: str, companies: int, per_company: int, big: bool) -> int:
    """COPY the synthetic log straight into the tables (the store's path is measured in
    bench_store; here only the read side is under test)."""
    total = 0
    with psycopg.connect(psycopg_url(url)) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY events (id, stream, version, type, occurred_on, occurred_precision,"
            " recorded_at, data, sources, event_metadata) FROM STDIN"
        ) as copy:
            for n in range(companies):
                for row in event_rows(f"c{n}", per_company):
                    copy.write_row(row)
                    total += 1
            if big:
                for row in event_rows("big", BIG):
                    copy.write_row(row)
                    total += 1
        with cur.copy("COPY streams (stream, version) FROM STDIN") as copy:
            for n in range(companies):
                copy.write_row((f"company-c{n}", per_company))
            if big:
                copy.write_row(("company-big", BIG))
        with cur.copy("COPY companies (slug, name, registered_at) FROM STDIN") as copy:
            for n in range(companies):
                copy.write_row((f"c{n}", f"C{n}", RECORDED))
            if big:
                copy.write_row(("big", "BIG", RECORDED))
        conn.commit()
        cur.execute("ANALYZE")
    return total


def raw_paged_read(url: str) -> float:
    started, count, last = time.perf_counter(), 0, 0
    with psycopg.connect(psycopg_url(url)) as conn:
        while rows := conn.execute(
            "SELECT position, id, stream, version, type, occurred_on, occurred_precision,"
            " recorded_at, data, sources, event_metadata, tx_id FROM events WHERE position > %s"
            " ORDER BY position LIMIT 5000",
            (last,),
        ).fetchall():
            count += len(rows)
            last = rows[-1][0]
    return count / (time.perf_counter() - started)


def timings(call: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return sorted(out)


def p(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def state_cost(url: str, slug: str, repeat: int = 200, **kwargs: Any) -> list[float]:
    """The query's cost with the per-process state cache emptied before every call, so
    each call reads and folds the stream (the HTTP figure measures the cached path)."""
    engine = make_engine(url)
    with read_connection(engine) as conn:

        def uncached() -> object:
            queries._STATES.clear()
            return company_state(conn, slug, as_of=kwargs.get("as_of"), known_at=None)

        return timings(uncached, repeat)


@contextmanager
def server(url: str, port: int) -> Iterator[str]:
    env = {**os.environ, "TRACKER_DATABASE_URL": url, "TRACKER_LOG_LEVEL": "WARNING"}
    key = (
        subprocess.run(
            [sys.executable, "-m", "tracker.cli", "keys", "create", "--scope", "read"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{base}/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield key
    finally:
        proc.terminate()
        proc.wait(30)


def load_test(
    url: str, headers: dict[str, str], seconds: float = 5.0, clients: int = 8
) -> tuple[float, float, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        mine = []
        with httpx.Client(headers=headers) as http:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                http.get(url).raise_for_status()
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return len(latencies) / seconds, statistics.median(latencies), p(latencies, 0.99)


def run(scratch: Path) -> list[Row]:
    rows: list[Row] = []
    with pg_database() as small_url:
        with migrated(small_url):
            pass
        load(small_url, 10, 100, big=False)
        small = state_cost(small_url, "c5")
    with pg_database() as url:
        with migrated(url) as engine:
            total = load(url, COMPANIES, PER_COMPANY, big=True)
            raw = raw_paged_read(url)
            started = time.perf_counter()
            rebuild(engine)
            ours = total / (time.perf_counter() - started)
        rows.append(
            Row(
                f"PG: projection rebuild ({total:,} events)",
                ours,
                "events/s",
                raw,
                "raw paged read",
                "≥ 20,000/s and ≥ 0.3× raw",
                ours >= 20_000 and ours >= 0.3 * raw,
            )
        )
        large = state_cost(url, "c5")
        rows.append(
            Row(
                "PG: state query, 1,000,000 vs 1,000 events in the log (median ms)",
                statistics.median(large) * 1000,
                "ms",
                statistics.median(small) * 1000,
                "same query, 1,000-event log",
                "no growth (ratio ≈ 1)",
                statistics.median(large) <= 2 * statistics.median(small),
            )
        )
        plain = state_cost(url, "big")
        as_of = state_cost(url, "big", as_of=date(2020, 6, 30))
        rows.append(
            Row(
                "PG: as_of on a 1,000-event company (p99 ms)",
                p(as_of, 0.99) * 1000,
                "ms",
                p(plain, 0.99) * 1000,
                "plain state query p99",
                "≤ 5× plain",
                p(as_of, 0.99) <= 5 * p(plain, 0.99),
            )
        )
        port = 18000 + os.getpid() % 1000
        with server(url, port) as key:
            auth = {"Authorization": f"Bearer {key}"}
            health_rps, _, _ = load_test(f"http://127.0.0.1:{port}/health", {})
            rps, p50, p99 = load_test(f"http://127.0.0.1:{port}/v1/companies/c5", auth)
        rows.append(
            Row(
                f"PG: GET /v1/companies/{{slug}} (p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms)",
                rps,
                "req/s",
                health_rps,
                "GET /health, same server",
                "≥ 0.5× /health",
                rps >= 0.5 * health_rps,
            )
        )
    return rows
