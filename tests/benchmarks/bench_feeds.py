"""Feed polling benchmarks (issue #4), on SQLite and PostgreSQL, each beside a baseline
measured in the same run.

1. A real poll of a 10,000-item tracker feed: the feed JSON is served by a threaded
   werkzeug server on 127.0.0.1, registered through `commands.feeds.sync_registry` and
   polled by `poller.poll_due` (fetch, parse, validate, resolve, append, project, record).
   Baseline: the same 10,000 items, already parsed into drafts, appended straight
   through the store (`append_events` in chunks of the ingest's size, with the same
   idempotency keys) into a fresh database.
2. A poll that gets 304 (conditional GET, ETag unchanged): claim, GET, record. Baseline:
   plain httpx GETs with the same If-None-Match, getting the same 304 from the same server.
   Every FULL_FETCH_EVERY-th poll is unconditional by design; those are left out of the
   figure, and the 304 feed is a one-item feed so that they cost little.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.benchmarks.harness import Row, migrated, pg_database, sqlite_database
from tracker.commands.feeds import sync_registry
from tracker.commands.ingest import CHUNK, item_key
from tracker.db import write_transaction
from tracker.domain.envelope import parse_draft
from tracker.feeds.fetcher import make_client
from tracker.feeds.poller import poll_due
from tracker.feeds.registry import FeedConfig
from tracker.feeds.schedule import should_force_full
from tracker.store.appending import PendingEvent, append_events

ITEMS = 10_000
COMPANIES = 100
NOT_MODIFIED_POLLS = 300
PLAIN_GETS = 1000
INTERVAL = timedelta(hours=1)
SOURCE = {"publisher": "Bench desk", "url": "https://example.org/bench-feed"}
ETAG = '"bench-v1"'
JSON = "application/json"

Databases = Callable[[], AbstractContextManager[str]]  # a fresh database URL per use


class _QuietHandler(WSGIRequestHandler):
    """No access log: werkzeug would print a line per request to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class FeedServer:
    """Serves feed bodies by path on 127.0.0.1, with an ETag and 304 on If-None-Match."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        body = self.bodies.get(request.path)
        if body is None:
            response = Response("not found", status=404)
        elif request.headers.get("If-None-Match") == ETAG:
            response = Response(status=304, headers={"ETag": ETAG})
        else:
            response = Response(body, content_type=JSON, headers={"ETag": ETAG})
        return response(environ, start_response)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class FakeClock:
    """The poller's clock: advanced past the interval so the feed is due again."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def feed_items(count: int) -> list[dict[str, Any]]:
    """Companies registered first (as a desk's feed would), then models and rounds."""
    items: list[dict[str, Any]] = [
        {
            "key": f"bench:company:{n}",
            "type": "company.registered",
            "occurred_on": "2019-05",
            "data": {"company": f"bench-co-{n}", "name": f"Bench Co {n}"},
        }
        for n in range(min(COMPANIES, count))
    ]
    for n in range(len(items), count):
        company = f"bench-co-{n % COMPANIES}"
        if n % 2:
            items.append(
                {
                    "key": f"bench:model:{n}",
                    "type": "model.released",
                    "occurred_on": "2025-07-01",
                    "data": {"company": company, "model": f"model-{n}", "name": f"Model {n}"},
                }
            )
        else:
            money = {"value": str(1_000_000 + n), "currency": "USD", "qualifier": "exact"}
            items.append(
                {
                    "key": f"bench:round:{n}",
                    "type": "funding_round.announced",
                    "occurred_on": "2025-03-14",
                    "data": {
                        "company": company,
                        "round": "series_a",
                        "money_raised": money,
                        "lead_investors": [f"Fund {n % 7}"],
                    },
                }
            )
    return items


def feed_body(items: list[dict[str, Any]]) -> bytes:
    return json.dumps({"tracker_feed": 1, "source": SOURCE, "events": items}).encode()


@contextmanager
def fresh_database(url_source: Databases) -> Iterator[Engine]:
    with url_source() as url, migrated(url) as engine:
        yield engine


