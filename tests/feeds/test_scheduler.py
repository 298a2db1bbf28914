"""The feed scheduler in its background thread: it syncs the registry, polls what is due,
and stops gracefully, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pytest_httpserver import HTTPServer
from sqlalchemy import Engine
from werkzeug import Request, Response

from tracker.commands.feeds import FeedStatus, get_feed, list_feeds
from tracker.feeds.scheduler import JOB_ID, feed_worker, start_feed_scheduler, stop_feed_scheduler
from tracker.settings import Settings

JSON = "application/json"
EMPTY_FEED = json.dumps({"tracker_feed": 1, "events": []}).encode()


def registry(tmp_path: Path, **urls: str) -> Path:
    path = tmp_path / "feeds.toml"
    entries = [
        f'[[feeds]]\nname = "{name}"\nadapter = "tracker"\nurl = "{url}"\ninterval = "1h"\n'
        for name, url in urls.items()
    ]
    path.write_text("\n".join(entries))
    return path


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_the_worker_syncs_the_registry_and_polls_due_feeds_in_the_background(
    engine: Engine, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/a").respond_with_data(EMPTY_FEED, content_type=JSON)
    httpserver.expect_request("/b").respond_with_data("down", status=503)
    path = registry(tmp_path, a=httpserver.url_for("/a"), b=httpserver.url_for("/b"))
    settings = Settings(feeds=path, worker_poll_seconds=0.05)

    with feed_worker(engine, settings) as scheduler:
        job = scheduler.get_job(JOB_ID)
        assert (job.max_instances, job.coalesce) == (1, True)
        assert eventually(lambda: all(f.last_polled_at for f in list_feeds(engine)))
        time.sleep(0.2)  # a few more ticks: nothing is due again for an hour

    assert not scheduler.running
    assert sorted(entry[0].path for entry in httpserver.log) == ["/a", "/b"]
    assert get_feed(engine, "a").status == "ok"
    assert get_feed(engine, "b").last_error == "HTTP 503 Service Unavailable"


def test_a_stop_waits_for_the_poll_in_flight_and_hands_back_the_other_claims(
    engine: Engine, httpserver: HTTPServer, tmp_path: Path
) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(_request: Request) -> Response:
        started.set()
        release.wait(5)
        return Response(EMPTY_FEED, content_type=JSON)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    httpserver.expect_request("/next").respond_with_data(EMPTY_FEED, content_type=JSON)
    # "a-slow" sorts first, so it is polled first; "b-next" waits its turn in the round.
    urls = {"a-slow": httpserver.url_for("/slow"), "b-next": httpserver.url_for("/next")}
    settings = Settings(feeds=registry(tmp_path, **urls), worker_poll_seconds=0.05)
    scheduler = start_feed_scheduler(engine, settings, worker_id="stopping-worker")
    assert started.wait(5)

    stopper = threading.Thread(target=stop_feed_scheduler, args=(scheduler,))
    stopper.start()
    time.sleep(0.1)
    assert stopper.is_alive(), "the stop waits for the poll in flight"
    release.set()
    stopper.join(5)

    slow_feed, next_feed = get_feed(engine, "a-slow"), get_feed(engine, "b-next")
    assert not stopper.is_alive()
    assert (slow_feed.status, slow_feed.poll_count, slow_feed.claimed_by) == ("ok", 1, None)
    assert _unpolled_and_free(next_feed)
    assert [entry[0].path for entry in httpserver.log] == ["/slow"]


def _unpolled_and_free(feed: FeedStatus) -> bool:
    return feed.poll_count == 0 and feed.claimed_by is None and feed.claimed_until is None
