"""Polling feeds: claim the due ones, fetch, parse, ingest, and record how it went.

The shape is miniflux's (miniflux/v2, internal/cli/scheduler.go and
internal/reader/handler): the scheduler only asks which feeds are due; a worker claims
them (`commands.feed_polls`, `FOR UPDATE SKIP LOCKED`) and polls each on its own:

    fetch (conditional GET; unconditional every FULL_FETCH_EVERY polls)
      ├─ 410 Gone      → disabled, never fetched again until re-enabled
      ├─ 304           → nothing to parse; next poll after the interval or the hints
      └─ 200 → adapter → Hugging Face `Link: rel=next` pages (at most MAX_PAGES)
             → commands.ingest (items one by one; projections caught up)
             → counts, validators, next poll (`schedule.next_poll_at`)
    any failure        → status error, the message in `last_error`, `schedule.backoff`

Nothing a feed does may stop the worker: every exception of one poll is caught, logged
with the feed's name and recorded on the feed, and the next feed is polled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import httpx
from sqlalchemy import Engine

from tracker.commands.feed_polls import (
    claim_due_feeds,
    claim_feed,
    record_failure,
    record_gone,
    record_not_modified,
    record_success,
    release_claims,
)
from tracker.commands.feeds import FeedStatus, PollCounts
from tracker.commands.ingest import IngestReport, ingest_feed
from tracker.domain.errors import FeedFormatError
from tracker.domain.feed_format import ParsedFeed
from tracker.feeds.adapters import ADAPTERS, Adapter
from tracker.feeds.fetcher import FetchError, FetchResult, fetch
from tracker.feeds.paging import MAX_PAGES, LinkRecorder, follow_pages
from tracker.feeds.schedule import backoff, next_poll_at, should_force_full
from tracker.metrics import FEED_POLLS
from tracker.projections.runner import catch_up

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_MAX_BYTES",
    "MAX_PAGES",
    "PollOutcome",
    "poll_due",
    "poll_feed",
    "poll_feed_now",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
AfterWrite = Callable[[Engine], None]

# Longer than any one poll takes (timeouts are ~10 s a page); a worker that dies holds
# its feeds no longer than this.
DEFAULT_LEASE: Final = timedelta(minutes=10)
DEFAULT_MAX_BYTES: Final = 20 * 1024 * 1024
# Adapters whose listings paginate with RFC 8288 `Link: <...>; rel="next"`.
_PAGINATED: Final = frozenset({"huggingface"})


@dataclass(frozen=True)
class PollOutcome:
    """One poll: `outcome` is ok, not_modified, error or gone (the FEED_POLLS label)."""

    feed: str
    outcome: str
    counts: PollCounts
    error: str | None = None
    rejections: tuple[str, ...] = ()
    next_poll_at: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in ("error", "gone")


def poll_due(
    engine: Engine,
    client: httpx.Client,
    worker_id: str,
    clock: Clock,
    *,
    limit: int = 10,
    lease: timedelta = DEFAULT_LEASE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    after_write: AfterWrite = catch_up,
    should_stop: Callable[[], bool] | None = None,
) -> list[PollOutcome]:
    """Claim up to `limit` due feeds and poll them one after the other.

    `should_stop` is asked before each feed; once it says so, the feeds not yet polled
    are handed back unpolled, so a shutdown waits for one poll at most.
    """
    try:
        claimed = claim_due_feeds(engine, worker_id, clock(), lease, limit)
    except Exception:
        log.exception("could not claim due feeds", extra={"worker": worker_id})
        return []
    outcomes: list[PollOutcome] = []
    for index, feed in enumerate(claimed):
        if should_stop is not None and should_stop():
            release_claims(engine, worker_id, [rest.name for rest in claimed[index:]])
            break
        try:
            outcomes.append(
                poll_feed(
                    engine, client, feed, clock(), max_bytes=max_bytes, after_write=after_write
                )
            )
        except Exception:
            # Recording the failure failed too (the database is down?); the lease
            # runs out and the feed is polled again then.
            log.exception("feed poll could not be recorded", extra={"feed": feed.name})
    return outcomes


def poll_feed_now(
    engine: Engine,
    client: httpx.Client,
    name: str,
    clock: Clock,
    *,
    lease: timedelta = DEFAULT_LEASE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    after_write: AfterWrite = catch_up,
) -> PollOutcome:
    """Poll one feed on request (`tracker feeds poll`, `POST /v1/feeds/{name}/poll`).

    Raises NotFound, FeedDisabled (410) or FeedBusy (a worker is polling it).
    """
    worker_id = f"manual-{uuid.uuid4().hex[:12]}"  # unique, so two requests never share
    feed = claim_feed(engine, name, worker_id, clock(), lease)
    return poll_feed(engine, client, feed, clock(), max_bytes=max_bytes, after_write=after_write)


def poll_feed(
    engine: Engine,
    client: httpx.Client,
    feed: FeedStatus,
    now: datetime,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    after_write: AfterWrite = catch_up,
) -> PollOutcome:
    """Poll a feed this worker has claimed, record the result, and release the claim.

    Raises only if the result cannot be recorded (the database is unreachable).
    """
    if feed.claimed_by is None:
        raise ValueError(f"feed {feed.name} is not claimed: claim it first")
    poll = _Poll(engine, client, feed, now, max_bytes, after_write)
    try:
        outcome = poll.run()
    except Exception as exc:
        log.exception("feed poll crashed", extra={"feed": feed.name})
        outcome = poll.failed(f"unexpected error: {type(exc).__name__}: {exc}")
    FEED_POLLS.labels(feed=feed.name, outcome=outcome.outcome).inc()
    if outcome.failed:
        log.warning("feed poll failed", extra={"feed": feed.name, "error": outcome.error})
    else:
        log.info(
            "feed polled",
            extra={"feed": feed.name, "outcome": outcome.outcome, **outcome.counts.to_json()},
        )
    return outcome


class _Poll:
    """One poll of one claimed feed; every exit records the feed's new state."""

    def __init__(
        self,
        engine: Engine,
        client: httpx.Client,
        feed: FeedStatus,
        now: datetime,
        max_bytes: int,
        after_write: AfterWrite,
    ) -> None:
        self.engine, self.client, self.feed, self.now = engine, client, feed, now
        self.max_bytes, self.after_write = max_bytes, after_write
        self.worker = feed.claimed_by or ""

    def run(self) -> PollOutcome:
        feed = self.feed
        adapter = ADAPTERS.get(feed.adapter)
        if adapter is None:
            return self.failed(f"unknown adapter {feed.adapter!r}")
        links = LinkRecorder(self.client) if feed.adapter in _PAGINATED else None
        try:
            result = fetch(
                self.client,
                feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                max_bytes=self.max_bytes,
                force_full=should_force_full(feed.poll_count + 1),
            )
            next_url = links.next_url() if links else None
            if result.gone:
                record_gone(self.engine, feed.name, worker_id=self.worker, now=self.now)
                return PollOutcome(feed.name, "gone", PollCounts(), error="HTTP 410 Gone")
            if result.not_modified:
                return self.not_modified(result)
            parsed = adapter(result.body or b"", result.content_type, feed.options)
        except (FetchError, FeedFormatError) as exc:
            return self.failed(str(exc), retry_after=getattr(exc, "retry_after_seconds", None))
        page_error = None
        if links is not None and next_url is not None:
            parsed, page_error = self.later_pages(adapter, parsed, links, next_url)
        report = ingest_feed(self.engine, parsed, after_write=self.after_write)
        counts = PollCounts(report.new, report.duplicate, len(report.rejected))
        rejections = tuple(line for item in report.rejected for line in item.lines())
        if page_error is not None:
            return self.failed(page_error, counts=counts, rejections=rejections)
        return self.succeeded(result, parsed, report, counts, rejections)

    def later_pages(
        self, adapter: Adapter, first: ParsedFeed, links: LinkRecorder, next_url: str
    ) -> tuple[ParsedFeed, str | None]:
        def parse(body: bytes, content_type: str | None) -> ParsedFeed:
            return adapter(body, content_type, self.feed.options)

        items, error = follow_pages(
            self.client,
            links,
            self.feed.url,
            next_url,
            parse,
            max_bytes=self.max_bytes,
            feed=self.feed.name,
        )
        return ParsedFeed(first.source, [*first.items, *items], first.ttl_seconds), error

    def not_modified(self, result: FetchResult) -> PollOutcome:
        when = self._next_poll(result, ttl_seconds=None)
        record_not_modified(
            self.engine,
            self.feed.name,
            worker_id=self.worker,
            now=self.now,
            next_poll_at=when,
            etag=result.etag,
            last_modified=result.last_modified,
        )
        return PollOutcome(self.feed.name, "not_modified", PollCounts(), next_poll_at=when)

    def succeeded(
        self,
        result: FetchResult,
        parsed: ParsedFeed,
        report: IngestReport,
        counts: PollCounts,
        rejections: tuple[str, ...],
    ) -> PollOutcome:
        when = self._next_poll(result, ttl_seconds=parsed.ttl_seconds)
        # Rejected items do not make the feed fail (the others landed), but the operator
        # needs the reasons: they go where GET /v1/feeds shows what went wrong.
        note = f"{len(rejections)} rejected: " + "; ".join(rejections) if rejections else None
        record_success(
            self.engine,
            self.feed.name,
            worker_id=self.worker,
            now=self.now,
            next_poll_at=when,
            counts=counts,
            etag=result.etag,
            last_modified=result.last_modified,
            note=note,
        )
        return PollOutcome(self.feed.name, "ok", counts, None, rejections, when)

    def failed(
        self,
        error: str,
        *,
        retry_after: int | None = None,
        counts: PollCounts | None = None,
        rejections: tuple[str, ...] = (),
    ) -> PollOutcome:
        wait = timedelta(seconds=retry_after) if retry_after is not None else None
        when = backoff(self.now, self.feed.interval, self.feed.error_count + 1, retry_after=wait)
        record_failure(
            self.engine,
            self.feed.name,
            worker_id=self.worker,
            now=self.now,
            next_poll_at=when,
            error=error,
            counts=counts,
        )
        return PollOutcome(self.feed.name, "error", counts or PollCounts(), error, rejections, when)

    def _next_poll(self, result: FetchResult, *, ttl_seconds: int | None) -> datetime:
        def seconds(value: int | None) -> timedelta | None:
            return timedelta(seconds=value) if value is not None else None

        return next_poll_at(
            self.now,
            self.feed.interval,
            max_age=seconds(result.max_age_seconds),
            retry_after=seconds(result.retry_after_seconds),
            ttl=seconds(ttl_seconds),
        )
