"""Poll scheduling: the next poll after success, the backoff after errors, intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.feeds.schedule import (
    FULL_FETCH_EVERY,
    backoff,
    next_poll_at,
    parse_interval,
    should_force_full,
)

NOW = datetime(2026, 1, 26, 12, 0, tzinfo=UTC)
SIX_HOURS = timedelta(hours=6)


def test_a_feed_without_hints_is_polled_after_its_interval() -> None:
    assert next_poll_at(NOW, SIX_HOURS) == NOW + SIX_HOURS


def test_the_longest_of_interval_max_age_ttl_and_retry_after_wins() -> None:
    assert next_poll_at(NOW, SIX_HOURS, max_age=timedelta(hours=8)) == NOW + timedelta(hours=8)
    assert next_poll_at(NOW, SIX_HOURS, ttl=timedelta(hours=9)) == NOW + timedelta(hours=9)
    assert next_poll_at(
        NOW,
        SIX_HOURS,
        max_age=timedelta(hours=7),
        ttl=timedelta(hours=8),
        retry_after=timedelta(hours=10),
    ) == NOW + timedelta(hours=10)


def test_hints_shorter_than_the_interval_do_not_poll_sooner() -> None:
    assert next_poll_at(NOW, SIX_HOURS, max_age=timedelta(minutes=5)) == NOW + SIX_HOURS


def test_what_a_feed_asks_for_is_capped() -> None:
    asked = next_poll_at(NOW, SIX_HOURS, max_age=timedelta(days=30))
    capped = next_poll_at(NOW, SIX_HOURS, ttl=timedelta(days=30), cap=timedelta(hours=12))

    assert asked == NOW + timedelta(days=1)
    assert capped == NOW + timedelta(hours=12)


def test_the_cap_never_shortens_the_configured_interval() -> None:
    weekly = timedelta(days=7)

    assert next_poll_at(NOW, weekly, max_age=timedelta(days=30)) == NOW + weekly


@pytest.mark.parametrize(
    ("errors", "delay"),
    [
        (1, timedelta(minutes=1)),
        (2, timedelta(minutes=2)),
        (3, timedelta(minutes=4)),
        (6, timedelta(minutes=32)),
        (11, timedelta(minutes=1024)),
        (12, timedelta(hours=24)),
        (10_000, timedelta(hours=24)),
    ],
)
def test_the_backoff_doubles_from_one_minute_per_consecutive_error_up_to_a_day(
    errors: int, delay: timedelta
) -> None:
    assert backoff(NOW, SIX_HOURS, errors) == NOW + delay


def test_the_backoff_does_not_depend_on_the_interval_until_the_cap() -> None:
    assert backoff(NOW, timedelta(minutes=5), 3) == backoff(NOW, timedelta(days=2), 3)


def test_a_feed_polled_less_often_than_the_cap_backs_off_up_to_its_interval() -> None:
    every_two_days = timedelta(days=2)

    assert backoff(NOW, every_two_days, 30) == NOW + every_two_days


def test_a_zero_error_count_is_treated_as_the_first_error() -> None:
    assert backoff(NOW, SIX_HOURS, 0) == NOW + timedelta(minutes=1)


def test_the_backoff_never_comes_before_the_servers_retry_after() -> None:
    assert backoff(NOW, SIX_HOURS, 1, retry_after=timedelta(minutes=30)) == NOW + timedelta(
        minutes=30
    )
    assert backoff(NOW, SIX_HOURS, 12, retry_after=timedelta(minutes=30)) == NOW + timedelta(
        hours=24
    )
    assert backoff(NOW, SIX_HOURS, 1, retry_after=timedelta(days=2)) == NOW + timedelta(days=2)


def test_a_custom_cap_limits_the_backoff() -> None:
    assert backoff(NOW, timedelta(minutes=5), 20, cap=timedelta(hours=1)) == NOW + timedelta(
        hours=1
    )


@pytest.mark.parametrize(
    ("text", "interval"),
    [
        ("6h", timedelta(hours=6)),
        ("30m", timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("1d", timedelta(days=1)),
        (" 12H ", timedelta(hours=12)),
        ("1h30m", timedelta(hours=1, minutes=30)),
    ],
)
def test_an_interval_is_a_number_and_a_unit(text: str, interval: timedelta) -> None:
    assert parse_interval(text) == interval


@pytest.mark.parametrize(
    "text",
    ["", "6", "h", "6 hours", "1.5h", "-1h", "6w", "0s", "0h0m", "1h 30m", "999999999999999d"],
)
def test_anything_else_is_refused_with_a_message_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid interval "):
        parse_interval(text)


_units = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}


@given(
    st.lists(
        st.tuples(st.integers(1, 10_000), st.sampled_from(sorted(_units))), min_size=1, max_size=4
    )
)
def test_any_sequence_of_numbers_and_units_adds_up(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{number}{unit}" for number, unit in parts)

    assert parse_interval(text) == sum(
        (number * _units[unit] for number, unit in parts), timedelta()
    )


@given(st.text())
def test_parsing_arbitrary_text_either_succeeds_or_raises_value_error(text: str) -> None:
    try:
        interval = parse_interval(text)
    except ValueError as exc:
        assert str(exc).startswith("invalid interval ")
    else:
        assert interval > timedelta(0)


def test_every_tenth_poll_is_a_full_fetch() -> None:
    assert FULL_FETCH_EVERY == 10
    assert [n for n in range(0, 31) if should_force_full(n)] == [10, 20, 30]
    assert not should_force_full(-10)
