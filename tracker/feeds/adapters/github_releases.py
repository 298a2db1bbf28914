"""The `github-releases` adapter: a repository's releases Atom feed → `model.released` items.

The body is what `https://github.com/OWNER/REPO/releases.atom` serves
(`application/atom+xml`), an Atom 1.0 feed (RFC 4287) of the newest releases first:

    <feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
      <id>tag:github.com,2008:https://github.com/OWNER/REPO/releases</id>
      <link type="text/html" rel="alternate" href="https://github.com/OWNER/REPO/releases"/>
      <title>Release notes from REPO</title>
      <entry>
        <id>tag:github.com,2008:Repository/REPO_ID/TAG</id>
        <updated>2025-02-18T09:12:45Z</updated>
        <link rel="alternate" type="text/html" href="https://github.com/OWNER/REPO/releases/tag/TAG"/>
        <title>RELEASE NAME</title> <content type="html">...</content> <author>...</author>
      </entry>
    </feed>

(shape as seen in public test data recorded from real feeds, e.g. the
microsoft/PowerToys releases.atom sample quoted in tests of several projects).

The XML is checked with defusedxml before feedparser sees it: a feed with a DTD (billion
laughs, external entities that read local files or URLs) is refused outright, since no
Atom feed needs one, and malformed XML is reported as such rather than half-parsed.

Model slugs: each release is one model version. `model` is the `model` option, or else
the repository name, followed by the tag: `Step-Audio` + `v1.0` → `step-audio-v1.0`;
a tag that already starts with that name is used alone (`step-audio-v1.0` stays as is).
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from datetime import date
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import defusedxml
import defusedxml.ElementTree as SafeElementTree
import feedparser

from tracker.domain.errors import FeedFormatError
from tracker.domain.feed_format import ParsedFeed
from tracker.domain.names import slugify

__all__ = ["PUBLISHER", "parse_releases", "release_model_slug"]

PUBLISHER: Final = "GitHub"
_ATOM_FEED: Final = "{http://www.w3.org/2005/Atom}feed"
_ENTRY_ID = re.compile(r"^tag:github\.com,2008:Repository/\d+/(.+)$")
_TAG_PATH = re.compile(r"/releases/tag/(.+)$")


def parse_releases(body: bytes, content_type: str | None, options: Mapping[str, Any]) -> ParsedFeed:
    """A releases feed → one raw `model.released` item per entry.

    Options: `company` (required), `model` (optional model name the tag is appended
    to; default the repository name) and `open_weights` (default true: register only
    repositories that publish weights).
    """
    _require_xml_content_type(content_type)
    company = _company(options)
    root = _safe_root(body)
    if root.tag != _ATOM_FEED:
        raise FeedFormatError(f"not an Atom feed: the root element is {root.tag}")
    # A stream, not the bytes: feedparser treats a bytes argument that names an existing
    # file as a path to read (feedparser/api.py, _open_resource).
    document = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    items = [_release_item(entry, company, options) for entry in document.entries]
    return ParsedFeed(source=_feed_source(document.feed), items=items)


def _require_xml_content_type(content_type: str | None) -> None:
    """Refuse a body not served as XML (e.g. an HTML error page). None means a file."""
    if content_type is None:
        return
    essence = content_type.split(";", 1)[0].strip().lower()
    xml_like = essence in ("application/xml", "text/xml") or essence.endswith("+xml")
    if essence and not xml_like:
        raise FeedFormatError(f"unexpected content type {essence}: expected application/atom+xml")


def _company(options: Mapping[str, Any]) -> str:
    company = options.get("company")
    if not isinstance(company, str) or not company.strip():
        raise FeedFormatError(
            "adapter option company is missing: the github-releases adapter needs it"
        )
    return company


def _safe_root(body: bytes) -> ElementTree.Element:
    """The document's root element, or FeedFormatError for unsafe or malformed XML."""
    try:
        # forbid_dtd: refuse any DOCTYPE, not only entity declarations; entities and
        # external references are refused by defusedxml's defaults as well.
        return SafeElementTree.fromstring(body, forbid_dtd=True)
    except defusedxml.DTDForbidden:
        raise FeedFormatError(
            "unsafe XML: a document type declaration (DTD) is not allowed"
        ) from None
    except defusedxml.EntitiesForbidden as exc:
        raise FeedFormatError(f"unsafe XML: entity {exc.name} is not allowed") from None
    except defusedxml.ExternalReferenceForbidden:
        raise FeedFormatError("unsafe XML: external references are not allowed") from None
    except ElementTree.ParseError as exc:
        raise FeedFormatError(f"invalid XML: {exc}") from None


def _release_item(entry: Any, company: str, options: Mapping[str, Any]) -> dict[str, Any]:
    entry_id = _text(entry.get("id"))
    link = _text(entry.get("link"))
    title = _text(entry.get("title"))
    tag = _release_tag(entry_id, link)
    base = _text(options.get("model")) or _repository_name(link)
    data = {
        "company": company,
        "model": release_model_slug(base, tag) if base and tag else None,
        "name": title or tag,
        "open_weights": options.get("open_weights", True),
    }
    updated = _text(entry.get("updated"))
    source = {
        "url": link,
        "publisher": PUBLISHER,
        "title": title,
        "published_at": updated,
        "language": "en",
    }
    item = {
        "key": f"github:{entry_id or link}" if entry_id or link else None,
        "type": "model.released",
        "occurred_on": _updated_day(entry, updated),
        "data": _without_none(data),
        "sources": [_without_none(source)],
    }
    return _without_none(item)


def release_model_slug(base: str, tag: str) -> str:
    """`("Step-Audio", "v1.0")` → `step-audio-v1.0`; a tag already named for the model
    (`step-audio-v1.0`) is not prefixed twice."""
    prefix, tag_slug = slugify(base), slugify(tag)
    if tag_slug == prefix or tag_slug.startswith(prefix + "-"):
        return tag_slug
    return slugify(f"{base}-{tag}")


def _release_tag(entry_id: str | None, link: str | None) -> str | None:
    """The tag from the entry id (`.../Repository/123/v1.0`), else from the release URL."""
    if entry_id and (match := _ENTRY_ID.match(entry_id)):
        return match.group(1)
    if link and (match := _TAG_PATH.search(urlsplit(link).path)):
        return unquote(match.group(1))
    return None


def _repository_name(link: str | None) -> str | None:
    """`https://github.com/OWNER/REPO/releases/tag/TAG` → `REPO`."""
    if not link:
        return None
    parts = urlsplit(link).path.split("/")
    return unquote(parts[2]) if len(parts) > 3 and parts[2] else None


def _updated_day(entry: Any, updated: str | None) -> str | None:
    # feedparser normalises Atom dates to a UTC struct_time; the raw text is kept for
    # `published_at`. An unreadable date is passed on so validation names `occurred_on`.
    parsed = entry.get("updated_parsed")
    if parsed is not None:
        return date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday).isoformat()
    return updated


def _feed_source(feed: Any) -> dict[str, Any]:
    return _without_none(
        {"publisher": PUBLISHER, "url": _text(feed.get("link")), "title": _text(feed.get("title"))}
    )


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}
