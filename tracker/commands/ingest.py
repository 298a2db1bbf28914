"""Ingesting a feed: every item on its own, so one bad item never costs the others.

An item's idempotency key is its `key`, else its `id`, else a hash of its content: a
feed read twice adds nothing twice. A key already stored makes the item a duplicate
whatever its body (feeds re-publish and touch up items; a real change of fact comes as
a new item or an `event.corrected`). Items are written in chunks, one transaction each,
with a savepoint per item so a failing item rolls back alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from tracker.commands.recording import Clock, append_resolved
from tracker.db import write_transaction
from tracker.domain.envelope import EventDraft, parse_draft
from tracker.domain.errors import FieldError, InvalidInput, TrackerError
from tracker.domain.feed_format import ParsedFeed
from tracker.store.appending import ConcurrentAppend, stored_keys, utc_now

__all__ = ["IngestReport", "Rejection", "ingest_feed", "item_key"]

CHUNK = 200


@dataclass(frozen=True)
class Rejection:
    index: int
    errors: list[FieldError]

    def lines(self) -> list[str]:
        return [f"item {self.index}: {error.describe()}" for error in self.errors]


@dataclass
class IngestReport:
    new: int = 0
    duplicate: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    events_appended: int = 0

    def summary(self) -> str:
        return f"new {self.new}, duplicate {self.duplicate}, rejected {len(self.rejected)}"


def item_key(raw: Any) -> str:
    if isinstance(raw, dict):
        if isinstance(raw.get("key"), str) and raw["key"]:
            return str(raw["key"])
        if isinstance(raw.get("id"), str) and raw["id"]:
            return f"id:{raw['id']}"
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _source_of(feed: ParsedFeed) -> list[dict[str, Any]]:
    source = feed.source or {}
    kept = {k: source[k] for k in ("url", "publisher", "title") if isinstance(source.get(k), str)}
    return [kept] if kept else []


def _chunks(
    items: list[tuple[int, str, EventDraft]],
) -> Iterator[list[tuple[int, str, EventDraft]]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def ingest_feed(
    engine: Engine,
    feed: ParsedFeed,
    *,
    clock: Clock = utc_now,
    progress: Callable[[int], None] | None = None,
    after_write: Callable[[Engine], None] | None = None,
) -> IngestReport:
    report = IngestReport()
    default_sources = _source_of(feed)
    valid: list[tuple[int, str, EventDraft]] = []
    seen: set[str] = set()
    for index, raw in enumerate(feed.items):
        key = item_key(raw)
        if key in seen:
            report.duplicate += 1
            continue
        seen.add(key)
        try:
            valid.append((index, key, parse_draft(raw, default_sources)))
        except InvalidInput as exc:
            report.rejected.append(Rejection(index, exc.errors))
    for chunk in _chunks(valid):
        _write_chunk(engine, chunk, report, clock)
        if progress:
            progress(len(chunk))
    report.rejected.sort(key=lambda rejection: rejection.index)
    if after_write is not None and report.events_appended:
        after_write(engine)
    return report


def _write_chunk(
    engine: Engine, chunk: list[tuple[int, str, EventDraft]], report: IngestReport, clock: Clock
) -> None:
    for attempt in range(3):
        outcome = IngestReport()
        try:
            with write_transaction(engine) as conn:
                known = stored_keys(conn, [key for _, key, _ in chunk])
                for index, key, draft in chunk:
                    if key in known:
                        outcome.duplicate += 1
                        continue
                    try:
                        with conn.begin_nested():
                            result = append_resolved(
                                conn,
                                [draft],
                                idempotency_key=key,
                                clock=clock,
                                check_ids=attempt > 0,
                            )
                    except InvalidInput as exc:
                        outcome.rejected.append(Rejection(index, exc.errors))
                        continue
                    except TrackerError as exc:
                        outcome.rejected.append(Rejection(index, [FieldError((), str(exc))]))
                        continue
                    if result.replayed:
                        outcome.duplicate += 1
                    else:
                        outcome.new += 1
                        outcome.events_appended += len(result.events)
            break
        except ConcurrentAppend:
            # Another writer stored one of these keys meanwhile: redo the chunk; the
            # keys it stored now read as duplicates.
            if attempt == 2:
                raise
    report.new += outcome.new
    report.duplicate += outcome.duplicate
    report.rejected.extend(outcome.rejected)
    report.events_appended += outcome.events_appended
