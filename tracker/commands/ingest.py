"""Ingesting a feed: every item on its own, so one bad item never costs the others.

An item's idempotency key is its `key`, else its `id`, else a hash of its content: a
feed read twice adds nothing twice. A key already stored makes the item a duplicate
whatever its body (feeds re-publish and touch up items; a real change of fact comes as
a new item or an `event.corrected`).

Items are written in chunks, one transaction each. Inside a chunk, valid items are
resolved one by one and appended together in one multi-row insert: statements, not
rows, are what an append pays for. An item that changes what names mean (a company
registered, renamed or given an alias) is flushed at once so later items resolve
through it. Should a flush fail on a version conflict, it is redone item by item under
savepoints, so only the conflicting item is rejected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from tracker.commands.recording import Clock, count_appended
from tracker.commands.resolution import resolve_draft
from tracker.db import write_transaction
from tracker.domain.envelope import EventDraft, parse_draft
from tracker.domain.errors import FieldError, InvalidInput, VersionConflict
from tracker.domain.feed_format import ParsedFeed
from tracker.projections.directory import apply_directory
from tracker.store.appending import (
    ConcurrentAppend,
    PendingEvent,
    append_events,
    stored_keys,
    utc_now,
)

__all__ = ["IngestReport", "Rejection", "ingest_feed", "item_key"]

CHUNK = 500
_ATTEMPTS = 3
_NAME_CHANGING = frozenset({"company.registered", "company.renamed", "company.alias_added"})

Item = tuple[int, str, EventDraft]
Resolved = tuple[int, str, list[PendingEvent]]


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

    def add(self, other: IngestReport) -> None:
        self.new += other.new
        self.duplicate += other.duplicate
        self.rejected.extend(other.rejected)
        self.events_appended += other.events_appended


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


def _chunks(items: list[Item]) -> Iterator[list[Item]]:
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
    valid: list[Item] = []
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
        report.add(_write_chunk(engine, chunk, clock))
        if progress:
            progress(len(chunk))
    report.rejected.sort(key=lambda rejection: rejection.index)
    if after_write is not None and report.events_appended:
        after_write(engine)
    return report


def _write_chunk(engine: Engine, chunk: list[Item], clock: Clock) -> IngestReport:
    for attempt in range(_ATTEMPTS):
        try:
            with write_transaction(engine) as conn:
                return _ChunkWriter(conn, clock, careful=attempt > 0).write(chunk)
        except ConcurrentAppend:
            # Another writer stored one of these keys or ids meanwhile: redo the chunk,
            # item by item; what it stored now reads as duplicates.
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


class _ChunkWriter:
    def __init__(self, conn: Connection, clock: Clock, *, careful: bool) -> None:
        self.conn, self.clock, self.careful = conn, clock, careful
        self.outcome = IngestReport()
        self.names: dict[str, str] = {}
        self.batch: list[Resolved] = []

    def write(self, chunk: list[Item]) -> IngestReport:
        known = stored_keys(self.conn, [key for _, key, _ in chunk])
        for index, key, draft in chunk:
            if key in known:
                self.outcome.duplicate += 1
                continue
            try:
                pending = resolve_draft(self.conn, draft, self.names).events
            except InvalidInput as exc:
                self.outcome.rejected.append(Rejection(index, exc.errors))
                continue
            for event in pending:  # a company registered for this item keeps its slug
                self.names.setdefault(
                    event.draft.data.get("company", ""), event.draft.data.get("company", "")
                )
            self.batch.append((index, key, pending))
            if self.careful or draft.type in _NAME_CHANGING or draft.expected_version is not None:
                self.flush()
        self.flush()
        return self.outcome

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        try:
            with self.conn.begin_nested():
                self._append(batch)
        except VersionConflict:
            for item in batch:
                try:
                    with self.conn.begin_nested():
                        self._append([item])
                except VersionConflict as exc:
                    self.outcome.rejected.append(
                        Rejection(item[0], [FieldError(("expected_version",), str(exc))])
                    )

    def _append(self, batch: list[Resolved]) -> None:
        pending = [event for _, _, events in batch for event in events]
        keys = {key: [event.draft.id for event in events] for _, key, events in batch}
        result = append_events(
            self.conn,
            pending,
            clock=self.clock,
            check_ids=self.careful,
            key_checked=True,
            item_keys=keys,
        )
        apply_directory(self.conn, result.events)
        count_appended(result.events)
        if any(event.type in _NAME_CHANGING for event in result.events):
            self.names.clear()
        self.outcome.new += len(batch)
        self.outcome.events_appended += len(result.events)
