"""The tracker feed format (DESIGN.md §5): bytes in, a source and raw items out.

Items stay raw here: each is validated on its own later (`parse_draft`), so one bad item
never costs the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tracker.domain.errors import FeedFormatError

__all__ = ["FEED_VERSION", "ParsedFeed", "parse_tracker_feed"]

FEED_VERSION = 1


@dataclass(frozen=True)
class ParsedFeed:
    """What an adapter read from one feed body.

    `items` are raw event objects of the tracker feed form (`key`, `type`,
    `occurred_on`, `data`, `sources`), not yet validated. `ttl_seconds` is the feed's
    own hint of how often to poll (RSS `ttl`), if it gives one.
    """

    source: dict[str, Any] | None
    items: list[Any] = field(default_factory=list)
    ttl_seconds: int | None = None


def parse_tracker_feed(body: bytes) -> ParsedFeed:
    try:
        document = json.loads(body)
    except UnicodeDecodeError as exc:
        raise FeedFormatError(f"invalid encoding: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise FeedFormatError(
            f"invalid JSON: {exc.msg.lower().removesuffix(' starting at')} "
            f"at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise FeedFormatError("invalid JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise FeedFormatError("not a tracker feed: expected a JSON object")
    version = document.get("tracker_feed")
    if version != FEED_VERSION:
        raise FeedFormatError(f"not a tracker feed: tracker_feed must be {FEED_VERSION}")
    events = document.get("events")
    if not isinstance(events, list):
        raise FeedFormatError("events: expected a list")
    source = document.get("source")
    if source is not None and not isinstance(source, dict):
        raise FeedFormatError("source: expected an object")
    return ParsedFeed(source=source, items=events)
