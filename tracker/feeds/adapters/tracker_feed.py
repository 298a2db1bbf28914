"""The `tracker` adapter: our own feed format (DESIGN.md §5), served as JSON or read from disk.

It owns one rule on top of `tracker.domain.feed_format`: the body must have been served
as JSON. A feed URL that answers with an HTML page (a login wall, a captive portal, an
error page with status 200) is reported as such, instead of as a puzzling
`invalid JSON: expecting value at line 1 column 1`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracker.domain.errors import FeedFormatError
from tracker.domain.feed_format import ParsedFeed, parse_tracker_feed

__all__ = ["is_json_media_type", "media_type", "parse_tracker", "require_json_content_type"]


def media_type(content_type: str | None) -> str | None:
    """`application/json; charset=utf-8` → `application/json`; absent or blank → None.

    Media types are case-insensitive and parameters follow a `;` (RFC 9110 §8.3.1).
    """
    if content_type is None:
        return None
    essence = content_type.split(";", 1)[0].strip().lower()
    return essence or None


def is_json_media_type(essence: str) -> bool:
    """JSON itself, its `+json` structured-syntax suffix (RFC 6839), and the old `text/json`."""
    if essence in ("application/json", "text/json"):
        return True
    return essence.startswith("application/") and essence.endswith("+json")


def require_json_content_type(content_type: str | None) -> None:
    """Refuse a body that was not served as JSON. None means a file: nothing to check."""
    essence = media_type(content_type)
    if essence is not None and not is_json_media_type(essence):
        raise FeedFormatError(f"unexpected content type {essence}: expected application/json")


def parse_tracker(body: bytes, content_type: str | None, options: Mapping[str, Any]) -> ParsedFeed:
    """A tracker feed body → its source and raw items. The adapter takes no options."""
    require_json_content_type(content_type)
    return parse_tracker_feed(body)
