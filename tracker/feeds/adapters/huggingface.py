"""The `huggingface` adapter: a Hugging Face Hub model listing → `model.released` items.

The body is what `GET https://huggingface.co/api/models?author=ORG&sort=createdAt&direction=-1`
answers: a JSON array of model objects. Field names and meanings follow the Hub client's
own reader, `ModelInfo.__init__` in huggingface/huggingface_hub
(src/huggingface_hub/hf_api.py):

- always listed: `id` (`"ORG/NAME"`, also repeated as `modelId`), `createdAt` (ISO 8601
  in UTC, e.g. `"2025-07-24T06:55:38.000Z"`; the Hub has stored it since 2022-03-02),
  `private`, `tags` (among them `"license:apache-2.0"`), `pipeline_tag`, `library_name`,
  `downloads`, `likes`;
- only on request (`expand[]=...` or `full=true`): `author`, `gated` (`false`,
  `"auto"`, `"manual"`), `disabled`, `lastModified`, `safetensors`
  (`{"parameters": {"BF16": n, ...}, "total": n}`) and `cardData` (the model card's
  front matter: `license`, `license_name`, ...).

Every field is treated as optional, so either form of the listing works; fields the
listing does not carry are simply left out of the item.

The Hub paginates listings with an RFC 8288 `Link: <...>; rel="next"` header, the way
GitHub does (huggingface_hub, src/huggingface_hub/utils/_pagination.py, follows it);
`next_page_url` reads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urljoin

from tracker.domain.errors import FeedFormatError
from tracker.domain.feed_format import ParsedFeed
from tracker.domain.names import slugify
from tracker.feeds.adapters.tracker_feed import require_json_content_type

__all__ = ["HUB_URL", "PUBLISHER", "next_page_url", "parse_models"]

HUB_URL: Final = "https://huggingface.co"
PUBLISHER: Final = "Hugging Face"

# Only the pipeline tags whose modalities are plain from the task's name (the Hub's task
# list: huggingface.co/tasks). Anything else (`any-to-any`, `feature-extraction`, ...)
# leaves `modalities` out rather than guess.
_MODALITIES: Final[Mapping[str, tuple[str, ...]]] = {
    "text-generation": ("text",),
    "text2text-generation": ("text",),
    "translation": ("text",),
    "summarization": ("text",),
    "image-text-to-text": ("text", "image"),
    "visual-question-answering": ("text", "image"),
    "image-to-text": ("text", "image"),
    "text-to-image": ("text", "image"),
    "image-to-image": ("image",),
    "text-to-speech": ("text", "audio"),
    "text-to-audio": ("text", "audio"),
    "automatic-speech-recognition": ("audio", "text"),
    "audio-text-to-text": ("text", "audio"),
    "audio-to-audio": ("audio",),
    "text-to-video": ("text", "video"),
    "image-to-video": ("image", "video"),
    "video-text-to-text": ("text", "video"),
}


def parse_models(body: bytes, content_type: str | None, options: Mapping[str, Any]) -> ParsedFeed:
    """A model listing → one raw `model.released` item per public, enabled repo.

    Options: `company` (required; the slug every item is filed under) and `org`
    (optional; when set, repos of any other namespace are skipped, so a mistyped URL
    cannot file another organisation's models under this company).
    """
    require_json_content_type(content_type)
    company = _company(options)
    org = options.get("org")
    listing = _decode_json(body)
    if not isinstance(listing, list):
        raise FeedFormatError("not a Hugging Face model list: expected a JSON array")
    items = [_model_item(model, company) for model in listing if _is_listed(model, org)]
    url = f"{HUB_URL}/{org}" if isinstance(org, str) and org else HUB_URL
    return ParsedFeed(source={"publisher": PUBLISHER, "url": url}, items=items)


def _company(options: Mapping[str, Any]) -> str:
    company = options.get("company")
    if not isinstance(company, str) or not company.strip():
        raise FeedFormatError("adapter option company is missing: the huggingface adapter needs it")
    return company


def _decode_json(body: bytes) -> Any:
    # Same wording as the tracker feed's errors, so `last_error` reads alike for both.
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise FeedFormatError(f"invalid encoding: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        reason = exc.msg.lower().removesuffix(" starting at")
        raise FeedFormatError(
            f"invalid JSON: {reason} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise FeedFormatError("invalid JSON: nested too deeply") from None


def _is_listed(model: Any, org: Any) -> bool:
    """A public, enabled repo of the expected namespace; anything else is not a release."""
    if not isinstance(model, dict):
        return False
    repo_id = model.get("id")
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        return False
    # An anonymous listing never shows private repos; with a token it would, and a
    # private repo is not a public release. A disabled repo has been taken down.
    if model.get("private") is True or model.get("disabled") is True:
        return False
    namespace = repo_id.split("/", 1)[0]
    return not (isinstance(org, str) and org and namespace.casefold() != org.casefold())


def _model_item(model: dict[str, Any], company: str) -> dict[str, Any]:
    repo_id: str = model["id"]
    name = repo_id.split("/", 1)[1]
    created = model.get("createdAt")
    data = {
        "company": company,
        "model": slugify(name),
        "name": name,
        "parameters_total": _parameters_total(model.get("safetensors")),
        "modalities": _modalities(model.get("pipeline_tag")),
        # Weights on the Hub are downloadable, for gated repos after accepting terms.
        "open_weights": True,
        "license": _license(model),
    }
    source = {
        "url": f"{HUB_URL}/{repo_id}",
        "publisher": PUBLISHER,
        "title": repo_id,
        "published_at": created if isinstance(created, str) else None,
        "language": "en",
    }
    item = {
        "key": f"huggingface:{repo_id}",
        "type": "model.released",
        "occurred_on": _release_day(created),
        "data": _without_none(data),
        "sources": [_without_none(source)],
    }
    return _without_none(item)


def _release_day(created: Any) -> Any:
    """The UTC day of `createdAt`; a value that is not a timestamp is passed on as it is,
    so validation rejects the item naming `occurred_on` (one bad repo costs no other)."""
    if not isinstance(created, str):
        return created
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        return created
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()


def _parameters_total(safetensors: Any) -> int | None:
    if not isinstance(safetensors, dict):
        return None
    total = safetensors.get("total")
    if isinstance(total, int) and not isinstance(total, bool) and total > 0:
        return total
    return None


def _modalities(pipeline_tag: Any) -> list[str] | None:
    found = _MODALITIES.get(pipeline_tag) if isinstance(pipeline_tag, str) else None
    return list(found) if found else None


def _license(model: dict[str, Any]) -> str | None:
    """The model card's licence, else the Hub's `license:` tag (which mirrors the card)."""
    card = model.get("cardData")
    if isinstance(card, dict):
        licence = card.get("license")
        if isinstance(licence, list):
            licence = next((x for x in licence if isinstance(x, str) and x), None)
        # "other" means a custom licence, named in `license_name` (Hub model card spec).
        if licence == "other" and isinstance(card.get("license_name"), str):
            licence = card["license_name"]
        if isinstance(licence, str) and licence.strip():
            return licence.strip()
    tags = model.get("tags")
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, str) and tag.startswith("license:") and len(tag) > 8:
                return tag.removeprefix("license:")
    return None


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


# One `; name=value` link parameter (RFC 8288 §3): a token or a quoted string.
_LINK_PARAM = re.compile(
    r'\s*;\s*([^\s=;,"<>]+)\s*(?:=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;,"]*)))?', re.DOTALL
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def next_page_url(link_header: str | None, *, base_url: str | None = None) -> str | None:
    """The target of the first link whose relation types include `next`, else None.

    `rel` may list several space-separated types and compares case-insensitively
    (RFC 8288 §3.3). A relative target is resolved against `base_url` (the URL that was
    fetched, the link's context) when one is given. Malformed text yields None, never
    an exception: a broken header only ends the pagination.
    """
    if not link_header:
        return None
    for target, params in _links(link_header):
        if "next" in params.get("rel", "").lower().split():
            return urljoin(base_url, target) if base_url else target
    return None


def _links(header: str) -> Iterator[tuple[str, dict[str, str]]]:
    """`<target>; name=value; ...` link-values, separated by commas (RFC 8288 §3)."""
    position = 0
    while (start := header.find("<", position)) >= 0:
        end = header.find(">", start + 1)
        if end < 0:
            return
        params: dict[str, str] = {}
        position = end + 1
        while match := _LINK_PARAM.match(header, position):
            name, quoted, token = match.groups()
            value = _ESCAPE.sub(r"\1", quoted) if quoted is not None else token or ""
            # Only the first occurrence of a parameter counts (RFC 8288 §3.3 for `rel`).
            params.setdefault(name.lower(), value)
            position = match.end()
        yield header[start + 1 : end].strip(), params
        comma = header.find(",", position)
        if comma < 0:
            return
        position = comma + 1
