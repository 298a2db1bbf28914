"""Polling against real HTTP servers on 127.0.0.1, on SQLite and PostgreSQL: conditional
GET, broken feeds of every kind, 410, pagination, the bundled seed feed, two workers."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, func, select
from werkzeug import Request, Response

from tracker.commands.feeds import FeedDisabled, get_feed, reenable_feed, sync_registry
from tracker.db import make_engine, read_connection
from tracker.feeds.adapters import ADAPTERS
from tracker.feeds.fetcher import make_client
from tracker.feeds.poller import MAX_PAGES, PollOutcome, poll_due, poll_feed_now
from tracker.feeds.registry import FeedConfig, load_registry
from tracker.feeds.schedule import FULL_FETCH_EVERY
from tracker.metrics import FEED_POLLS
from tracker.store.schema import events

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).parent / "samples"
START = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
JSON = "application/json"


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(timeout=0.3) as feed_client:
        yield feed_client


def feed(name: str, url: str, adapter: str = "tracker", **options: Any) -> FeedConfig:
    return FeedConfig(name=name, adapter=adapter, url=url, interval=HOUR, options=options)


def company(slug: str, day: str = "2024-03") -> dict[str, Any]:
    return {
        "key": f"test:{slug}",
        "type": "company.registered",
        "occurred_on": day,
        "data": {"company": slug, "name": slug.title()},
    }


def tracker_body(*items: dict[str, Any]) -> bytes:
    source = {"publisher": "Test desk", "url": "https://example.org/feed"}
    return json.dumps({"tracker_feed": 1, "source": source, "events": list(items)}).encode()


def event_count(engine: Engine) -> int:
    with read_connection(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def by_feed(outcomes: list[PollOutcome]) -> dict[str, PollOutcome]:
    return {outcome.feed: outcome for outcome in outcomes}


def test_an_unchanged_feed_answers_304_and_a_forced_full_fetch_finds_only_duplicates(
    engine: Engine, httpserver: HTTPServer, client: httpx.Client
) -> None:
    body = tracker_body(company("acme"), company("globex"))
    conditional: list[bool] = []

    def answer(request: Request) -> Response:
        conditional.append("If-None-Match" in request.headers)
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(body, content_type=JSON, headers={"ETag": '"v1"'})

    httpserver.expect_request("/feed.json").respond_with_handler(answer)
    clock = FakeClock()
    sync_registry(engine, [feed("acme", httpserver.url_for("/feed.json"))], clock())

    [first] = poll_due(engine, client, "w1", clock)
    assert (first.outcome, first.counts.new, first.counts.duplicate) == ("ok", 2, 0)
    for _ in range(2, FULL_FETCH_EVERY):
        clock.advance(HOUR)
        [again] = poll_due(engine, client, "w1", clock)
        assert again.outcome == "not_modified" and again.counts.new == 0
    clock.advance(HOUR)
    [full] = poll_due(engine, client, "w1", clock)

    assert (full.outcome, full.counts.new, full.counts.duplicate) == ("ok", 0, 2)
    assert conditional == [False] + [True] * (FULL_FETCH_EVERY - 2) + [False]
    status = get_feed(engine, "acme")
    assert status.poll_count == FULL_FETCH_EVERY and status.status == "ok"
    assert status.totals.to_json() == {"new": 2, "duplicate": 2, "rejected": 0}
    assert event_count(engine) == 2


def test_each_broken_feed_says_what_went_wrong_and_the_others_keep_polling(
    engine: Engine, httpserver: HTTPServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def hang(_request: Request) -> Response:
        time.sleep(1.0)
        return Response(tracker_body(), content_type=JSON)

    def crash(_body: bytes, _type: str | None, _options: Any) -> Any:
        raise RuntimeError("adapter bug")

    monkeypatch.setitem(ADAPTERS, "boom", crash)
    serve = httpserver.expect_request
    serve("/good").respond_with_data(tracker_body(company("acme")), content_type=JSON)
    serve("/malformed").respond_with_data(
        b'{"tracker_feed": 1, "events": ["unter', content_type=JSON
    )
    serve("/bomb").respond_with_data(
        (SAMPLES / "billion_laughs.xml").read_bytes(), content_type="application/atom+xml"
    )
    serve("/large").respond_with_data(b" " * 5000 + tracker_body(), content_type=JSON)
    serve("/html").respond_with_data(b"<html>login</html>", content_type="text/html")
    serve("/hang").respond_with_handler(hang)
    serve("/500").respond_with_data("oops", status=500)
    serve("/429").respond_with_data("slow down", status=429, headers={"Retry-After": "7200"})
    serve("/items").respond_with_data(
        tracker_body(
            company("initech"),
            company("impossible", day="2025-02-30"),
            {
                "key": "test:round",
                "type": "funding_round.announced",
                "occurred_on": "2025-02-03",
                "data": {
                    "company": "initech",
                    "round": "seed",
                    "money_raised": {"value": "5", "currency": "XYZ", "qualifier": "exact"},
                },
            },
        ),
        content_type=JSON,
    )
    url = httpserver.url_for
    configs = [
        feed("good", url("/good")),
        feed("malformed", url("/malformed")),
        feed("bomb", url("/bomb"), "github-releases", company="acme"),
        feed("large", url("/large")),
        feed("html", url("/html")),
        feed("hang", url("/hang")),
        feed("e500", url("/500")),
        feed("e429", url("/429")),
        feed("items", url("/items")),
        feed("crash", url("/good"), "boom"),
    ]
    clock = FakeClock()
    sync_registry(engine, configs, clock())
    polls_before = FEED_POLLS.labels(feed="e500", outcome="error")._value.get()

    outcomes = by_feed(poll_due(engine, client, "w1", clock, limit=20, max_bytes=4096))

    assert set(outcomes) == {config.name for config in configs}
    errors = {name: get_feed(engine, name).last_error for name in outcomes}
    assert errors["malformed"] == "invalid JSON: unterminated string at line 1 column 32"
    assert errors["bomb"] == "unsafe XML: a document type declaration (DTD) is not allowed"
    assert errors["large"] == "body larger than 4096 bytes"
    assert errors["html"] == "unexpected content type text/html: expected application/json"
    assert errors["hang"] == "timed out after 0.3s"
    assert errors["e500"] == "HTTP 500 Internal Server Error"
    assert errors["e429"] == "HTTP 429 Too Many Requests"
    assert errors["crash"] == "unexpected error: RuntimeError: adapter bug"
    for name in ("malformed", "bomb", "large", "html", "hang", "e500", "e429", "crash"):
        status = get_feed(engine, name)
        assert (status.status, status.error_count) == ("error", 1), name
        assert status.next_poll_at > clock() and status.claimed_by is None
    assert get_feed(engine, "e429").next_poll_at >= clock() + timedelta(seconds=7200)
    assert FEED_POLLS.labels(feed="e500", outcome="error")._value.get() == polls_before + 1

    good, items = get_feed(engine, "good"), get_feed(engine, "items")
    assert (good.status, good.counts and good.counts.new, good.last_error) == ("ok", 1, None)
    assert items.status == "ok" and items.counts is not None
    assert items.counts.to_json() == {"new": 1, "duplicate": 0, "rejected": 2}
    assert items.last_error is not None
    assert "item 1: occurred_on: impossible date '2025-02-30'" in items.last_error
    assert "item 2: data.money_raised.currency: unknown currency 'XYZ'" in items.last_error
    assert event_count(engine) == 2


def test_a_410_disables_the_feed_and_even_a_manual_poll_refuses_until_reenabled(
    engine: Engine, httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_oneshot_request("/gone").respond_with_data("", status=410)
    httpserver.expect_request("/gone").respond_with_data(
        tracker_body(company("acme")), content_type=JSON
    )
    clock = FakeClock()
    sync_registry(engine, [feed("gone", httpserver.url_for("/gone"))], clock())

    [outcome] = poll_due(engine, client, "w1", clock)
    clock.advance(timedelta(days=30))

    assert outcome.outcome == "gone"
    assert poll_due(engine, client, "w1", clock) == []
    with pytest.raises(FeedDisabled, match=r"^feed gone is disabled \(410 Gone\); re-enable it"):
        poll_feed_now(engine, client, "gone", clock)
    assert len(httpserver.log) == 1
    status = get_feed(engine, "gone")
    assert (status.status, status.disabled_reason) == ("disabled", "410 Gone")

    reenable_feed(engine, "gone", clock())
    again = poll_feed_now(engine, client, "gone", clock)
    assert (again.outcome, again.counts.new) == ("ok", 1)
    assert get_feed(engine, "gone").status == "ok"


def test_hugging_face_pages_are_followed_and_an_endless_chain_stops_at_the_bound(
    engine: Engine, httpserver: HTTPServer, client: httpx.Client
) -> None:
    def page(request: Request) -> Response:
        number = int(request.args.get("page", "1"))
        model = {"id": f"stepfun-ai/model-{number}", "createdAt": "2025-07-24T06:55:38.000Z"}
        link = f'<{httpserver.url_for("/models")}?page={number + 1}>; rel="next"'
        return Response(json.dumps([model]), content_type=JSON, headers={"Link": link})

    httpserver.expect_request("/models").respond_with_handler(page)
    clock = FakeClock()
    hub = feed("hub", httpserver.url_for("/models"), "huggingface", company="stepfun")
    sync_registry(engine, [hub], clock())

    [outcome] = poll_due(engine, client, "w1", clock)

    assert (outcome.outcome, outcome.counts.new) == ("ok", MAX_PAGES)
    assert len(httpserver.log) == MAX_PAGES


def test_the_bundled_seed_feed_polls_from_its_file_and_lands_40_events(
    engine: Engine, client: httpx.Client
) -> None:
    clock = FakeClock()
    sync_registry(engine, load_registry(ROOT / "feeds" / "feeds.toml"), clock())

    # The registry's other feeds are disabled (no internet here): only the seed is due.
    [outcome] = poll_due(engine, client, "w1", clock)

    assert (outcome.feed, outcome.outcome, outcome.counts.new) == ("seed", "ok", 40)
    assert event_count(engine) == 40
    clock.advance(timedelta(hours=6))
    [again] = poll_due(engine, client, "w1", clock)
    assert again.outcome == "not_modified"  # the file's size-and-mtime validator


def test_items_are_not_stored_twice_across_a_restart(
    engine: Engine, database_url: str, httpserver: HTTPServer, client: httpx.Client
) -> None:
    # No validators: every poll is a full fetch, so only the store's keys dedupe.
    body = tracker_body(company("acme"), company("globex"))
    httpserver.expect_request("/feed.json").respond_with_data(body, content_type=JSON)
    clock = FakeClock()
    sync_registry(engine, [feed("plain", httpserver.url_for("/feed.json"))], clock())
    [first] = poll_due(engine, client, "before-restart", clock)
    engine.dispose()

    restarted = make_engine(database_url)
    try:
        clock.advance(HOUR)
        [second] = poll_due(restarted, client, "after-restart", clock)
        assert first.counts.new == 2
        assert (second.counts.new, second.counts.duplicate) == (0, 2)
        assert event_count(restarted) == 2
        assert get_feed(restarted, "plain").totals.new == 2
    finally:
        restarted.dispose()


@pytest.mark.postgres_only
def test_two_workers_on_one_postgresql_never_poll_a_feed_twice(
    pg_engine: Engine, httpserver: HTTPServer
) -> None:
    hits: Counter[str] = Counter()
    lock = threading.Lock()

    def answer(request: Request) -> Response:
        with lock:
            hits[request.path] += 1
        time.sleep(0.01)  # long enough for the workers' rounds to overlap
        return Response(tracker_body(), content_type=JSON)

    httpserver.expect_request(re.compile("^/f/")).respond_with_handler(answer)
    names = [f"feed-{n}" for n in range(24)]
    clock = FakeClock()
    sync_registry(pg_engine, [feed(n, httpserver.url_for(f"/f/{n}")) for n in names], clock())
    start = threading.Barrier(2)
    polled: dict[str, list[str]] = {"w1": [], "w2": []}

    def work(worker: str) -> None:
        with make_client(timeout=5.0) as own_client:
            start.wait()
            while outcomes := poll_due(pg_engine, own_client, worker, clock, limit=3):
                polled[worker].extend(outcome.feed for outcome in outcomes)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in polled]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(polled["w1"] + polled["w2"]) == sorted(names)
    assert polled["w1"] and polled["w2"], "both workers took a share"
    assert hits == Counter({f"/f/{n}": 1 for n in names})
