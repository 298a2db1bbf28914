"""`/v1/feeds`: the feeds the worker polls, how each last went, and polling one now.

Routes import commands only (DESIGN.md §4), and polling is the feeds edge's work, so
the composition root hands it in as `app.state.poll_feed_now`: a callable that takes
a feed's name, polls it synchronously and records the result
(`tracker.feeds.scheduler.manual_poller`). The POST then answers 200 with the feed as
the poll left it. An app composed without it only makes the feed due
(`request_poll`) and answers 202: the next worker round polls it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from tracker.api.deps import AdminKey, EngineDep, ReadKey, Slug
from tracker.api.problems import problem_responses
from tracker.commands.feeds import (
    FeedBusy,
    FeedDisabled,
    FeedStatus,
    PollCounts,
    get_feed,
    list_feeds,
    request_poll,
)

__all__ = ["FeedList", "FeedOut", "router"]

router = APIRouter(
    prefix="/v1/feeds", tags=["feeds"], responses=problem_responses(401, 403, 422, 503)
)


class CountsOut(BaseModel):
    new: int
    duplicate: int
    rejected: int


class FeedOut(BaseModel):
    """A feed of the registry and the state of its polling."""

    name: str
    adapter: str = Field(description="tracker, huggingface or github-releases.")
    url: str
    enabled: bool = Field(description="Whether the registry lists it as enabled.")
    interval_seconds: int
    status: Literal["ok", "error", "disabled"] = Field(
        description="disabled: the server answered 410 Gone; re-enable it to poll again."
    )
    disabled_reason: str | None
    last_polled_at: datetime | None
    next_poll_at: datetime
    error_count: int = Field(description="Failed polls in a row; 0 after a success.")
    last_error: str | None = Field(
        description="What went wrong on the last poll, or why items were rejected."
    )
    counts: CountsOut | None = Field(description="Items of the last poll; null before one.")
    totals: CountsOut = Field(description="Items of all polls.")


class FeedList(BaseModel):
    items: list[FeedOut]
    next_cursor: str | None = None


def _counts(counts: PollCounts) -> CountsOut:
    return CountsOut(new=counts.new, duplicate=counts.duplicate, rejected=counts.rejected)


def feed_out(feed: FeedStatus) -> FeedOut:
    return FeedOut(
        name=feed.name,
        adapter=feed.adapter,
        url=feed.url,
        enabled=feed.enabled,
        interval_seconds=int(feed.interval / timedelta(seconds=1)),
        status=feed.status,
        disabled_reason=feed.disabled_reason,
        last_polled_at=feed.last_polled_at,
        next_poll_at=feed.next_poll_at,
        error_count=feed.error_count,
        last_error=feed.last_error,
        counts=_counts(feed.counts) if feed.counts is not None else None,
        totals=_counts(feed.totals),
    )


@router.get("", summary="Every feed of the registry, and how its polls went")
def feeds(_key: ReadKey, engine: EngineDep) -> FeedList:
    return FeedList(items=[feed_out(feed) for feed in list_feeds(engine)])


@router.post(
    "/{name}/poll",
    summary="Poll a feed now (admin)",
    responses={
        202: {"model": FeedOut, "description": "No poller in this process: the feed is due"},
        **problem_responses(404),
        409: {"description": "The feed is disabled (410 Gone) or being polled right now"},
    },
)
def poll(
    _key: AdminKey, engine: EngineDep, request: Request, response: Response, name: Slug
) -> FeedOut:
    """Fetch the feed and ingest its items before answering; the feed's status then
    says how it went (`counts`, or `status: error` and `last_error`)."""
    poll_now: Callable[[str], Any] | None = getattr(request.app.state, "poll_feed_now", None)
    try:
        if poll_now is None:
            response.status_code = 202
            return feed_out(request_poll(engine, name, datetime.now(UTC)))
        poll_now(name)
    except (FeedDisabled, FeedBusy) as exc:
        raise HTTPException(409, str(exc)) from None
    return feed_out(get_feed(engine, name))
