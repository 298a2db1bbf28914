"""The feed adapters: one pure function per feed format, bytes in, `ParsedFeed` out.

An adapter does no I/O: the fetcher brings the body and its content type, the registry
brings the options, and the items it returns are raw event objects of the tracker feed
form, validated one by one later (`tracker.domain.envelope.parse_draft`). An adapter
raises `FeedFormatError` only when the body as a whole cannot be read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

from tracker.domain.feed_format import ParsedFeed
from tracker.feeds.adapters.github_releases import parse_releases
from tracker.feeds.adapters.huggingface import parse_models
from tracker.feeds.adapters.tracker_feed import parse_tracker

__all__ = ["ADAPTERS", "REQUIRED_OPTIONS", "Adapter"]

Adapter: TypeAlias = Callable[[bytes, str | None, Mapping[str, Any]], ParsedFeed]

# The names are the registry's `adapter` values (DESIGN.md §6).
ADAPTERS: Final[dict[str, Adapter]] = {
    "tracker": parse_tracker,
    "huggingface": parse_models,
    "github-releases": parse_releases,
}

# Options each adapter cannot work without; the registry checks them when it loads.
REQUIRED_OPTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "tracker": (),
    "huggingface": ("company",),
    "github-releases": ("company",),
}
