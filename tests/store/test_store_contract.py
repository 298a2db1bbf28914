"""The store's contract, run on SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from tracker.db import read_connection, write_transaction
from tracker.domain.dates import FuzzyDate
from tracker.domain.envelope import EventDraft
from tracker.domain.errors import VersionConflict
from tracker.store.appending import AppendResult, ConcurrentAppend, PendingEvent, append_events
from tracker.store.reading import (
    START,
    LogCursor,
    cursor_for_position,
    head,
    read_all,
    read_stream,
)


def draft(company: str = "stepfun", **overrides: object) -> EventDraft:
    fields: dict[str, object] = {
        "type": "company.alias_added",
        "data": {"company": company, "alias": f"alias {uuid.uuid4().hex[:6]}"},
        "occurred_on": FuzzyDate.parse("2026-01-26"),
    }
    fields.update(overrides)
    return EventDraft(**fields)  # type: ignore[arg-type]


def append(
    engine: Engine, *drafts: EventDraft, stream: str = "company-stepfun", key: str | None = None
) -> AppendResult:
    with write_transaction(engine) as conn:
        return append_events(conn, [PendingEvent(stream, d) for d in drafts], idempotency_key=key)


def test_events_get_consecutive_versions_and_increasing_positions(engine: Engine) -> None:
    first = append(engine, draft(), draft())
    second = append(engine, draft())
    versions = [e.version for e in first.events + second.events]
    positions = [e.position for e in first.events + second.events]
    assert versions == [1, 2, 3]
    assert positions == sorted(positions) and len(set(positions)) == 3
    with read_connection(engine) as conn:
        assert [e.version for e in read_stream(conn, "company-stepfun")] == [1, 2, 3]


def test_a_stale_expected_version_is_a_conflict_and_adds_nothing(engine: Engine) -> None:
    append(engine, draft(), draft())
    with pytest.raises(VersionConflict) as raised:
        append(engine, draft(expected_version=1))
    assert (raised.value.expected, raised.value.actual) == (1, 2)
    ok = append(engine, draft(expected_version=2))
    assert ok.events[0].version == 3
    with read_connection(engine) as conn:
        assert len(read_stream(conn, "company-stepfun")) == 3


def test_expected_version_zero_means_a_new_stream(engine: Engine) -> None:
    assert append(engine, draft(expected_version=0)).events[0].version == 1
    with pytest.raises(VersionConflict):
        append(engine, draft(expected_version=0))


def test_a_repeated_idempotency_key_returns_the_stored_events_and_adds_nothing(
    engine: Engine,
) -> None:
    first = append(engine, draft(), key="feed:item-1")
    again = append(engine, draft(), key="feed:item-1")
    assert again.replayed and not first.replayed
    assert [e.id for e in again.events] == [e.id for e in first.events]
    with read_connection(engine) as conn:
        assert len(read_all(conn)) == 1


def test_a_repeated_event_id_is_refused_by_the_database(engine: Engine) -> None:
    event = draft()
    append(engine, event)
    with pytest.raises(ConcurrentAppend):
        append(engine, event, stream="company-other")
    with write_transaction(engine) as conn:
        replay = append_events(conn, [PendingEvent("company-stepfun", event)], check_ids=True)
    assert replay.replayed and replay.events[0].id == event.id


def test_a_batch_is_atomic_across_streams(engine: Engine) -> None:
    append(engine, draft("moonshot-ai"), stream="company-moonshot-ai")
    batch = [
        PendingEvent("company-stepfun", draft()),
        PendingEvent("company-moonshot-ai", draft("moonshot-ai", expected_version=0)),
    ]
    with pytest.raises(VersionConflict), write_transaction(engine) as conn:
        append_events(conn, batch)
    with read_connection(engine) as conn:
        assert read_stream(conn, "company-stepfun") == []


def test_read_all_filters_by_type_and_stream_and_pages_with_a_cursor(engine: Engine) -> None:
    append(engine, draft(), draft(type="company.renamed", data={"company": "stepfun", "name": "S"}))
    append(engine, draft("zhipu"), stream="company-zhipu")
    with read_connection(engine) as conn:
        everything = read_all(conn)
        assert [e.stream for e in everything] == ["company-stepfun"] * 2 + ["company-zhipu"]
        assert [e.type for e in read_all(conn, types=["company.renamed"])] == ["company.renamed"]
        assert [e.stream for e in read_all(conn, streams=["company-zhipu"])] == ["company-zhipu"]
        page = read_all(conn, limit=2)
        rest = read_all(conn, LogCursor(page[-1].tx, page[-1].position))
        assert [e.id for e in page + rest] == [e.id for e in everything]
        assert cursor_for_position(conn, page[-1].position) == LogCursor(
            page[-1].tx, page[-1].position
        )
        assert head(conn).position == everything[-1].position
        assert cursor_for_position(conn, 0) == START


def test_stored_events_keep_their_envelope(engine: Engine) -> None:
    event = draft(
        type="funding_round.announced",
        data={
            "company": "stepfun",
            "round": "series_b_plus",
            "money_raised": {"value": "5000000000", "currency": "CNY", "qualifier": "at_least"},
        },
        occurred_on=FuzzyDate.parse("2026-01"),
        sources=[{"url": "https://example.org/a", "publisher": "Example"}],
        metadata={"by": "test"},
    )
    append(engine, event)
    with read_connection(engine) as conn:
        stored = read_stream(conn, "company-stepfun")[0]
    envelope = stored.envelope()
    assert envelope["occurred_on"] == {"date": "2026-01-01", "precision": "month"}
    money = envelope["data"]["money_raised"]
    assert money["value"] == "5000000000" and money["currency"] == "CNY"
    assert money["rate_date"] == "2026-01-30"  # last ECB business day of January 2026
    assert 700_000_000 < int(money["value_usd"]) < 740_000_000
    assert stored.recorded_at.tzinfo is not None and stored.recorded_at <= datetime.now(UTC)
    assert envelope["sources"][0]["publisher"] == "Example"
    assert envelope["metadata"] == {"by": "test"}


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET type = 'x'", "DELETE FROM events"],
)
def test_the_database_refuses_to_change_or_delete_events(engine: Engine, statement: str) -> None:
    append(engine, draft())
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with read_connection(engine) as conn:
        assert len(read_all(conn)) == 1


def test_the_database_refuses_a_duplicate_stream_version(engine: Engine) -> None:
    append(engine, draft())
    row = {"id": uuid.uuid4().hex, "s": "company-stepfun"}
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (id, stream, version, type, occurred_on, occurred_precision,"
                " recorded_at, data, sources, event_metadata, tx_id) VALUES (:id, :s, 1,"
                " 'company.renamed', '2026-01-01', 'day', '2026-01-01', '{}', '[]', '{}', 0)"
            ),
            row,
        )
