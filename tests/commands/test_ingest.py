"""Ingest: each item on its own; valid items land, invalid ones are reported by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from typer.testing import CliRunner

from tracker.cli import app
from tracker.commands.ingest import ingest_feed
from tracker.db import read_connection
from tracker.domain.feed_format import ParsedFeed, parse_tracker_feed
from tracker.store.reading import read_all, read_stream

SEED = Path(__file__).resolve().parents[2] / "feeds" / "seed.json"
SOURCE = {"publisher": "Test desk", "url": "https://example.org/feed"}


def feed(*items: Any) -> ParsedFeed:
    return ParsedFeed(source=SOURCE, items=list(items))


def registered(slug: str, name: str, *aliases: str) -> dict[str, Any]:
    return {
        "key": f"reg:{slug}",
        "type": "company.registered",
        "occurred_on": "2023-04",
        "data": {"company": slug, "name": name, "aliases": list(aliases)},
    }


def round_of(company: str, currency: str = "CNY", day: str = "2026-01-26") -> dict[str, Any]:
    return {
        "key": f"round:{company}:{currency}:{day}",
        "type": "funding_round.announced",
        "occurred_on": day,
        "data": {
            "company": company,
            "round": "series_b_plus",
            "money_raised": {"value": "5000000000", "currency": currency, "qualifier": "at_least"},
        },
    }


def test_the_seed_feed_ingests_cleanly_and_a_second_read_adds_nothing(engine: Engine) -> None:
    parsed = parse_tracker_feed(SEED.read_bytes())
    first = ingest_feed(engine, parsed)
    assert (first.new, first.duplicate, first.rejected) == (len(parsed.items), 0, [])
    again = ingest_feed(engine, parsed)
    assert (again.new, again.duplicate, len(again.rejected)) == (0, len(parsed.items), 0)
    with read_connection(engine) as conn:
        assert len(read_all(conn, limit=10_000)) == first.events_appended


def test_invalid_items_are_reported_by_field_and_valid_ones_still_land(engine: Engine) -> None:
    report = ingest_feed(
        engine,
        feed(
            registered("stepfun", "StepFun", "Step Star", "阶跃星辰"),
            round_of("stepfun", currency="RMB"),
            {**round_of("stepfun"), "occurred_on": "2026-02-30"},
            {"type": "company.merged", "occurred_on": "2026", "data": {}},
            {"type": "model.released", "occurred_on": "2025-07", "data": {"model": "step-3"}},
            round_of("阶跃星辰"),
        ),
    )
    assert (report.new, report.duplicate) == (2, 0)
    lines = [line for rejection in report.rejected for line in rejection.lines()]
    assert (
        "item 1: data.money_raised.currency: unknown currency 'RMB': expected an ISO 4217 code such as CNY"
        in lines
    )
    assert any(line.startswith("item 2: occurred_on: impossible date") for line in lines)
    assert any(
        line.startswith("item 3: type: unknown event type 'company.merged'") for line in lines
    )
    assert "item 4: data.company: Field required" in lines
    with read_connection(engine) as conn:
        stepfun = read_stream(conn, "company-stepfun")
    assert [event.type for event in stepfun] == ["company.registered", "funding_round.announced"]
    assert stepfun[1].data["company"] == "stepfun"  # resolved from the Chinese alias
    assert stepfun[1].sources == [{"publisher": "Test desk", "url": "https://example.org/feed"}]


def test_a_repeated_item_inside_one_feed_is_a_duplicate(engine: Engine) -> None:
    report = ingest_feed(
        engine, feed(registered("zhipu", "Zhipu AI"), registered("zhipu", "Zhipu AI"))
    )
    assert (report.new, report.duplicate) == (1, 1)


def test_items_without_key_or_id_are_deduplicated_by_content(engine: Engine) -> None:
    item = {
        "type": "company.registered",
        "occurred_on": "2019",
        "data": {"company": "zhipu", "name": "Zhipu AI"},
    }
    assert ingest_feed(engine, feed(item)).new == 1
    assert ingest_feed(engine, feed(dict(item))).duplicate == 1


def test_an_unknown_company_name_registers_the_company_first(engine: Engine) -> None:
    report = ingest_feed(engine, feed(round_of("Dark Side of the Moon", currency="USD")))
    assert report.new == 1 and report.events_appended == 2
    with read_connection(engine) as conn:
        events = read_stream(conn, "company-dark-side-of-the-moon")
    assert [event.type for event in events] == ["company.registered", "funding_round.announced"]
    assert events[0].data["name"] == "Dark Side of the Moon"


def test_an_ambiguous_name_is_rejected_naming_the_candidates(engine: Engine) -> None:
    report = ingest_feed(
        engine,
        feed(
            registered("moonshot-ai", "Moonshot AI", "Moonshot"),
            registered("moonshot-labs", "Moonshot Labs", "Moonshot"),
            round_of("Moonshot", currency="USD"),
        ),
    )
    assert report.new == 2
    [rejection] = report.rejected
    assert rejection.lines() == [
        "item 2: data.company: ambiguous name 'Moonshot': matches moonshot-ai, moonshot-labs; use a slug"
    ]


def test_the_cli_prints_counts_and_reasons_and_exits_1_on_rejections(
    database_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TRACKER_DATABASE_URL", database_url)
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    path = tmp_path / "feed.json"
    path.write_text(
        json.dumps(
            {
                "tracker_feed": 1,
                "source": SOURCE,
                "events": [registered("minimax", "MiniMax"), round_of("minimax", "XYZ")],
            }
        )
    )
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "new 1, duplicate 0, rejected 1",
        "item 1: data.money_raised.currency: unknown currency 'XYZ': expected an ISO 4217 code such as CNY",
    ]
    again = runner.invoke(app, ["ingest", str(path)])
    assert again.stdout.splitlines()[0] == "new 0, duplicate 1, rejected 1"
    broken = tmp_path / "broken.json"
    broken.write_text('{"tracker_feed": 1, "events": [')
    result = runner.invoke(app, ["ingest", str(broken)])
    assert result.exit_code == 1
    assert "invalid JSON" in result.stderr
