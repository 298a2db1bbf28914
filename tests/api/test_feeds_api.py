"""`GET /v1/feeds` and `POST /v1/feeds/{name}/poll` against feeds served on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine

from tracker.api.app import create_app
from tracker.api.routes import feeds
from tracker.commands.feeds import get_feed, sync_registry
from tracker.feeds.registry import FeedConfig
from tracker.feeds.scheduler import manual_poller
from tracker.settings import Settings

JSON = "application/json"
BODY = json.dumps(
    {
        "tracker_feed": 1,
        "source": {"publisher": "Test desk", "url": "https://example.org/feed"},
        "events": [
            {
                "key": "test:acme",
                "type": "company.registered",
                "occurred_on": "2024-03",
                "data": {"company": "acme", "name": "Acme"},
            }
        ],
    }
).encode()


@pytest.fixture
def app(engine: Engine, settings: Settings, httpserver: HTTPServer) -> FastAPI:
    """The app as the composition root wires it: the feeds router and a manual poller."""
    httpserver.expect_request("/ok").respond_with_data(BODY, content_type=JSON)
    httpserver.expect_request("/broken").respond_with_data("oops", status=500)
    httpserver.expect_request("/gone").respond_with_data("", status=410)
    names = {"ok": "/ok", "broken": "/broken", "gone": "/gone"}
    configs = [
        FeedConfig(name, "tracker", httpserver.url_for(path), timedelta(hours=6))
        for name, path in names.items()
    ]
    sync_registry(engine, configs, datetime.now(UTC))
    application = create_app(engine, settings, extra_routers=[feeds.router])
    application.state.poll_feed_now = manual_poller(engine, settings)
    return application


@pytest.fixture
def admin(app: FastAPI, keys: dict[str, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(app, headers=keys["admin"]) as client:
        yield client


def test_a_reader_lists_every_feed_with_the_state_of_its_polls(
    reader: TestClient, admin: TestClient, anonymous: TestClient
) -> None:
    assert admin.post("/v1/feeds/ok/poll").status_code == 200

    response = reader.get("/v1/feeds")

    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    items = {item["name"]: item for item in body["items"]}
    assert list(items) == ["broken", "gone", "ok"]
    polled, waiting = items["ok"], items["broken"]
    assert {
        "name",
        "adapter",
        "url",
        "enabled",
        "status",
        "last_polled_at",
        "next_poll_at",
        "error_count",
        "last_error",
        "counts",
        "totals",
    } <= set(polled)
    assert (polled["adapter"], polled["enabled"], polled["status"]) == ("tracker", True, "ok")
    assert polled["counts"] == {"new": 1, "duplicate": 0, "rejected": 0}
    assert polled["totals"] == polled["counts"]
    assert polled["last_polled_at"] is not None and polled["error_count"] == 0
    assert (waiting["counts"], waiting["last_polled_at"]) == (None, None)
    assert anonymous.get("/v1/feeds").status_code == 401


def test_an_admin_poll_fetches_at_once_and_answers_with_the_feed_as_it_left_it(
    admin: TestClient, reader: TestClient
) -> None:
    first = admin.post("/v1/feeds/ok/poll")
    second = admin.post("/v1/feeds/ok/poll")
    broken = admin.post("/v1/feeds/broken/poll")

    assert first.status_code == second.status_code == 200
    assert first.json()["counts"] == {"new": 1, "duplicate": 0, "rejected": 0}
    assert second.json()["counts"] == {"new": 0, "duplicate": 1, "rejected": 0}
    assert second.json()["totals"] == {"new": 1, "duplicate": 1, "rejected": 0}
    assert broken.status_code == 200
    assert broken.json()["status"] == "error"
    assert broken.json()["last_error"] == "HTTP 500 Internal Server Error"
    assert broken.json()["error_count"] == 1
    assert reader.post("/v1/feeds/ok/poll").status_code == 403
    missing = admin.post("/v1/feeds/nope/poll")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no feed named 'nope'"


def test_a_feed_gone_410_is_disabled_and_a_poll_request_is_refused_saying_why(
    admin: TestClient, httpserver: HTTPServer
) -> None:
    gone = admin.post("/v1/feeds/gone/poll")
    refused = admin.post("/v1/feeds/gone/poll")

    assert gone.status_code == 200 and gone.json()["status"] == "disabled"
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "feed gone is disabled (410 Gone); re-enable it first"
    assert [entry[0].path for entry in httpserver.log] == ["/gone"]


def test_without_a_poller_in_the_process_a_poll_request_makes_the_feed_due(
    app: FastAPI, admin: TestClient, engine: Engine
) -> None:
    del app.state.poll_feed_now
    before = datetime.now(UTC)

    response = admin.post("/v1/feeds/ok/poll")

    assert response.status_code == 202
    assert response.json()["last_polled_at"] is None
    assert before <= get_feed(engine, "ok").next_poll_at <= datetime.now(UTC)
