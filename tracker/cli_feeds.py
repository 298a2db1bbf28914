"""`tracker feeds list` and `tracker feeds poll NAME`: the feeds and their polls, from a shell.

Both first mirror the registry (`TRACKER_FEEDS`) into the database, so they show the
file as it is now, not as the worker last read it. Results go to stdout; errors and
logs to stderr (DESIGN.md §6).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy import Engine

from tracker.commands.feeds import FeedBusy, FeedDisabled, FeedStatus, PollCounts, list_feeds
from tracker.domain.errors import NotFound
from tracker.feeds.registry import RegistryError
from tracker.feeds.scheduler import manual_poller, sync_feed_registry
from tracker.settings import Settings

__all__ = ["feeds_app"]

feeds_app = typer.Typer(
    no_args_is_help=True, help="The feeds of the registry: how their polls went; poll one now."
)

_COLUMNS = ("NAME", "ENABLED", "STATUS", "LAST POLL", "NEXT POLL", "NEW/DUP/REJ", "ERRORS")
_ERROR_WIDTH = 80


def _open() -> tuple[Engine, Settings]:
    # Imported when a command runs: cli.py imports this module to add the sub-app.
    from tracker.startup import load_settings, open_engine

    settings = load_settings()
    engine = open_engine(settings)
    try:
        sync_feed_registry(engine, settings, datetime.now(UTC))
    except RegistryError as exc:
        typer.echo(f"feed registry {settings.feeds}: {exc}", err=True)
        raise typer.Exit(2) from None
    return engine, settings


def _time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment is not None else "-"


def _counts(counts: PollCounts | None) -> str:
    return f"{counts.new}/{counts.duplicate}/{counts.rejected}" if counts is not None else "-"


def _errors(feed: FeedStatus) -> str:
    if not feed.last_error:
        return str(feed.error_count)
    text = f"{feed.error_count}: {feed.last_error}"
    return text if len(text) <= _ERROR_WIDTH else text[: _ERROR_WIDTH - 1] + "…"


def _row(feed: FeedStatus) -> tuple[str, ...]:
    return (
        feed.name,
        "yes" if feed.enabled else "no",
        feed.status,
        _time(feed.last_polled_at),
        # A feed off in the registry, or gone (410), is not polled: no next poll to show.
        _time(feed.next_poll_at) if feed.enabled and feed.status != "disabled" else "-",
        _counts(feed.counts),
        _errors(feed),
    )


@feeds_app.command("list")
def list_command() -> None:
    """A table of every feed: status, last and next poll, counts of the last poll, errors."""
    engine, settings = _open()
    rows = [_COLUMNS, *(_row(feed) for feed in list_feeds(engine))]
    if len(rows) == 1:
        typer.echo(f"no feeds in {settings.feeds}")
        return
    widths = [max(len(row[column]) for row in rows) for column in range(len(_COLUMNS))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        typer.echo("  ".join(cells).rstrip())


@feeds_app.command("poll")
def poll_command(
    name: Annotated[str, typer.Argument(help="The feed's name in the registry.")],
) -> None:
    """Poll one feed now; prints `new N, duplicate N, rejected N`, or the error (exit 1).

    Rejected items are listed as `tracker ingest` lists them, but do not fail the poll:
    the feed's other items landed.
    """
    engine, settings = _open()
    try:
        outcome = manual_poller(engine, settings)(name)
    except (NotFound, FeedDisabled, FeedBusy) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if outcome.outcome == "gone":
        typer.echo(f"feed {name} is gone (HTTP 410 Gone); it is now disabled", err=True)
        raise typer.Exit(1)
    if outcome.outcome == "error":
        typer.echo(f"error: {outcome.error}", err=True)
        if outcome.counts != PollCounts():  # items of pages fetched before the failure
            typer.echo(outcome.counts.summary())
        raise typer.Exit(1)
    suffix = " (not modified)" if outcome.outcome == "not_modified" else ""
    typer.echo(outcome.counts.summary() + suffix)
    for line in outcome.rejections:
        typer.echo(line)
