"""The retry schedule and the 5-day disable rule, on an injected clock and RNG."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.webhooks.retry_schedule import (
    DISABLE_AFTER,
    JITTER,
    MAX_RETRY_AFTER,
    RETRY_DELAYS,
    next_attempt_at,
    should_disable,
)

NOW = datetime(2026, 1, 26, 9, 0, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)  # timedelta * float rounds to microseconds

attempts_made = st.integers(min_value=0, max_value=len(RETRY_DELAYS) - 1)
seeds = st.integers(min_value=0, max_value=2**32)


def delay_after(attempt_number: int, seed: int, retry_after: int | None = None) -> timedelta:
    when = next_attempt_at(
        NOW, attempt_number, retry_after_seconds=retry_after, rng=random.Random(seed)
    )
    assert when is not None
    return when - NOW


def test_the_schedule_is_svixs_eight_attempts_over_about_a_day() -> None:
    assert list(RETRY_DELAYS) == [
        timedelta(0),
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ]
    assert sum(RETRY_DELAYS, timedelta()) == timedelta(hours=27, minutes=35, seconds=5)


def test_the_first_attempt_goes_at_once() -> None:
    assert next_attempt_at(NOW, 0, rng=random.Random(1)) == NOW


def test_after_the_first_failure_the_next_attempt_comes_about_five_seconds_later() -> None:
    delay = delay_after(1, seed=7)

    assert timedelta(seconds=4.5) <= delay <= timedelta(seconds=5.5)


def test_after_the_eighth_failure_there_is_no_next_attempt() -> None:
    assert next_attempt_at(NOW, len(RETRY_DELAYS), rng=random.Random(1)) is None
    assert next_attempt_at(NOW, 50, retry_after_seconds=5, rng=random.Random(1)) is None


def test_a_negative_attempt_number_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="attempt_number"):
        next_attempt_at(NOW, -1, rng=random.Random(1))


def test_a_retry_after_longer_than_the_schedule_delays_the_attempt() -> None:
    assert delay_after(1, seed=7, retry_after=3600) == timedelta(hours=1)


def test_a_retry_after_shorter_than_the_schedule_does_not_hurry_the_attempt() -> None:
    assert delay_after(4, seed=7, retry_after=60) == delay_after(4, seed=7)


def test_an_absurd_retry_after_is_capped_instead_of_overflowing() -> None:
    assert delay_after(1, seed=7, retry_after=10**15) == MAX_RETRY_AFTER


def test_the_same_seed_gives_the_same_schedule() -> None:
    first = [delay_after(n, seed=42) for n in range(len(RETRY_DELAYS))]
    again = [delay_after(n, seed=42) for n in range(len(RETRY_DELAYS))]

    assert first == again


@given(attempt_number=attempts_made, seed=seeds)
def test_every_delay_stays_within_ten_percent_of_the_schedule(
    attempt_number: int, seed: int
) -> None:
    nominal = RETRY_DELAYS[attempt_number]

    delay = delay_after(attempt_number, seed)

    assert nominal * (1 - JITTER) - ONE_MICROSECOND <= delay
    assert delay <= nominal * (1 + JITTER) + ONE_MICROSECOND


@given(earlier=attempts_made, later=attempts_made, seed_a=seeds, seed_b=seeds)
def test_a_later_attempt_never_waits_less_than_an_earlier_one_beyond_the_jitter(
    earlier: int, later: int, seed_a: int, seed_b: int
) -> None:
    if earlier > later:
        earlier, later = later, earlier

    # later >= 0.9 * nominal(later) >= 0.9 * nominal(earlier) >= 0.9 / 1.1 * earlier
    later_delay, earlier_delay = delay_after(later, seed_b), delay_after(earlier, seed_a)

    assert later_delay * (1 + JITTER) >= earlier_delay * (1 - JITTER) - ONE_MICROSECOND


@given(
    attempt_number=attempts_made,
    seed=seeds,
    retry_after=st.integers(min_value=0, max_value=10 * 24 * 3600),
)
def test_no_attempt_is_ever_scheduled_before_the_retry_after(
    attempt_number: int, seed: int, retry_after: int
) -> None:
    delay = delay_after(attempt_number, seed, retry_after)

    assert delay >= min(timedelta(seconds=retry_after), MAX_RETRY_AFTER)


def test_an_endpoint_that_is_not_failing_is_never_disabled() -> None:
    assert not should_disable(None, NOW - timedelta(days=30), NOW)
    assert not should_disable(None, None, NOW)


def test_an_endpoint_failing_for_just_under_five_days_stays_enabled() -> None:
    first_failure = NOW - DISABLE_AFTER + timedelta(seconds=1)

    assert not should_disable(first_failure, None, NOW)


def test_an_endpoint_failing_for_five_days_with_no_success_is_disabled() -> None:
    assert DISABLE_AFTER.total_seconds() == 5 * 24 * 3600
    assert should_disable(NOW - DISABLE_AFTER, None, NOW)
    assert should_disable(NOW - timedelta(days=6), NOW - timedelta(days=9), NOW)


def test_a_success_since_the_first_failure_keeps_the_endpoint_enabled() -> None:
    first_failure = NOW - timedelta(days=6)

    assert not should_disable(first_failure, first_failure + timedelta(hours=1), NOW)
