"""The `tracker` adapter: our feed format, refused when it was not served as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracker.domain.envelope import parse_draft
from tracker.domain.errors import FeedFormatError
from tracker.feeds.adapters import ADAPTERS, REQUIRED_OPTIONS

BUNDLED_SEED = Path(__file__).parents[2] / "feeds" / "seed.json"

FEED = json.dumps(
    {
        "tracker_feed": 1,
        "source": {"publisher": "Example", "url": "https://example.com/feed.json"},
        "events": [
            {
                "key": "example:step-3",
                "type": "model.released",
                "occurred_on": "2025-07",
                "data": {"company": "stepfun", "model": "step-3", "name": "Step-3"},
            }
        ],
    }
).encode()

parse = ADAPTERS["tracker"]


def test_the_registry_offers_the_three_adapters_by_their_contract_names() -> None:
    assert set(ADAPTERS) == {"tracker", "huggingface", "github-releases"}
    assert set(REQUIRED_OPTIONS) == set(ADAPTERS)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/feed+json",
        "text/json",
        None,
    ],
)
def test_a_feed_served_as_json_or_read_from_a_file_is_parsed(content_type: str | None) -> None:
    parsed = parse(FEED, content_type, {})

    assert parsed.source == {"publisher": "Example", "url": "https://example.com/feed.json"}
    assert [item["key"] for item in parsed.items] == ["example:step-3"]


@pytest.mark.parametrize(
    ("content_type", "essence"),
    [
        ("text/html", "text/html"),
        ("text/html; charset=utf-8", "text/html"),
        ("text/plain", "text/plain"),
    ],
)
def test_a_feed_served_as_anything_but_json_is_refused_naming_the_type(
    content_type: str, essence: str
) -> None:
    with pytest.raises(FeedFormatError) as caught:
        parse(b"<html><body>Sign in</body></html>", content_type, {})

    assert str(caught.value) == f"unexpected content type {essence}: expected application/json"


def test_malformed_json_is_reported_with_its_position() -> None:
    with pytest.raises(FeedFormatError, match=r"^invalid JSON: .* at line 1 column \d+$"):
        parse(b'{"tracker_feed": 1, "events": [', "application/json", {})


def test_every_item_of_the_bundled_seed_feed_passes_validation() -> None:
    parsed = parse(BUNDLED_SEED.read_bytes(), None, {})

    assert parsed.items
    for item in parsed.items:
        parse_draft(item)
