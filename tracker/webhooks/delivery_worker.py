"""The delivery worker: claims due deliveries, sends them, records what came of it.

Three steps, so no transaction stays open across an HTTP call (a slow receiver must
not hold row locks or a SQLite write lock):

1. claim (delivery_claims.py): due rows, ``FOR UPDATE SKIP LOCKED``, with a lease, and
   commit; per subscription only the oldest queued delivery, so receivers get log order.
2. send: in a thread pool, each to the IP the SSRF guard approves *now* (the DNS answer
   may have changed since the URL was saved: DNS rebinding), signed with the current
   secret and, during a rotation, the previous one too.
3. record: one transaction per delivery stores the attempt and the outcome, fenced on
   ``claimed_by`` so a worker whose lease ran out cannot overwrite its successor.

Outcomes: 2xx succeeded; 410 Gone disables the subscription (Standard Webhooks); an
unsafe target fails the delivery and disables the subscription; other failures retry on
the Svix schedule (retry_schedule.py), honouring Retry-After, and end ``dead``; five
days without a success disable the subscription, with the reason shown on it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, func, select, update

from tracker.commands.subscriptions import disable_subscription
from tracker.commands.webhook_tables import as_utc, deliveries, delivery_attempts, subscriptions
from tracker.db import write_transaction
from tracker.metrics import DELIVERIES, DELIVERY_LATENCY
from tracker.webhooks.address_guard import Resolver, UnresolvableHost, UnsafeTarget, check_target
from tracker.webhooks.delivery_claims import Claim, claim_due, lease_for, release_claims
from tracker.webhooks.retry_schedule import next_attempt_at, should_disable
from tracker.webhooks.sender import Attempt, send
from tracker.webhooks.signing import delivery_body, sign_headers

__all__ = ["deliver_due"]

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
_ERROR_LIMIT = 1000


@dataclass(frozen=True)
class _Sent:
    claim: Claim
    attempt: Attempt
    unsafe: str | None  # why the SSRF guard refused the target; no request was made
    at: datetime


def _send_one(
    claim: Claim,
    client: httpx.Client,
    clock: Clock,
    resolve: Resolver,
    allow_private: bool,
    timeout: float,
) -> _Sent:
    try:
        target = check_target(claim.url, allow_private=allow_private, resolve=resolve)
    except (UnsafeTarget, UnresolvableHost) as exc:
        unsafe = exc.reason if isinstance(exc, UnsafeTarget) else None
        attempt = Attempt(None, False, 0, "", exc.reason, None, False)
        return _Sent(claim, attempt, unsafe, clock())
    sent_at = clock()
    # The body's timestamp is when the event was recorded (Standard Webhooks: when the
    # event occurred); the signed header timestamp is now, for replay protection.
    body = delivery_body(claim.event_type, claim.event_recorded_at, claim.payload)
    headers = sign_headers(claim.id, sent_at, body, claim.secrets)
    attempt = send(client, target, headers, body, timeout=timeout, clock=clock)
    return _Sent(claim, attempt, None, clock())


def deliver_due(
    engine: Engine,
    client: httpx.Client,
    worker_id: str,
    *,
    clock: Clock,
    resolve: Resolver,
    allow_private: bool,
    rng: random.Random,
    limit: int = 10,
    timeout: float = 15.0,
    stopping: threading.Event | None = None,
) -> int:
    """Claim, send and record up to `limit` due deliveries; returns how many were sent.

    Sends run in parallel, one thread per claim. When `stopping` is set, claims not yet
    sent are released for another worker instead of sent.
    """
    claims = claim_due(engine, worker_id, clock(), limit, lease_for(timeout))
    if not claims:
        return 0

    def attempt(claim: Claim) -> _Sent | None:
        if stopping is not None and stopping.is_set():
            return None
        try:
            sent = _send_one(claim, client, clock, resolve, allow_private, timeout)
        except Exception as exc:
            # A bug of ours, not the receiver's: record it as a failed attempt so the
            # schedule retries it and the delivery log shows it, instead of losing it.
            log.exception("webhook attempt failed unexpectedly", extra={"delivery": claim.id})
            error = f"internal error: {type(exc).__name__}"
            sent = _Sent(claim, Attempt(None, False, 0, "", error, None, False), None, clock())
        _record_with_retries(engine, worker_id, sent, rng)
        return sent

    with ThreadPoolExecutor(max_workers=len(claims), thread_name_prefix="webhook-send") as pool:
        results = list(pool.map(attempt, claims))
    release_claims(engine, worker_id, [c.id for c, r in zip(claims, results, strict=True) if not r])
    return sum(1 for result in results if result is not None)


# A lost connection (failover, a terminated backend) is retried on a fresh one: an
# unrecorded success would hold the subscription's queue until the lease runs out.
_RECORD_ATTEMPTS = 3


def _record_with_retries(engine: Engine, worker_id: str, sent: _Sent, rng: random.Random) -> None:
    for attempt in range(1, _RECORD_ATTEMPTS + 1):
        try:
            _record(engine, worker_id, sent, rng)
            return
        except Exception:
            if attempt == _RECORD_ATTEMPTS:
                # The claim stays; when its lease runs out the delivery is sent again.
                log.exception(
                    "could not record a webhook attempt", extra={"delivery": sent.claim.id}
                )
                return
            log.warning(
                "recording a webhook attempt failed; retrying", extra={"delivery": sent.claim.id}
            )
            time.sleep(0.2 * attempt)


@dataclass(frozen=True)
class _Outcome:
    status: str
    next_attempt_at: datetime | None
    disable: str | None  # the subscription's disabled_reason, when this disables it
    metric: str


def _decide(sent: _Sent, sub: Any, rng: random.Random) -> _Outcome:
    attempt, now = sent.attempt, sent.at
    if sent.unsafe is not None:
        return _Outcome("failed", None, f"unsafe webhook URL: {sent.unsafe}", "unsafe")
    if attempt.ok:
        return _Outcome("succeeded", None, None, "succeeded")
    if attempt.gone:
        reason = "the receiver answered 410 Gone: it wants no more webhooks"
        return _Outcome("failed", None, reason, "gone")
    failing_since = as_utc(sub.first_failure_at) or now
    if should_disable(failing_since, as_utc(sub.last_success_at), now):
        reason = (
            f"no delivery succeeded for 5 days (failing since {failing_since.isoformat()}); "
            f"last error: {_error_of(attempt)}"
        )
        return _Outcome("failed", None, reason[:_ERROR_LIMIT], "disabled")
    retry_at = next_attempt_at(
        now,
        sent.claim.attempts + 1,
        retry_after_seconds=attempt.retry_after_seconds,
        rng=rng,
    )
    if retry_at is None:
        return _Outcome("dead", None, None, "dead")
    return _Outcome("pending", retry_at, None, "retry")


def _error_of(attempt: Attempt) -> str | None:
    if attempt.error:
        return attempt.error[:_ERROR_LIMIT]
    if attempt.status is not None and not attempt.ok:
        return f"HTTP {attempt.status}"
    return None


def _record(engine: Engine, worker_id: str, sent: _Sent, rng: random.Random) -> None:
    """Store the attempt and its outcome; the subscription's health follows."""
    claim, attempt, now = sent.claim, sent.attempt, sent.at
    with write_transaction(engine) as conn:
        sub = conn.execute(
            select(subscriptions)
            .where(subscriptions.c.id == claim.subscription_id)
            .with_for_update()
        ).first()
        if sub is None:
            return  # deleted while we sent; its deliveries went with it
        outcome = _decide(sent, sub, rng)
        number = claim.attempts + 1
        conn.execute(
            delivery_attempts.insert().values(
                delivery_id=claim.id,
                number=number,
                attempted_at=now,
                status=attempt.status,
                latency_ms=attempt.latency_ms,
                response_body=attempt.response_body[:2000],
                error=_error_of(attempt),
            )
        )
        kept = conn.execute(
            update(deliveries)
            .where(
                deliveries.c.id == claim.id,
                deliveries.c.claimed_by == worker_id,
                deliveries.c.status == "sending",
            )
            .values(
                status=outcome.status,
                attempts=number,
                next_attempt_at=outcome.next_attempt_at,
                delivered_at=now if outcome.status == "succeeded" else None,
                last_status=attempt.status,
                last_error=_error_of(attempt),
                claimed_by=None,
                claimed_until=None,
            )
        ).rowcount
        if not kept:
            # The lease ran out and another worker took the delivery over: it decides.
            log.warning("webhook claim lost", extra={"delivery": claim.id})
            return
        _update_health(conn, claim.subscription_id, sub.enabled, outcome, now)
    _count(sent, outcome)


