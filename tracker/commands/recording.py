"""Recording events: validate, resolve names, append, update the directory, catch up.

The one write path. REST writes, `tracker ingest` and the feed pollers all come here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from tracker.commands.resolution import resolve_draft
from tracker.db import write_transaction
from tracker.domain.envelope import EventDraft, RecordedEvent, parse_draft
from tracker.domain.errors import FieldError, IdempotencyMismatch, InvalidInput
from tracker.metrics import EVENTS_APPENDED
from tracker.projections.directory import apply_directory
from tracker.store.appending import (
    AppendResult,
    ConcurrentAppend,
    PendingEvent,
    append_events,
    utc_now,
)

__all__ = [
    "Recorded",
    "append_resolved",
    "count_appended",
    "fingerprint_of",
    "parse_drafts",
    "record_events",
]

Clock = Callable[[], datetime]
# How often a write is retried when a concurrent writer stored the same id/key first.
_ATTEMPTS = 3


@dataclass(frozen=True)
class Recorded:
    events: list[RecordedEvent]
    replayed: bool


def count_appended(events: Sequence[RecordedEvent]) -> None:
    """Count appended events for /metrics (counted at append; a rollback after this is
    rare and only makes the counter run ahead, never behind)."""
    for event in events:
        EVENTS_APPENDED.labels(type=event.type).inc()


def fingerprint_of(body: Any) -> str:
    """A stable hash of a request body, to tell a true retry from a reused key."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_drafts(raw_events: Sequence[Any], *, batch: bool) -> list[EventDraft]:
    drafts: list[EventDraft] = []
    errors: list[FieldError] = []
    for index, raw in enumerate(raw_events):
        try:
            drafts.append(parse_draft(raw))
        except InvalidInput as exc:
            prefix: tuple[str | int, ...] = ("events", index) if batch else ()
            errors.extend(FieldError((*prefix, *e.loc), e.msg) for e in exc.errors)
    if errors:
        raise InvalidInput(errors)
    return drafts


def append_resolved(
    conn: Connection,
    drafts: Sequence[EventDraft],
    *,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    clock: Clock = utc_now,
    check_ids: bool = False,
    key_checked: bool = False,
    registered: dict[str, str] | None = None,
    batch: bool = False,
) -> AppendResult:
    """Resolve names and append in the caller's transaction; the directory follows.

    `registered` caches name → slug resolutions across calls in one transaction; it is
    cleared whenever an appended event could change what a name means.
    """
    registered = {} if registered is None else registered
    pending: list[PendingEvent] = []
    for index, draft in enumerate(drafts):
        try:
            pending.extend(resolve_draft(conn, draft, registered).events)
        except InvalidInput as exc:
            raise exc.prefixed("events", index) if batch else exc from None
    result = append_events(
        conn,
        pending,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        clock=clock,
        check_ids=check_ids,
        key_checked=key_checked,
    )
    if not result.replayed:
        apply_directory(conn, result.events)
        count_appended(result.events)
        if any(event.type.startswith("company.") for event in result.events):
            registered.clear()
    return result


def record_events(
    engine: Engine,
    raw_events: Sequence[Any],
    *,
    idempotency_key: str | None = None,
    clock: Clock = utc_now,
    after_write: Callable[[Engine], None] | None = None,
    batch: bool | None = None,
) -> Recorded:
    """Validate and append one request's events atomically (all or none).

    `batch` says the events came as `{"events": [...]}`, so errors name `events.I`
    (by default: when there is more than one).

    A key seen before with the same body replays the stored result; with another body
    it is an IdempotencyMismatch. `after_write` runs once the transaction committed
    (the projections catch up there, for read-your-writes).
    """
    batch = len(raw_events) > 1 if batch is None else batch
    drafts = parse_drafts(raw_events, batch=batch)
    fingerprint = fingerprint_of(raw_events)
    for attempt in range(_ATTEMPTS):
        try:
            with write_transaction(engine) as conn:
                result = append_resolved(
                    conn,
                    drafts,
                    idempotency_key=idempotency_key,
                    fingerprint=fingerprint,
                    clock=clock,
                    check_ids=attempt > 0,
                    batch=batch,
                )
            break
        except ConcurrentAppend:
            if attempt == _ATTEMPTS - 1:
                raise
    if result.replayed and result.fingerprint not in (None, fingerprint):
        raise IdempotencyMismatch(
            f"idempotency key {idempotency_key!r} was used for a different request"
        )
    if after_write is not None and not result.replayed:
        after_write(engine)
    return Recorded(result.events, result.replayed)
