"""The delivery worker against real receivers on 127.0.0.1, on SQLite and PostgreSQL.

Subscriptions name "hooks.example.test" (RFC 2606 reserves .test: it never resolves);
the injected resolver maps it to 127.0.0.1, and `allow_private=True` stands for
TRACKER_ALLOW_PRIVATE_WEBHOOKS. Tests of the SSRF guard only make the resolver *answer*
a forbidden address and check that no request is made. Clocks are injected; they start
at the real time so that `standardwebhooks.Webhook.verify` (5 minutes' tolerance)
accepts the signed timestamps.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, func, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from werkzeug import Request, Response

from tracker.commands.deliveries import list_deliveries, ping_subscription, replay_deliveries
from tracker.commands.recording import record_events
from tracker.commands.subscriptions import create_subscription, get_subscription, rotate_secret
from tracker.commands.webhook_tables import deliveries, delivery_attempts
from tracker.db import read_connection
from tracker.metrics import REGISTRY
from tracker.settings import Settings
from tracker.webhooks.delivery_claims import claim_due, lease_for
from tracker.webhooks.delivery_worker import deliver_due
from tracker.webhooks.dispatcher import dispatch_new_events
from tracker.webhooks.sender import delivery_client
from tracker.webhooks.worker import start_webhook_worker

HOST = "hooks.example.test"


class Clock:
    """A settable clock shared by the dispatcher and the workers of a test."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Call:
    body: bytes
    headers: dict[str, str]
    at: float

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    def json(self, secret: str) -> Any:
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """A webhook endpoint: records each call, answers from `answers`, then 200."""

    answers: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    in_flight: set[str] = field(default_factory=set)
    overlaps: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        call = Call(request.get_data(), headers, time.monotonic())
        with self.lock:
            if call.id in self.in_flight:  # the same delivery sent twice at once
                self.overlaps.append(call.id)
            self.in_flight.add(call.id)
            self.calls.append(call)
            status, extra, delay = self.answers.pop(0) if self.answers else (200, {}, 0.0)
        try:
            time.sleep(delay)
            return Response("ok", status=status, headers=extra)
        finally:
            with self.lock:
                self.in_flight.discard(call.id)


def loopback(host: str, port: int) -> list[str]:
    assert host == HOST, f"unexpected lookup of {host}"
    return ["127.0.0.1"]


@pytest.fixture
def server(httpserver: HTTPServer) -> HTTPServer:
    return httpserver


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with delivery_client() as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(engine: Engine) -> Engine:
    record_events(engine, [registered("stepfun", "StepFun", "Step Star", "阶跃星辰")])
    record_events(engine, [registered("moonshot", "Moonshot AI", "Dark Side of the Moon")])
    return engine


def registered(slug: str, name: str, *aliases: str) -> dict[str, Any]:
    data = {"company": slug, "name": name, "aliases": list(aliases)}
    return {"type": "company.registered", "occurred_on": "2023-04", "data": data}


def appointed(company: str, person: str) -> dict[str, Any]:
    data = {"company": company, "person": person, "person_name": person, "role": "ceo"}
    return {"type": "leadership.appointed", "occurred_on": "2026-01-26", "data": data}


def released(company: str, model: str) -> dict[str, Any]:
    data = {"company": company, "model": model, "name": model}
    return {"type": "model.released", "occurred_on": "2025-07", "data": data}


def endpoint(server: HTTPServer, path: str, receiver: Receiver | None = None) -> Receiver:
    receiver = receiver or Receiver()
    server.expect_request(path, method="POST").respond_with_handler(receiver)
    return receiver


def subscribe(engine: Engine, server: HTTPServer, path: str, **filters: Any) -> tuple[str, str]:
    """A subscription to http://HOST:port/path; returns its id and secret."""
    created = create_subscription(
        engine, url=f"http://{HOST}:{server.port}{path}", check_url=lambda url: None, **filters
    )
    return created.subscription["id"], created.secret


def dispatch(engine: Engine, clock: Clock, expected: int, timeout: float = 10.0) -> None:
    """Dispatch until `expected` deliveries exist (PostgreSQL's gap-free reader may wait
    a moment for other transactions in the cluster)."""
    deadline = time.monotonic() + timeout
    while True:
        dispatch_new_events(engine, clock=clock)
        if count(engine) >= expected or time.monotonic() > deadline:
            assert count(engine) == expected
            return
        time.sleep(0.02)


