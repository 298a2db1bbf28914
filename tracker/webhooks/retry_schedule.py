"""When to try a failed delivery again, and when to give up on an endpoint.

This module owns the timing policy only; the outbox stores the times it returns. Every
clock is a plain `datetime` argument and all randomness comes from an injected
`random.Random`, so the policy is a pure function that tests can pin down.

The schedule is Svix's (https://docs.svix.com/retries), which Standard Webhooks
recommends in spirit ("Deliverability and reliability": retries spanning days, with
exponential backoff and random jitter). Its example table runs longer than Svix's;
we follow Svix, down to disabling an endpoint after 5 days of failure.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

__all__ = [
    "DISABLE_AFTER",
    "JITTER",
    "MAX_RETRY_AFTER",
    "RETRY_DELAYS",
    "next_attempt_at",
    "should_disable",
]

# RETRY_DELAYS[n] is the wait before attempt n + 1: the first attempt goes at once,
# each later one waits this long after the previous attempt failed.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
# ±10 %: spreads the retries of many deliveries that failed together (one receiver
# outage) so they do not all return in the same second.
JITTER = 0.10
DISABLE_AFTER = timedelta(days=5)
# A Retry-After beyond this is read as this: by then a still-failing endpoint is
# disabled anyway, and an absurd value (years) must not overflow a datetime.
MAX_RETRY_AFTER = DISABLE_AFTER


def next_attempt_at(
    now: datetime,
    attempt_number: int,
    *,
    retry_after_seconds: int | None = None,
    rng: random.Random,
) -> datetime | None:
    """When to make the next attempt after `attempt_number` attempts have failed.

    `attempt_number` 0 means nothing was sent yet (answer: `now`). None means the
    schedule is exhausted and the delivery has failed for good. The answer is never
    earlier than the receiver's Retry-After (Standard Webhooks: "should be taken into
    consideration when scheduling the next attempt").
    """
    if attempt_number < 0:
        raise ValueError(f"attempt_number must be 0 or more, not {attempt_number}")
    if attempt_number >= len(RETRY_DELAYS):
        return None
    delay = _jittered(RETRY_DELAYS[attempt_number], rng)
    if retry_after_seconds is not None:
        delay = max(delay, _retry_after(retry_after_seconds))
    return now + delay


def should_disable(
    first_failure_at: datetime | None, last_success_at: datetime | None, now: datetime
) -> bool:
    """True once an endpoint has failed for DISABLE_AFTER with no success since.

    `first_failure_at` is the first failed attempt of the current failing streak (None
    when the endpoint is not failing). A success at or after it ends the streak.
    """
    if first_failure_at is None:
        return False
    if last_success_at is not None and last_success_at >= first_failure_at:
        return False
    return now - first_failure_at >= DISABLE_AFTER


def _jittered(delay: timedelta, rng: random.Random) -> timedelta:
    return delay * rng.uniform(1 - JITTER, 1 + JITTER)


def _retry_after(seconds: int) -> timedelta:
    return timedelta(seconds=min(max(seconds, 0), MAX_RETRY_AFTER.total_seconds()))