def _update_health(
    conn: Connection, subscription_id: str, enabled: bool, outcome: _Outcome, now: datetime
) -> None:
    where = subscriptions.c.id == subscription_id
    if outcome.status == "succeeded":
        conn.execute(
            update(subscriptions).where(where).values(last_success_at=now, first_failure_at=None)
        )
        return
    conn.execute(
        update(subscriptions)
        .where(where)
        .values(first_failure_at=func.coalesce(subscriptions.c.first_failure_at, now))
    )
    if outcome.disable is not None and enabled:
        disable_subscription(conn, subscription_id, outcome.disable, now)


def _count(sent: _Sent, outcome: _Outcome) -> None:
    DELIVERIES.labels(outcome=outcome.metric).inc()
    extra = {
        "delivery": sent.claim.id,
        "subscription": sent.claim.subscription_id,
        "status": sent.attempt.status,
        "outcome": outcome.metric,
    }
    if outcome.status == "succeeded":
        if sent.claim.generation == 0:  # a replay's age says nothing about our latency
            DELIVERY_LATENCY.observe((sent.at - sent.claim.event_recorded_at).total_seconds())
        log.info("webhook delivered", extra=extra)
    elif outcome.disable is not None:
        log.warning("webhook subscription disabled: %s", outcome.disable, extra=extra)
    else:
        log.info("webhook delivery failed", extra={**extra, "error": _error_of(sent.attempt)})
