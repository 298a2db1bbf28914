"""When to poll a feed next: pure functions of the clock, the feed's interval and the hints
its server gave. No I/O, no clock of their own (`now` is always passed in).

The shape follows miniflux (miniflux/v2, internal/model/feed.go, `ScheduleNextCheck`):
after a good poll, wait the longest of the configured interval and what the feed asks
for (Cache-Control max-age, RSS ttl, Retry-After), but never longer than a cap, so a
misconfigured feed cannot park itself for weeks. After a failed poll, back off
exponentially instead, so a broken host is not hammered; the error counter resets on
the next success (the caller's job).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

__all__ = [
    "BACKOFF_BASE",
    "FULL_FETCH_EVERY",
    "backoff",
    "next_poll_at",
    "parse_interval",
    "should_force_full",
]

# Every Nth poll skips If-None-Match / If-Modified-Since. Some servers answer 304 from a
# stale validator for ever (a CDN that keeps an old ETag, a Last-Modified that never
# moves when content is generated); an unconditional fetch now and then heals that.
FULL_FETCH_EVERY: Final = 10

# The first retry after an error comes this soon, whatever the feed's interval: most
# failures are a blip (a restart, a timeout), and a 6-hour feed should not lose 6 hours.
BACKOFF_BASE: Final = timedelta(minutes=1)

_UNITS: Final = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
# At most 15 digits a number: enough to overflow timedelta (a clear "too long"), short
# of Python's int-parsing limit for huge digit strings (a confusing ValueError).
_INTERVAL = re.compile(r"(?:[0-9]{1,15}[dhms])+")
_PART = re.compile(r"([0-9]+)([dhms])")


def next_poll_at(
    now: datetime,
    interval: timedelta,
    *,
    max_age: timedelta | None = None,
    retry_after: timedelta | None = None,
    ttl: timedelta | None = None,
    cap: timedelta = timedelta(days=1),
) -> datetime:
    """When to poll again after a successful poll (or a 304).

    The feed's own hints (max-age, ttl, Retry-After) can lengthen the wait up to `cap`.
    The operator's `interval` is never shortened: the cap limits what a feed may ask
    for, not what the registry configured.
    """
    hints = [hint for hint in (max_age, retry_after, ttl) if hint is not None]
    asked = min(max(hints), cap) if hints else timedelta(0)
    return now + max(interval, asked)


def backoff(
    now: datetime,
    interval: timedelta,
    error_count: int,
    *,
    retry_after: timedelta | None = None,
    cap: timedelta = timedelta(hours=24),
) -> datetime:
    """When to poll again after `error_count` consecutive failures (1 after the first).

    1 min, 2 min, 4 min, ... doubling per error, up to the larger of `cap` and the
    feed's `interval` (a failing feed is eventually polled no more often than a healthy
    one). A server's Retry-After is honoured as a floor, never shortened.
    """
    limit = max(cap, interval)
    # Past 2**40 minutes the doubling is far beyond any cap; stop before it overflows.
    exponent = min(max(error_count, 1) - 1, 40)
    delay = min(BACKOFF_BASE * (1 << exponent), limit)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return now + delay


def parse_interval(text: str) -> timedelta:
    """`"6h"`, `"30m"`, `"90s"`, `"1d"`, or combined as in `"1h30m"` → a positive timedelta."""
    compact = text.strip().lower() if isinstance(text, str) else ""
    if not _INTERVAL.fullmatch(compact):
        raise ValueError(
            f"invalid interval {text!r}: expected a number and a unit (s, m, h or d), "
            'such as "90s", "30m", "6h" or "1d"'
        )
    parts = {unit: 0 for unit in _UNITS.values()}
    for number, unit in _PART.findall(compact):
        parts[_UNITS[unit]] += int(number)
    try:
        interval = timedelta(**parts)
    except OverflowError:
        raise ValueError(f"invalid interval {text!r}: too long") from None
    if interval <= timedelta(0):
        raise ValueError(f"invalid interval {text!r}: must be longer than zero")
    return interval


def should_force_full(poll_count: int) -> bool:
    """Whether poll number `poll_count` (1 for a feed's first poll) fetches unconditionally.

    True for every `FULL_FETCH_EVERY`th poll: the 10th, 20th, ...
    """
    return poll_count > 0 and poll_count % FULL_FETCH_EVERY == 0
