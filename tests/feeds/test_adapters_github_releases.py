"""The `github-releases` adapter: releases.atom → `model.released` items, XML attacks refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.domain.envelope import parse_draft
from tracker.domain.errors import FeedFormatError
from tracker.feeds.adapters import ADAPTERS
from tracker.feeds.adapters.github_releases import release_model_slug

SAMPLES = Path(__file__).parent / "samples"
ATOM = (SAMPLES / "github_releases_step-audio.atom").read_bytes()
ATOM_TYPE = "application/atom+xml; charset=utf-8"
OPTIONS = {"company": "stepfun"}

parse = ADAPTERS["github-releases"]


def entry(entry_id: str, link: str, title: str = "v2.0") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <entry>
    <id>{entry_id}</id>
    <updated>2025-05-01T12:00:00Z</updated>
    <link rel="alternate" type="text/html" href="{link}"/>
    <title>{title}</title>
  </entry>
</feed>""".encode()


def test_each_release_becomes_one_model_release_keyed_by_its_atom_id() -> None:
    parsed = parse(ATOM, ATOM_TYPE, OPTIONS)

    assert [item["key"] for item in parsed.items] == [
        "github:tag:github.com,2008:Repository/931245870/v1.1",
        "github:tag:github.com,2008:Repository/931245870/v1.0",
    ]
    assert parsed.items[1] == {
        "key": "github:tag:github.com,2008:Repository/931245870/v1.0",
        "type": "model.released",
        "occurred_on": "2025-02-17",
        "data": {
            "company": "stepfun",
            "model": "step-audio-v1.0",
            "name": "v1.0",
            "open_weights": True,
        },
        "sources": [
            {
                "url": "https://github.com/stepfun-ai/Step-Audio/releases/tag/v1.0",
                "publisher": "GitHub",
                "title": "v1.0",
                "published_at": "2025-02-17T23:40:02Z",
                "language": "en",
            }
        ],
    }


def test_the_feed_source_is_the_repository_releases_page() -> None:
    parsed = parse(ATOM, ATOM_TYPE, OPTIONS)

    assert parsed.source == {
        "publisher": "GitHub",
        "url": "https://github.com/stepfun-ai/Step-Audio/releases",
        "title": "Release notes from Step-Audio",
    }


def test_the_release_day_is_the_utc_day_of_updated() -> None:
    newer = parse(ATOM, ATOM_TYPE, OPTIONS).items[0]

    assert newer["occurred_on"] == "2025-03-03"  # 06:15 at +08:00 is the day before in UTC
    assert newer["sources"][0]["published_at"] == "2025-03-04T06:15:27+08:00"
    assert newer["data"]["name"] == "Step-Audio v1.1"


def test_every_item_passes_event_validation() -> None:
    for item in parse(ATOM, ATOM_TYPE, OPTIONS).items:
        parse_draft(item)


def test_the_model_option_replaces_the_repository_name_in_the_slug() -> None:
    items = parse(ATOM, ATOM_TYPE, {"company": "stepfun", "model": "Step Audio Chat"}).items

    assert [item["data"]["model"] for item in items] == [
        "step-audio-chat-v1.1",
        "step-audio-chat-v1.0",
    ]


@pytest.mark.parametrize(
    ("base", "tag", "slug"),
    [
        ("Step-Audio", "v1.0", "step-audio-v1.0"),
        ("Step-Audio", "step-audio-v1.0", "step-audio-v1.0"),
        ("Step-Audio", "Step-Audio", "step-audio"),
        ("stepvideo", "v0.9.1-rc1", "stepvideo-v0.9.1-rc1"),
    ],
)
def test_a_release_slug_is_the_model_name_and_the_tag_without_repeating_the_name(
    base: str, tag: str, slug: str
) -> None:
    assert release_model_slug(base, tag) == slug


def test_the_tag_falls_back_to_the_release_url_when_the_id_is_not_githubs() -> None:
    body = entry("urn:uuid:1", "https://github.com/stepfun-ai/Step-Audio/releases/tag/v2.0")

    item = parse(body, ATOM_TYPE, OPTIONS).items[0]

    assert item["data"]["model"] == "step-audio-v2.0"
    assert item["key"] == "github:urn:uuid:1"


def test_the_open_weights_option_can_say_a_repository_ships_no_weights() -> None:
    items = parse(ATOM, ATOM_TYPE, {"company": "stepfun", "open_weights": False}).items

    assert {item["data"]["open_weights"] for item in items} == {False}


def test_a_billion_laughs_document_is_refused_as_unsafe() -> None:
    body = (SAMPLES / "billion_laughs.xml").read_bytes()

    with pytest.raises(FeedFormatError, match=r"^unsafe XML: "):
        parse(body, ATOM_TYPE, OPTIONS)


def test_an_external_entity_is_refused_as_unsafe() -> None:
    body = (SAMPLES / "external_entity.xml").read_bytes()

    with pytest.raises(FeedFormatError, match=r"^unsafe XML: ") as caught:
        parse(body, ATOM_TYPE, OPTIONS)

    assert "/bin/" not in str(caught.value)  # nothing of /etc/passwd leaks into the error


@pytest.mark.parametrize(
    "body",
    [b"", b"<feed xmlns='http://www.w3.org/2005/Atom'><entry></feed>", b"not xml at all"],
)
def test_malformed_xml_is_refused_as_invalid(body: bytes) -> None:
    with pytest.raises(FeedFormatError, match=r"^invalid XML: "):
        parse(body, ATOM_TYPE, OPTIONS)


def test_a_body_naming_a_local_file_is_not_read_as_that_file(tmp_path: Path) -> None:
    # feedparser opens a bytes argument that names an existing file; the adapter must not.
    atom_file = tmp_path / "releases.atom"
    atom_file.write_bytes(ATOM)

    with pytest.raises(FeedFormatError, match=r"^invalid XML: "):
        parse(str(atom_file).encode(), ATOM_TYPE, OPTIONS)


def test_an_rss_document_is_not_taken_for_a_releases_feed() -> None:
    body = b"<rss version='2.0'><channel><title>x</title></channel></rss>"

    with pytest.raises(FeedFormatError, match=r"^not an Atom feed: the root element is rss$"):
        parse(body, "application/rss+xml", OPTIONS)


def test_an_html_page_is_refused_by_its_content_type() -> None:
    with pytest.raises(FeedFormatError) as caught:
        parse(b"<html></html>", "text/html; charset=utf-8", OPTIONS)

    assert str(caught.value) == "unexpected content type text/html: expected application/atom+xml"


@pytest.mark.parametrize(
    "content_type", ["application/atom+xml", "application/xml", "text/xml", None]
)
def test_the_feed_is_read_when_served_as_xml_or_from_a_file(content_type: str | None) -> None:
    assert len(parse(ATOM, content_type, OPTIONS).items) == 2


def test_the_company_option_is_required() -> None:
    with pytest.raises(FeedFormatError, match="company"):
        parse(ATOM, ATOM_TYPE, {})
