"""Paginated listings: following `Link: <...>; rel="next"` (RFC 8288) page after page.

The Hugging Face Hub pages its model listings this way (huggingface_hub follows the
same header, src/huggingface_hub/utils/_pagination.py). `fetch` returns the body, the
validators and the scheduling hints, not the Link header, so `LinkRecorder` reads it
with an httpx response hook, which sees every response's headers (after redirects,
the final response last).

The walk is bounded: a listing longer than MAX_PAGES pages is cut short (the newest
items come first: the Hub sorts by createdAt, descending), and a `next` link back to a
page already read ends it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final

import httpx

from tracker.domain.errors import FeedFormatError
from tracker.domain.feed_format import ParsedFeed
from tracker.feeds.adapters.huggingface import next_page_url
from tracker.feeds.fetcher import FetchError, fetch

__all__ = ["MAX_PAGES", "LinkRecorder", "follow_pages"]

log = logging.getLogger(__name__)

MAX_PAGES: Final = 10

Parse = Callable[[bytes, str | None], ParsedFeed]


class LinkRecorder:
    """The `next` URL of the last response this thread received on `client`.

    Per thread, since one client may serve several threads. The hook is added to the
    client once and stays: it only remembers a header.
    """

    _local = threading.local()

    def __init__(self, client: httpx.Client) -> None:
        hooks = client.event_hooks
        responses = hooks.get("response", [])
        if LinkRecorder._remember not in responses:
            client.event_hooks = {**hooks, "response": [*responses, LinkRecorder._remember]}
        self._local.link = None

    @staticmethod
    def _remember(response: httpx.Response) -> None:
        header = response.headers.get("Link")
        LinkRecorder._local.link = (str(response.url), header) if header else None

    def next_url(self) -> str | None:
        """The `rel="next"` target of the last response, resolved against its URL."""
        link: Any = getattr(self._local, "link", None)
        self._local.link = None
        if not isinstance(link, tuple):
            return None
        return next_page_url(link[1], base_url=link[0])


def follow_pages(
    client: httpx.Client,
    links: LinkRecorder,
    first_url: str,
    next_url: str | None,
    parse: Parse,
    *,
    max_bytes: int,
    feed: str,
) -> tuple[list[Any], str | None]:
    """The items of the pages after the first, and the error that ended the walk early
    if one did (`page 3: HTTP 500 Internal Server Error`).

    Later pages are fetched unconditionally: only the first page's validators are kept,
    and a 304 on the first page means the whole listing is unchanged.
    """
    items: list[Any] = []
    seen = {first_url}
    page = 1
    while next_url is not None and next_url not in seen:
        if page >= MAX_PAGES:
            log.info("listing has more pages; stopped", extra={"feed": feed, "pages": page})
            break
        page += 1
        seen.add(next_url)
        try:
            result = fetch(
                client,
                next_url,
                etag=None,
                last_modified=None,
                max_bytes=max_bytes,
                force_full=True,
            )
            next_url = links.next_url()
            items.extend(parse(result.body or b"", result.content_type).items)
        except (FetchError, FeedFormatError) as exc:
            return items, f"page {page}: {exc}"
    return items, None