def store_appends(engine: Engine, items: list[dict[str, Any]]) -> float:
    """Items per second of the baseline: drafts built first, then appended in chunks."""
    sources = [SOURCE]
    prepared = [
        (
            item_key(item),
            PendingEvent(f"company-{item['data']['company']}", parse_draft(item, sources)),
        )
        for item in items
    ]
    started = time.perf_counter()
    for start in range(0, len(prepared), CHUNK):
        chunk = prepared[start : start + CHUNK]
        with write_transaction(engine) as conn:
            append_events(
                conn,
                [pending for _, pending in chunk],
                key_checked=True,
                item_keys={key: [pending.draft.id] for key, pending in chunk},
            )
    return len(items) / (time.perf_counter() - started)


def poll_big_feed(engine: Engine, url: str) -> float:
    """Items per second of one real poll of the 10,000-item feed (registry → poll_due)."""
    clock = FakeClock()
    sync_registry(engine, [FeedConfig("bench-big", "tracker", url, INTERVAL)], clock())
    with make_client() as client:
        started = time.perf_counter()
        [outcome] = poll_due(engine, client, "bench-worker", clock)
        elapsed = time.perf_counter() - started
    if (outcome.outcome, outcome.counts.new, outcome.counts.rejected) != ("ok", ITEMS, 0):
        raise RuntimeError(f"the benchmark poll did not ingest every item: {outcome}")
    return ITEMS / elapsed


def not_modified_polls(engine: Engine, url: str) -> float:
    """304-polls per second; the periodic unconditional polls are not counted."""
    clock = FakeClock()
    sync_registry(engine, [FeedConfig("bench-304", "tracker", url, INTERVAL)], clock())
    spent, counted = 0.0, 0
    with make_client() as client:
        poll_due(engine, client, "bench-worker", clock)  # the first poll fetches in full
        for number in range(2, NOT_MODIFIED_POLLS + 2):
            clock.advance(INTERVAL * 2)
            started = time.perf_counter()
            [outcome] = poll_due(engine, client, "bench-worker", clock)
            elapsed = time.perf_counter() - started
            if should_force_full(number):
                continue
            if outcome.outcome != "not_modified":
                raise RuntimeError(f"expected a 304 poll, got {outcome}")
            spent, counted = spent + elapsed, counted + 1
    return counted / spent


def plain_gets(url: str, count: int) -> float:
    with httpx.Client() as client:
        client.get(url, headers={"If-None-Match": ETAG})  # connect outside the timing
        started = time.perf_counter()
        for _ in range(count):
            if client.get(url, headers={"If-None-Match": ETAG}).status_code != 304:
                raise RuntimeError("the baseline GET did not get a 304")
        return count / (time.perf_counter() - started)


def run_backend(name: str, databases: Databases, server: FeedServer) -> Iterable[Row]:
    items = feed_items(ITEMS)
    with fresh_database(databases) as engine:
        store = store_appends(engine, items)
    with fresh_database(databases) as engine:
        polled = poll_big_feed(engine, server.url("/big.json"))
    yield Row(
        f"{name}: poll of a {ITEMS:,}-item feed (fetch → ingest → project → record)",
        polled,
        "items/s",
        store,
        "store append_events, same items",
        "≥ 0.5× store",
        polled >= 0.5 * store,
    )
    small = server.url("/small.json")
    plain = plain_gets(small, PLAIN_GETS)
    with fresh_database(databases) as engine:
        polls = not_modified_polls(engine, small)
    yield Row(
        f"{name}: poll answered 304 (claim → conditional GET → record)",
        polls,
        "polls/s",
        plain,
        "plain httpx GET → 304",
        "≥ 0.5× plain GET",
        polls >= 0.5 * plain,
    )


def run(scratch: Path) -> list[Row]:
    bodies = {"/big.json": feed_body(feed_items(ITEMS)), "/small.json": feed_body(feed_items(1))}
    rows: list[Row] = []
    with FeedServer(bodies) as server:
        rows += run_backend("SQLite", lambda: sqlite_database(scratch), server)
        rows += run_backend("PG", pg_database, server)
    return rows
