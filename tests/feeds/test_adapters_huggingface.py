"""The `huggingface` adapter: Hub model listings → `model.released` items, and pagination."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.envelope import parse_draft
from tracker.domain.errors import FeedFormatError, InvalidInput
from tracker.feeds.adapters import ADAPTERS
from tracker.feeds.adapters.huggingface import next_page_url

SAMPLES = Path(__file__).parent / "samples"
PLAIN = (SAMPLES / "huggingface_models_stepfun-ai.json").read_bytes()
EXPANDED = (SAMPLES / "huggingface_models_stepfun-ai_expanded.json").read_bytes()
OPTIONS = {"org": "stepfun-ai", "company": "stepfun"}
JSON = "application/json; charset=utf-8"

parse = ADAPTERS["huggingface"]


def items_by_key(body: bytes, options: dict[str, Any] = OPTIONS) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in parse(body, JSON, options).items}


def listing(*models: dict[str, Any]) -> bytes:
    return json.dumps(list(models)).encode()


def test_each_repo_of_the_plain_listing_becomes_one_model_release() -> None:
    items = items_by_key(PLAIN)

    assert list(items) == [
        "huggingface:stepfun-ai/Step-Audio-2-mini",
        "huggingface:stepfun-ai/step3",
        "huggingface:stepfun-ai/Step-Audio-TTS-3B",
        "huggingface:stepfun-ai/GOT-OCR2_0",
    ]
    assert items["huggingface:stepfun-ai/step3"] == {
        "key": "huggingface:stepfun-ai/step3",
        "type": "model.released",
        "occurred_on": "2025-07-24",
        "data": {
            "company": "stepfun",
            "model": "step3",
            "name": "step3",
            "modalities": ["text", "image"],
            "open_weights": True,
            "license": "apache-2.0",
        },
        "sources": [
            {
                "url": "https://huggingface.co/stepfun-ai/step3",
                "publisher": "Hugging Face",
                "title": "stepfun-ai/step3",
                "published_at": "2025-07-24T06:55:38.000Z",
                "language": "en",
            }
        ],
    }


def test_the_feed_source_names_the_hub_organisation() -> None:
    parsed = parse(PLAIN, JSON, OPTIONS)

    assert parsed.source == {
        "publisher": "Hugging Face",
        "url": "https://huggingface.co/stepfun-ai",
    }


def test_every_item_of_both_listings_passes_event_validation() -> None:
    for body in (PLAIN, EXPANDED):
        for item in parse(body, JSON, OPTIONS).items:
            parse_draft(item)


def test_the_release_day_is_the_utc_day_of_created_at() -> None:
    items = items_by_key(PLAIN)

    assert items["huggingface:stepfun-ai/GOT-OCR2_0"]["occurred_on"] == "2024-09-12"
    assert items["huggingface:stepfun-ai/Step-Audio-2-mini"]["occurred_on"] == "2025-08-29"


def test_the_model_slug_is_the_lower_cased_repo_name() -> None:
    items = items_by_key(listing({"id": "stepfun-ai/Step-3", "createdAt": "2025-07-25T00:00:00Z"}))

    assert items["huggingface:stepfun-ai/Step-3"]["data"]["model"] == "step-3"
    assert items["huggingface:stepfun-ai/Step-3"]["data"]["name"] == "Step-3"
    assert items_by_key(PLAIN)["huggingface:stepfun-ai/GOT-OCR2_0"]["data"]["model"] == "got-ocr2-0"


def test_private_and_disabled_repos_are_skipped_but_gated_ones_are_kept() -> None:
    items = items_by_key(EXPANDED)

    assert list(items) == [
        "huggingface:stepfun-ai/Step-Audio-2-mini",
        "huggingface:stepfun-ai/step3",
        "huggingface:stepfun-ai/Step1X-Edit",
    ]


def test_the_parameter_count_comes_from_the_safetensors_total() -> None:
    items = items_by_key(EXPANDED)

    assert items["huggingface:stepfun-ai/step3"]["data"]["parameters_total"] == 321_000_000_000
    assert items["huggingface:stepfun-ai/Step1X-Edit"]["data"]["parameters_total"] == 12_501_200_000
    assert "parameters_total" not in items_by_key(PLAIN)["huggingface:stepfun-ai/step3"]["data"]


def test_a_custom_licence_is_named_by_the_card_license_name() -> None:
    items = items_by_key(EXPANDED)

    assert items["huggingface:stepfun-ai/Step1X-Edit"]["data"]["license"] == "step1x-edit-license"


def test_the_licence_falls_back_to_the_license_tag_and_is_left_out_without_one() -> None:
    tagged = {"id": "a/b", "createdAt": "2025-01-01T00:00:00Z", "tags": ["license:mit"]}
    bare = {"id": "a/c", "createdAt": "2025-01-01T00:00:00Z", "tags": ["safetensors"]}

    items = items_by_key(listing(tagged, bare), {"company": "a"})

    assert items["huggingface:a/b"]["data"]["license"] == "mit"
    assert "license" not in items["huggingface:a/c"]["data"]


@pytest.mark.parametrize(
    ("pipeline_tag", "modalities"),
    [
        ("text-generation", ["text"]),
        ("image-text-to-text", ["text", "image"]),
        ("text-to-speech", ["text", "audio"]),
        ("audio-text-to-text", ["text", "audio"]),
        ("text-to-video", ["text", "video"]),
        ("any-to-any", None),
        ("feature-extraction", None),
        (None, None),
    ],
)
def test_modalities_are_derived_from_the_pipeline_tag_only_when_obvious(
    pipeline_tag: str | None, modalities: list[str] | None
) -> None:
    model = {"id": "a/b", "createdAt": "2025-01-01T00:00:00Z", "pipeline_tag": pipeline_tag}

    data = parse(listing(model), JSON, {"company": "a"}).items[0]["data"]

    assert data.get("modalities") == modalities


def test_repos_of_another_organisation_are_skipped_when_org_is_set() -> None:
    ours = {"id": "StepFun-AI/Step-3", "createdAt": "2025-07-25T00:00:00Z"}
    theirs = {"id": "someone/Step-3-GGUF", "createdAt": "2025-07-26T00:00:00Z"}

    assert list(items_by_key(listing(ours, theirs))) == ["huggingface:StepFun-AI/Step-3"]


def test_entries_that_are_not_repos_are_skipped() -> None:
    body = listing(
        {"id": "a/b", "createdAt": "2025-01-01T00:00:00Z"}, {"id": "no-slash"}, {"id": "a/"}, {}
    )
    weird = json.dumps([42, "x", None]).encode()

    assert len(parse(body, JSON, {"company": "a"}).items) == 1
    assert parse(weird, JSON, {"company": "a"}).items == []


def test_a_repo_without_a_readable_creation_date_is_rejected_alone_by_validation() -> None:
    body = listing(
        {"id": "a/good", "createdAt": "2025-01-01T00:00:00Z"},
        {"id": "a/odd", "createdAt": "last tuesday"},
    )

    good, odd = parse(body, JSON, {"company": "a"}).items

    parse_draft(good)
    with pytest.raises(InvalidInput, match="occurred_on"):
        parse_draft(odd)


def test_a_body_that_is_not_a_json_array_is_refused() -> None:
    with pytest.raises(
        FeedFormatError, match=r"^not a Hugging Face model list: expected a JSON array$"
    ):
        parse(b'{"error": "Invalid username or password."}', JSON, OPTIONS)


def test_malformed_json_is_reported_with_its_position() -> None:
    with pytest.raises(FeedFormatError) as caught:
        parse(b"[{", JSON, OPTIONS)

    assert str(caught.value) == (
        "invalid JSON: expecting property name enclosed in double quotes at line 1 column 3"
    )


def test_an_html_page_is_refused_by_its_content_type() -> None:
    with pytest.raises(FeedFormatError, match=r"^unexpected content type text/html: expected"):
        parse(b"<!doctype html>", "text/html; charset=utf-8", OPTIONS)


def test_the_company_option_is_required() -> None:
    with pytest.raises(FeedFormatError, match="company"):
        parse(PLAIN, JSON, {"org": "stepfun-ai"})


NEXT = "https://huggingface.co/api/models?author=stepfun-ai&sort=createdAt&direction=-1&cursor=eyJ9"


@pytest.mark.parametrize(
    "header",
    [
        f'<{NEXT}>; rel="next"',
        f"<{NEXT}>; rel=next",
        f'<{NEXT}>;rel="NEXT"',
        f'<https://huggingface.co/api/models?p=0>; rel="prev", <{NEXT}>; rel="next"',
        f'<https://x.example/a>; title="a, b; c"; rel="last", <{NEXT}>; rel="next last"',
        f'<{NEXT}>; rel="next"; rel="prev"',
    ],
)
def test_the_next_page_is_read_from_the_link_header(header: str) -> None:
    assert next_page_url(header) == NEXT


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        '<https://x.example/a>; rel="prev"',
        "<https://x.example/a>",
        'rel="next"',
        "<broken",
    ],
)
def test_without_a_next_link_there_is_no_next_page(header: str | None) -> None:
    assert next_page_url(header) is None


def test_a_relative_next_link_is_resolved_against_the_fetched_url() -> None:
    header = '</api/models?cursor=abc>; rel="next"'

    assert next_page_url(header, base_url="https://huggingface.co/api/models?author=x") == (
        "https://huggingface.co/api/models?cursor=abc"
    )


@given(st.text())
def test_reading_the_link_header_never_fails_on_arbitrary_text(header: str) -> None:
    result = next_page_url(header)

    assert result is None or isinstance(result, str)


# Characters a URI may hold (RFC 3986 §2), commas and semicolons included.
_URI_CHARACTERS = string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%"
_targets = st.text(alphabet=_URI_CHARACTERS, min_size=1).map(
    lambda path: f"https://hub.example/{path}"
)
_rels = st.sampled_from(["prev", "last", "first", "alternate", "self"])


@given(
    before=st.lists(st.tuples(_targets, _rels), max_size=3),
    target=_targets,
    after=st.lists(st.tuples(_targets, st.sampled_from(["next", "prev", "last"])), max_size=3),
)
def test_the_first_link_with_rel_next_wins_wherever_it_stands(
    before: list[tuple[str, str]], target: str, after: list[tuple[str, str]]
) -> None:
    links = [*before, (target, "next"), *after]
    header = ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links)

    assert next_page_url(header) == target