def count(engine: Engine, status: str | None = None) -> int:
    query = select(func.count()).select_from(deliveries)
    if status is not None:
        query = query.where(deliveries.c.status == status)
    with read_connection(engine) as conn:
        return int(conn.execute(query).scalar_one())


def deliver(
    engine: Engine,
    client: httpx.Client,
    clock: Clock,
    *,
    worker: str = "worker-1",
    timeout: float = 5.0,
    resolve: Any = loopback,
) -> int:
    return deliver_due(
        engine,
        client,
        worker,
        clock=clock,
        resolve=resolve,
        allow_private=True,
        rng=random.Random(7),
        limit=10,
        timeout=timeout,
    )


def only(engine: Engine, subscription: str) -> dict[str, Any]:
    (item,) = list_deliveries(engine, subscription).items
    return item


def metric(outcome: str) -> float:
    value = REGISTRY.get_sample_value("tracker_webhook_deliveries_total", {"outcome": outcome})
    return value or 0.0


def test_a_delivery_arrives_signed_and_the_receiver_verifies_it(
    log: Engine,
    server: HTTPServer,
    client: httpx.Client,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = endpoint(server, "/hook")
    sub, secret = subscribe(log, server, "/hook")
    (event,) = record_events(log, [appointed("stepfun", "yin-qi")]).events
    dispatch(log, clock, 1)
    before = metric("succeeded")

    with caplog.at_level(logging.DEBUG):
        assert deliver(log, client, clock) == 1

    (call,) = receiver.calls
    body = call.json(secret)
    assert body["type"] == "leadership.appointed"
    assert body["data"] == event.envelope()
    assert body["timestamp"] == event.recorded_at.isoformat()
    delivery = only(log, sub)
    assert call.id == delivery["id"] and call.id.startswith("msg_")
    assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == (
        "succeeded",
        1,
        200,
    )
    assert get_subscription(log, sub)["last_success_at"] == clock.now
    assert metric("succeeded") == before + 1
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert secret not in logged and secret.removeprefix("whsec_") not in logged


def test_filters_pick_by_exact_type_by_prefix_and_by_company_alias(
    log: Engine, server: HTTPServer, client: httpx.Client, clock: Clock
) -> None:
    exact = endpoint(server, "/models")
    prefix = endpoint(server, "/leadership")
    company = endpoint(server, "/stepfun")
    subscribe(log, server, "/models", event_types=["model.released"])
    subscribe(log, server, "/leadership", event_types=["leadership.*"])
    subscribe(log, server, "/stepfun", companies=["Step Star"])
    record_events(
        log,
        [appointed("moonshot", "yang-zhilin"), released("stepfun", "step-3")],
    )
    dispatch(log, clock, 3)

    while deliver(log, client, clock):
        pass

    def seen(receiver: Receiver) -> list[tuple[str, str]]:
        bodies = [json.loads(call.body) for call in receiver.calls]
        return [(body["type"], body["data"]["data"]["company"]) for body in bodies]

    assert seen(exact) == [("model.released", "stepfun")]
    assert seen(prefix) == [("leadership.appointed", "moonshot")]
    assert seen(company) == [("model.released", "stepfun")]


def test_a_receiver_that_fails_then_recovers_gets_the_same_webhook_id_again(
    log: Engine, server: HTTPServer, client: httpx.Client, clock: Clock
) -> None:
    receiver = endpoint(server, "/hook", Receiver(answers=[(500, {}, 0.0)]))
    sub, secret = subscribe(log, server, "/hook")
    record_events(log, [appointed("stepfun", "yin-qi")])
    dispatch(log, clock, 1)

    assert deliver(log, client, clock) == 1
    failed = only(log, sub)
    assert (failed["status"], failed["attempts"], failed["last_error"]) == (
        "pending",
        1,
        "HTTP 500",
    )
    # Svix's schedule: the second attempt 5 s (±10 %) after the first failed.
    wait = failed["next_attempt_at"] - clock.now
    assert timedelta(seconds=4.5) <= wait <= timedelta(seconds=5.5)
    assert get_subscription(log, sub)["failing_since"] == clock.now
    assert deliver(log, client, clock) == 0  # not due yet

    clock.advance(timedelta(seconds=6))
    assert deliver(log, client, clock) == 1

    first, second = receiver.calls
    assert first.id == second.id == failed["id"]
    assert first.json(secret) == second.json(secret)
    assert only(log, sub)["status"] == "succeeded"
    assert get_subscription(log, sub)["failing_since"] is None
    with read_connection(log) as conn:
        numbers = conn.execute(select(delivery_attempts.c.number, delivery_attempts.c.status))
        assert sorted(numbers) == [(1, 500), (2, 200)]


def test_410_gone_disables_the_subscription_and_cancels_what_is_queued(
    log: Engine, server: HTTPServer, client: httpx.Client, clock: Clock
) -> None:
    endpoint(server, "/hook", Receiver(answers=[(410, {}, 0.0)]))
    sub, _ = subscribe(log, server, "/hook")
    record_events(log, [appointed("stepfun", "yin-qi"), appointed("stepfun", "jiang-daxin")])
    dispatch(log, clock, 2)

    assert deliver(log, client, clock) == 1

    subscription = get_subscription(log, sub)
    assert subscription["enabled"] is False
    assert "410" in subscription["disabled_reason"]
    statuses = sorted(d["status"] for d in list_deliveries(log, sub).items)
    assert statuses == ["cancelled", "failed"]
    clock.advance(timedelta(days=1))
    assert deliver(log, client, clock) == 0


def test_retry_after_is_honoured(
    log: Engine, server: HTTPServer, client: httpx.Client, clock: Clock
) -> None:
    receiver = endpoint(server, "/hook", Receiver(answers=[(429, {"Retry-After": "120"}, 0.0)]))
    sub, _ = subscribe(log, server, "/hook")
    record_events(log, [appointed("stepfun", "yin-qi")])
    dispatch(log, clock, 1)

    deliver(log, client, clock)
    assert only(log, sub)["next_attempt_at"] == clock.now + timedelta(seconds=120)

    clock.advance(timedelta(seconds=60))  # the schedule alone would have retried by now
    assert deliver(log, client, clock) == 0
    clock.advance(timedelta(seconds=61))
    assert deliver(log, client, clock) == 1
    assert len(receiver.calls) == 2 and only(log, sub)["status"] == "succeeded"


def test_a_hanging_receiver_times_out_without_delaying_other_subscriptions(
    log: Engine, server: HTTPServer, client: httpx.Client, clock: Clock
) -> None:
    endpoint(server, "/slow", Receiver(answers=[(200, {}, 1.5)]))
    fast = endpoint(server, "/fast")
    slow_sub, _ = subscribe(log, server, "/slow")
    subscribe(log, server, "/fast")
    record_events(log, [appointed("stepfun", "yin-qi")])
    dispatch(log, clock, 2)

    started = time.monotonic()
    assert deliver(log, client, clock, timeout=0.4) == 2

    assert fast.calls[0].at - started < 0.4  # sent beside the slow one, not after it
    slow = only(log, slow_sub)
    assert slow["status"] == "pending" and "timed out" in slow["last_error"]


def test_both_secrets_sign_during_a_rotation_and_only_the_new_one_after_24_hours(
    log: Engine, server: HTTPServer, client: httpx.Client, clock: Clock
) -> None:
    receiver = endpoint(server, "/hook")
    sub, old = subscribe(log, server, "/hook")
    new = rotate_secret(log, sub, clock=clock).secret
    record_events(log, [appointed("stepfun", "yin-qi")])
    dispatch(log, clock, 1)
    deliver(log, client, clock)

    during = receiver.calls[0]
    assert during.json(old) == during.json(new)
    assert len(during.headers["webhook-signature"].split()) == 2

    clock.advance(timedelta(hours=24, seconds=1))
    record_events(log, [appointed("stepfun", "jiang-daxin")])
    dispatch(log, clock, 2)
    deliver(log, client, clock)

    after = receiver.calls[1]
    # The worker's clock is a day ahead, beyond verify()'s 5-minute tolerance, so
    # check the one signature with the library's own signer at the signed timestamp.
    signed_at = datetime.fromtimestamp(int(after.headers["webhook-timestamp"]), UTC)
    text = after.body.decode()
    assert after.headers["webhook-signature"] == Webhook(new).sign(after.id, signed_at, text)
    assert after.headers["webhook-signature"] != Webhook(old).sign(after.id, signed_at, text)


def test_only_the_new_secret_verifies_once_the_overlap_has_passed(
    log: Engine, server: HTTPServer, client: httpx.Client, clock: Clock
) -> None:
    receiver = endpoint(server, "/hook")
    sub, old = subscribe(log, server, "/hook")
    new = rotate_secret(log, sub, clock=Clock(clock.now - timedelta(hours=25))).secret
    ping_subscription(log, sub, clock=clock)

    deliver(log, client, clock)

    (call,) = receiver.calls
    assert call.json(new)["type"] == "webhook.ping"
    with pytest.raises(WebhookVerificationError):
        call.json(old)


def test_a_ping_and_a_replay_are_delivered_like_events(
    log: Engine, server: HTTPServer, client: httpx.Client, clock: Clock
) -> None:
    receiver = endpoint(server, "/hook")
    sub, secret = subscribe(log, server, "/hook", event_types=["leadership.*"])
    record_events(log, [appointed("stepfun", "yin-qi")])
    dispatch(log, clock, 1)
    deliver(log, client, clock)

    ping = ping_subscription(log, sub, clock=clock)
    replayed = replay_deliveries(log, sub, 0, clock=clock)
    while deliver(log, client, clock):
        pass

    live, *later = receiver.calls
    by_id = {call.id: call for call in later}  # the ping and the replay go side by side
    pinged = by_id.pop(ping["id"])
    (again,) = by_id.values()
    assert pinged.json(secret) == {
        "type": "webhook.ping",
        "timestamp": ping["created_at"].isoformat(),
        "data": {"subscription_id": sub, "url": f"http://{HOST}:{server.port}/hook"},
    }
    assert replayed.deliveries == 1 and again.id != live.id
    assert again.json(secret)["data"] == live.json(secret)["data"]


def test_per_subscription_order_holds_while_the_oldest_waits_but_a_ping_goes_ahead(
    log: Engine, server: HTTPServer, client: httpx.Client, clock: Clock
) -> None:
    receiver = endpoint(server, "/hook", Receiver(answers=[(503, {}, 0.0)]))
    sub, secret = subscribe(log, server, "/hook")
    record_events(log, [appointed("stepfun", "yin-qi")])
    record_events(log, [appointed("stepfun", "jiang-daxin")])
    dispatch(log, clock, 2)

    assert deliver(log, client, clock) == 1  # only the oldest; it fails
    assert deliver(log, client, clock) == 0  # the next waits behind it
    ping_subscription(log, sub, clock=clock)
    assert deliver(log, client, clock) == 1  # a ping does not wait
    clock.advance(timedelta(seconds=6))
    while deliver(log, client, clock):
        pass

    people = [call.json(secret)["data"].get("data", {}).get("person") for call in receiver.calls]
    assert people == ["yin-qi", None, "yin-qi", "jiang-daxin"]


def test_the_ssrf_guard_at_send_refuses_a_rebound_address_without_connecting(
    log: Engine, server: HTTPServer, clock: Clock
) -> None:
    sub, _ = subscribe(log, server, "/hook")
    record_events(log, [appointed("stepfun", "yin-qi"), appointed("stepfun", "jiang-daxin")])
    dispatch(log, clock, 2)

    def rebound(host: str, port: int) -> list[str]:
        return ["169.254.169.254"]  # an answer only: no test ever connects there

    def no_request(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a request was made to {request.url}")

    with httpx.Client(transport=httpx.MockTransport(no_request)) as guarded:
        assert deliver(log, guarded, clock, resolve=rebound) == 1

    assert server.log == []
    subscription = get_subscription(log, sub)
    assert subscription["enabled"] is False
    assert "metadata" in subscription["disabled_reason"]
    statuses = sorted(d["status"] for d in list_deliveries(log, sub).items)
    assert statuses == ["cancelled", "failed"]


def test_five_days_without_a_success_disable_the_subscription(
    log: Engine, server: HTTPServer, client: httpx.Client
) -> None:
    clock = Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    endpoint(server, "/hook", Receiver(answers=[(500, {}, 0.0)] * 3))
    sub, _ = subscribe(log, server, "/hook")
    record_events(log, [appointed("stepfun", "yin-qi")])
    dispatch(log, clock, 1)
    started = clock.now

    deliver(log, client, clock)
    clock.advance(timedelta(days=4))
    deliver(log, client, clock)
    assert get_subscription(log, sub)["enabled"] is True

    clock.advance(timedelta(days=1))
    deliver(log, client, clock)

    subscription = get_subscription(log, sub)
    assert subscription["enabled"] is False
    assert subscription["failing_since"] == started
    assert "5 days" in subscription["disabled_reason"]
    assert "HTTP 500" in subscription["disabled_reason"]
    assert only(log, sub)["status"] == "failed"


@pytest.mark.postgres_only
def test_two_workers_on_postgresql_deliver_everything_once_even_after_a_crash(
    pg_engine: Engine, server: HTTPServer
) -> None:
    record_events(pg_engine, [registered("stepfun", "StepFun")])
    clock = Clock()
    receivers = {}
    for path in ("/a", "/b", "/c"):
        receivers[subscribe(pg_engine, server, path)[0]] = endpoint(
            server, path, Receiver(answers=[(200, {}, 0.01)] * 20)
        )
    for n in range(20):
        record_events(pg_engine, [appointed("stepfun", f"person-{n}")])
    dispatch(pg_engine, clock, 60)

    # A worker claims the oldest delivery of each subscription, then dies before sending.
    crashed = claim_due(pg_engine, "crashed", clock(), 10, lease_for(5.0))
    assert len(crashed) == 3
    with delivery_client() as client:
        assert deliver(pg_engine, client, clock) == 0  # order: the rest waits behind them
    clock.advance(lease_for(5.0) + timedelta(seconds=1))  # the lease runs out

    failures: list[BaseException] = []
    sent: dict[str, int] = {}

    def work(name: str) -> None:
        deadline = time.monotonic() + 30
        sent[name] = 0
        try:
            with delivery_client() as client:
                while count(pg_engine, "succeeded") < 60 and time.monotonic() < deadline:
                    sent[name] += deliver(pg_engine, client, clock, worker=name)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert count(pg_engine, "succeeded") == 60
    assert sum(sent.values()) == 60
    for sub, receiver in receivers.items():
        expected = {d["id"]: d["position"] for d in list_deliveries(pg_engine, sub).items}
        received = [call.id for call in receiver.calls]
        assert sorted(received) == sorted(expected)  # every one, and each exactly once
        assert receiver.overlaps == []
        positions = [expected[call_id] for call_id in received]
        assert positions == sorted(positions)  # in log order
    assert {c.id for c in crashed} <= {call.id for r in receivers.values() for call in r.calls}


def test_a_stopping_worker_releases_claims_it_has_not_sent(
    log: Engine, server: HTTPServer, client: httpx.Client, clock: Clock
) -> None:
    receiver = endpoint(server, "/hook")
    sub, _ = subscribe(log, server, "/hook")
    record_events(log, [appointed("stepfun", "yin-qi")])
    dispatch(log, clock, 1)
    stopping = threading.Event()
    stopping.set()

    sent = deliver_due(
        log,
        client,
        "w",
        clock=clock,
        resolve=loopback,
        allow_private=True,
        rng=random.Random(1),
        stopping=stopping,
    )

    assert sent == 0 and receiver.calls == []
    assert only(log, sub)["status"] == "pending"
    assert deliver(log, client, clock) == 1  # due at once for the next worker


def test_the_background_worker_dispatches_and_delivers_then_stops(
    log: Engine, server: HTTPServer
) -> None:
    receiver = endpoint(server, "/hook")
    subscribe(log, server, "/hook")
    settings = Settings(allow_private_webhooks=True, webhook_timeout_seconds=2.0)
    worker = start_webhook_worker(log, settings, resolve=loopback, interval=0.05, senders=2)
    try:
        record_events(log, [appointed("stepfun", "yin-qi")])
        deadline = time.monotonic() + 10
        while not receiver.calls and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop(timeout=5)

    assert len(receiver.calls) == 1
    assert not any(thread.is_alive() for thread in worker.threads)
