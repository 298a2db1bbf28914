"""`/v1/subscriptions` on SQLite and PostgreSQL: admin only, validation as problem JSON,
PATCH semantics, the delivery log and its actions, and one webhook end to end to a
receiver on 127.0.0.1. Events are recorded through the command rather than
POST /v1/events, whose read-your-writes wait has its own tests."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine
from standardwebhooks import Webhook

from tracker.api.app import create_app
from tracker.api.routes import subscriptions
from tracker.commands.recording import record_events
from tracker.settings import Settings
from tracker.webhooks.delivery_worker import deliver_due
from tracker.webhooks.dispatcher import dispatch_new_events
from tracker.webhooks.sender import delivery_client
from tracker.webhooks.worker import url_checker

PROBLEM = "application/problem+json"
HOST = "hooks.example.test"
ADDRESSES = {HOST: "127.0.0.1", "rebound.example.test": "169.254.169.254"}


def resolver(host: str, port: int) -> list[str]:
    """Test names only; the metadata address is an answer, never a destination."""
    return [ADDRESSES[host]]


@pytest.fixture
def app(engine: Engine) -> FastAPI:
    """Wired as the composition root does it, with TRACKER_ALLOW_PRIVATE_WEBHOOKS set."""
    settings = Settings(database_url="sqlite://", allow_private_webhooks=True)
    application = create_app(engine, settings)
    if not any(getattr(r, "path", "").startswith("/v1/subscriptions") for r in application.routes):
        application.include_router(subscriptions.router)
    application.state.check_webhook_url = url_checker(settings, resolve=resolver)
    return application


@pytest.fixture
def admin(app: FastAPI, keys: dict[str, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(app, headers=keys["admin"]) as client:
        yield client


@pytest.fixture
def companies(engine: Engine) -> None:
    """Registered through the command, not POST /v1/events, which would also wait for
    the projections (read-your-writes): names resolve through the directory alone."""
    for slug, name, aliases in (
        ("stepfun", "StepFun", ["Step Star", "阶跃星辰"]),
        ("moonshot", "Moonshot AI", ["Kimi"]),
        ("kimi-labs", "Kimi Labs", ["Kimi"]),
    ):
        data = {"company": slug, "name": name, "aliases": aliases}
        record_events(
            engine, [{"type": "company.registered", "occurred_on": "2023-04", "data": data}]
        )


def url(path: str = "/hook", port: int = 9) -> str:
    return f"http://{HOST}:{port}{path}"


def errors(response: Any) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return [error["loc"] for error in response.json()["errors"]]


def test_only_an_admin_key_may_manage_subscriptions(
    anonymous: TestClient, keys: dict[str, dict[str, str]], admin: TestClient
) -> None:
    body = {"url": url()}
    assert anonymous.post("/v1/subscriptions", json=body).status_code == 401
    for scope in ("read", "write"):
        response = anonymous.post("/v1/subscriptions", json=body, headers=keys[scope])
        assert response.status_code == 403
        assert anonymous.get("/v1/subscriptions", headers=keys[scope]).status_code == 403
    assert admin.post("/v1/subscriptions", json=body).status_code == 201


def test_create_shows_the_secret_once_and_lists_page_with_a_cursor(
    admin: TestClient, companies: None
) -> None:
    created = admin.post(
        "/v1/subscriptions",
        json={"url": url(), "event_types": ["leadership.*"], "companies": ["阶跃星辰"]},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert (body["companies"], body["event_types"], body["enabled"]) == (
        ["stepfun"],
        ["leadership.*"],
        True,
    )
    admin.post("/v1/subscriptions", json={"url": url("/other")})

    shown = admin.get(f"/v1/subscriptions/{body['id']}").json()
    first = admin.get("/v1/subscriptions", params={"limit": 1}).json()
    rest = admin.get("/v1/subscriptions", params={"cursor": first["next_cursor"]}).json()

    assert "secret" not in shown and shown["id"] == body["id"]
    assert [item["id"] for item in first["items"]] == [body["id"]]
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert all("secret" not in item for item in first["items"] + rest["items"])


def test_invalid_subscriptions_are_422_naming_each_field(
    admin: TestClient, companies: None
) -> None:
    assert errors(
        admin.post(
            "/v1/subscriptions",
            json={"url": url(), "companies": ["Kimi", "Nobody"], "event_types": ["lead.*"]},
        )
    ) == [
        ["body", "event_types", 0],
        ["body", "companies", 0],
        ["body", "companies", 1],
    ]
    assert errors(admin.post("/v1/subscriptions", json={"url": url(), "colour": 1})) == [
        ["body", "colour"]
    ]
    assert errors(admin.post("/v1/subscriptions", json={})) == [["body", "url"]]


def test_the_ssrf_guard_refuses_an_unsafe_url_at_save(admin: TestClient) -> None:
    for unsafe in ("http://rebound.example.test/hook", "http://169.254.169.254/latest"):
        response = admin.post("/v1/subscriptions", json={"url": unsafe})
        assert errors(response) == [["body", "url"]]
        assert "metadata" in response.json()["errors"][0]["msg"]
    assert errors(admin.post("/v1/subscriptions", json={"url": "ftp://hooks.example.test/"})) == [
        ["body", "url"]
    ]
    assert admin.get("/v1/subscriptions").json()["items"] == []


def test_patch_changes_the_fields_given_and_delete_removes(
    admin: TestClient, companies: None
) -> None:
    sub = admin.post("/v1/subscriptions", json={"url": url(), "description": "ops"}).json()

    patched = admin.patch(f"/v1/subscriptions/{sub['id']}", json={"companies": ["Kimi Labs"]})
    disabled = admin.patch(f"/v1/subscriptions/{sub['id']}", json={"enabled": False})

    assert patched.status_code == 200
    assert (patched.json()["companies"], patched.json()["description"]) == (["kimi-labs"], "ops")
    assert disabled.json()["disabled_reason"] == "disabled by an operator"
    assert errors(admin.patch(f"/v1/subscriptions/{sub['id']}", json={"url": None})) == [
        ["body", "url"]
    ]
    assert admin.patch("/v1/subscriptions/sub_nope", json={}).status_code == 404
    assert admin.delete(f"/v1/subscriptions/{sub['id']}").status_code == 204
    missing = admin.get(f"/v1/subscriptions/{sub['id']}")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


def test_rotate_ping_retry_and_replay(admin: TestClient) -> None:
    sub = admin.post("/v1/subscriptions", json={"url": url()}).json()
    base = f"/v1/subscriptions/{sub['id']}"

    rotated = admin.post(f"{base}/rotate-secret").json()
    ping = admin.post(f"{base}/ping")
    retried = admin.post(f"{base}/deliveries/{ping.json()['id']}/retry")
    replayed = admin.post(f"{base}/replay", params={"from_position": 0})
    listed = admin.get(f"{base}/deliveries", params={"status": "pending"}).json()

    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != sub["secret"]
    expires = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert abs(expires - datetime.now(UTC) - timedelta(hours=24)) < timedelta(minutes=1)
    assert ping.status_code == 202 and ping.json()["event_type"] == "webhook.ping"
    assert retried.status_code == 202 and retried.json()["status"] == "pending"
    assert replayed.status_code == 202
    assert replayed.json() == {"deliveries": 0, "replay": 1, "next_position": None}
    assert [item["id"] for item in listed["items"]] == [ping.json()["id"]]
    assert listed["next_cursor"] is None
    assert admin.post(f"{base}/deliveries/msg_nope/retry").status_code == 404
    assert errors(admin.post(f"{base}/replay")) == [["query", "from_position"]]


def test_a_subscription_made_over_rest_receives_a_signed_event(
    admin: TestClient, companies: None, engine: Engine, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("thanks")
    sub = admin.post(
        "/v1/subscriptions",
        json={"url": url("/hook", httpserver.port), "companies": ["Step Star"]},
    ).json()
    event = {
        "type": "leadership.appointed",
        "occurred_on": "2026-01-26",
        "data": {"company": "Step Star", "person": "yin-qi", "person_name": "Yin Qi",
                 "role": "chairman"},
    }  # fmt: skip
    (recorded,) = record_events(engine, [event]).events

    deadline = time.monotonic() + 10
    with delivery_client() as client:
        while not httpserver.log and time.monotonic() < deadline:
            dispatch_new_events(engine)
            deliver_due(
                engine, client, "api-test", clock=lambda: datetime.now(UTC), resolve=resolver,
                allow_private=True, rng=random.Random(3),
            )  # fmt: skip
            time.sleep(0.02)

    ((request, _),) = httpserver.log
    payload = Webhook(sub["secret"]).verify(request.get_data(), dict(request.headers))
    assert payload["type"] == "leadership.appointed"
    assert payload["data"] == recorded.envelope()
    assert payload["data"]["data"]["company"] == "stepfun"
    (delivery,) = admin.get(f"/v1/subscriptions/{sub['id']}/deliveries").json()["items"]
    assert delivery["id"] == request.headers["webhook-id"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == (
        "succeeded",
        1,
        200,
    )
