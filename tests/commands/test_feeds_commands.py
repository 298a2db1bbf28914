"""Feed rows: registry sync, operator actions, claims under a lease, what polls record;
and `tracker feeds list` / `tracker feeds poll` on feed files, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from tracker.cli_feeds import feeds_app
from tracker.commands.feed_polls import (
    claim_due_feeds,
    claim_feed,
    record_failure,
    record_gone,
    record_success,
)
from tracker.commands.feeds import (
    FeedBusy,
    FeedDisabled,
    PollCounts,
    get_feed,
    list_feeds,
    reenable_feed,
    request_poll,
    sync_registry,
)
from tracker.domain.errors import NotFound
from tracker.feeds.registry import FeedConfig

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
LEASE = timedelta(minutes=10)


def config(name: str, url: str = "https://example.org/feed", **changes: Any) -> FeedConfig:
    return replace(FeedConfig(name, "tracker", url, 6 * HOUR), **changes)


def succeed(engine: Engine, name: str, *, etag: str | None = None, new: int = 1) -> None:
    claim_feed(engine, name, "w", NOW, LEASE)
    assert record_success(
        engine,
        name,
        worker_id="w",
        now=NOW,
        next_poll_at=NOW + 6 * HOUR,
        counts=PollCounts(new=new),
        etag=etag,
        last_modified=None,
    )


def test_a_registry_sync_adds_feeds_keeps_their_state_and_retires_removed_ones(
    engine: Engine,
) -> None:
    added = sync_registry(engine, [config("a"), config("b")], NOW)
    succeed(engine, "a", etag='"v1"')

    later = sync_registry(engine, [config("a", interval=HOUR), config("c")], NOW + HOUR)
    moved = sync_registry(engine, [config("a", "https://example.org/moved", interval=HOUR)], NOW)
    unchanged = sync_registry(
        engine, [config("a", "https://example.org/moved", interval=HOUR)], NOW
    )

    assert (added.added, added.changed, added.retired) == (["a", "b"], [], [])
    assert (later.added, later.changed, later.retired) == (["c"], ["a"], ["b"])
    assert (moved.changed, moved.retired) == (["a"], ["c"])
    assert (unchanged.added, unchanged.changed, unchanged.retired) == ([], [], [])
    feeds = {feed.name: feed for feed in list_feeds(engine)}
    assert list(feeds) == ["a", "b", "c"]  # retired feeds keep their history
    a = feeds["a"]
    assert (a.interval, a.poll_count, a.totals.new, a.status) == (HOUR, 1, 1, "ok")
    assert a.next_poll_at == NOW + HOUR, "a shorter interval counts from the last poll"
    assert a.etag is None, "validators belong to the URL they came from"
    assert not feeds["b"].enabled and feeds["c"].next_poll_at == NOW + HOUR
    assert feeds["c"].counts is None and feeds["c"].totals == PollCounts()


def test_a_poll_request_makes_a_feed_due_and_refuses_unknown_and_gone_feeds(
    engine: Engine,
) -> None:
    sync_registry(engine, [config("live"), config("gone")], NOW)
    succeed(engine, "live")
    claim_feed(engine, "gone", "w", NOW, LEASE)
    assert record_gone(engine, "gone", worker_id="w", now=NOW)

    due = request_poll(engine, "live", NOW + HOUR)

    assert due.next_poll_at == NOW + HOUR
    with pytest.raises(NotFound, match="no feed named 'nope'"):
        request_poll(engine, "nope", NOW)
    with pytest.raises(FeedDisabled) as refused:
        request_poll(engine, "gone", NOW)
    assert str(refused.value) == "feed gone is disabled (410 Gone); re-enable it first"
    assert claim_due_feeds(engine, "w", NOW + 30 * HOUR, LEASE, 10) == [get_feed(engine, "live")]
    back = reenable_feed(engine, "gone", NOW + HOUR)
    assert (back.status, back.disabled_reason, back.next_poll_at) == ("ok", None, NOW + HOUR)


def test_only_due_enabled_feeds_are_claimed_and_a_lease_keeps_other_workers_off(
    engine: Engine,
) -> None:
    sync_registry(engine, [config("due"), config("later"), config("off", enabled=False)], NOW)
    succeed(engine, "later")

    first = claim_due_feeds(engine, "w1", NOW, LEASE, 10)
    meanwhile = claim_due_feeds(engine, "w2", NOW + LEASE / 2, LEASE, 10)
    after_lease = claim_due_feeds(engine, "w2", NOW + 2 * LEASE, LEASE, 10)

    assert [feed.name for feed in first] == ["due"] and first[0].claimed_by == "w1"
    assert meanwhile == []
    assert [feed.name for feed in after_lease] == ["due"]
    with pytest.raises(FeedBusy, match="feed due is being polled by w2"):
        claim_feed(engine, "due", "w3", NOW + 2 * LEASE, LEASE)
    stale = record_failure(
        engine, "due", worker_id="w1", now=NOW, next_poll_at=NOW, error="too late"
    )
    assert stale is False, "a worker whose lease was taken over records nothing"
    assert get_feed(engine, "due").last_error is None
    assert claim_feed(engine, "off", "w3", NOW, LEASE).claimed_by == "w3"  # on request


def test_failures_count_up_with_their_message_and_a_success_resets_them(engine: Engine) -> None:
    sync_registry(engine, [config("flaky")], NOW)
    for attempt in range(2):
        claim_feed(engine, "flaky", "w", NOW, LEASE)
        record_failure(
            engine,
            "flaky",
            worker_id="w",
            now=NOW,
            next_poll_at=NOW + HOUR,
            error=f"HTTP 500 Internal Server Error ({attempt})",
        )
    failing = get_feed(engine, "flaky")
    claim_feed(engine, "flaky", "w", NOW, LEASE)
    record_success(
        engine,
        "flaky",
        worker_id="w",
        now=NOW,
        next_poll_at=NOW + HOUR,
        counts=PollCounts(2, 1, 1),
        etag=None,
        last_modified=None,
        note="1 rejected: item 3: x",
    )
    healthy = get_feed(engine, "flaky")

    assert (failing.status, failing.error_count) == ("error", 2)
    assert failing.last_error == "HTTP 500 Internal Server Error (1)"
    assert (healthy.status, healthy.error_count, healthy.poll_count) == ("ok", 0, 3)
    assert healthy.last_error == "1 rejected: item 3: x"
    assert healthy.counts == PollCounts(2, 1, 1) and healthy.totals == PollCounts(2, 1, 1)
    assert healthy.claimed_by is None and healthy.last_polled_at == NOW


def test_the_cli_lists_feeds_and_polls_one_by_name(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = {
        "key": "t:acme",
        "type": "company.registered",
        "occurred_on": "2024-03",
        "data": {"company": "acme", "name": "Acme"},
    }
    (tmp_path / "acme.json").write_text(json.dumps({"tracker_feed": 1, "events": [item]}))
    (tmp_path / "feeds.toml").write_text(
        '[[feeds]]\nname = "acme"\nadapter = "tracker"\nurl = "acme.json"\n'
        '[[feeds]]\nname = "missing"\nadapter = "tracker"\nurl = "missing.json"\n'
    )
    monkeypatch.setenv("TRACKER_DATABASE_URL", database_url)
    monkeypatch.setenv("TRACKER_FEEDS", str(tmp_path / "feeds.toml"))
    runner = CliRunner()

    first = runner.invoke(feeds_app, ["poll", "acme"])
    again = runner.invoke(feeds_app, ["poll", "acme"])
    broken = runner.invoke(feeds_app, ["poll", "missing"])
    unknown = runner.invoke(feeds_app, ["poll", "nope"])
    table = runner.invoke(feeds_app, ["list"])

    assert (first.exit_code, first.stdout) == (0, "new 1, duplicate 0, rejected 0\n")
    assert again.stdout == "new 0, duplicate 0, rejected 0 (not modified)\n"
    assert broken.exit_code == 1
    assert f"error: file not found: {tmp_path / 'missing.json'}" in broken.stderr
    assert (unknown.exit_code, unknown.stderr.strip()) == (1, "no feed named 'nope'")
    assert table.exit_code == 0
    header, acme, missing = table.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "ENABLED", "STATUS"]
    assert acme.split()[:3] == ["acme", "yes", "ok"] and " 0/0/0 " in acme
    assert missing.split()[:3] == ["missing", "yes", "error"]
    assert "1: file not found:" in missing
