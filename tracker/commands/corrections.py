"""Checking a correction against the event it corrects.

`event.corrected` carries only the fields that change, so on its own its `data` says
nothing about types: a correction setting `money_raised` to "lots" would pass and then
break every read of that company. Here the changes are merged into the target's data
and validated as the target's type, naming the field under `data.data`. Amounts gain
their USD value as in any append.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from tracker.domain.dates import FuzzyDate
from tracker.domain.envelope import EventDraft, RecordedEvent
from tracker.domain.errors import InvalidInput
from tracker.domain.events import validate_event_data
from tracker.store.exchange_rates import usd_fields
from tracker.store.reading import events_by_id

__all__ = ["checked_correction", "target_of"]

_USD_FIELDS = ("value_usd", "usd_rate", "rate_date", "rate_note")
_MONEY = ("money_raised", "valuation")
_UNCORRECTABLE = ("event.corrected", "event.retracted")


def target_of(conn: Connection, target: str) -> RecordedEvent:
    found = events_by_id(conn, [UUID(target)])
    if not found:
        raise InvalidInput.at(("data", "target"), f"no event with id {target}")
    return found[0]


def _as_reported(data: dict[str, Any]) -> dict[str, Any]:
    """The target's data without what the store added (USD fields)."""
    plain = dict(data)
    for name in _MONEY:
        if isinstance(plain.get(name), dict):
            plain[name] = {k: v for k, v in plain[name].items() if k not in _USD_FIELDS}
    return plain


def checked_correction(conn: Connection, draft: EventDraft) -> tuple[str, EventDraft]:
    """The target's stream and the correction with validated, normalised changes."""
    target = target_of(conn, str(draft.data["target"]))
    if target.type in _UNCORRECTABLE:
        raise InvalidInput.at(
            ("data", "target"), f"a {target.type} cannot be corrected; retract it instead"
        )
    if draft.type == "event.retracted":
        return target.stream, draft
    changes = dict(draft.data["data"])
    when = target.occurred_on
    if "occurred_on" in changes:
        try:
            when = FuzzyDate.coerce(changes.pop("occurred_on"))
        except ValueError as exc:
            raise InvalidInput.at(("data", "data", "occurred_on"), str(exc)) from None
    if "company" in changes:
        raise InvalidInput.at(
            ("data", "data", "company"), "a correction cannot move an event to another company"
        )
    try:
        merged = validate_event_data(target.type, {**_as_reported(target.data), **changes})
    except InvalidInput as exc:
        raise exc.prefixed("data") from None
    dumped = merged.model_dump(mode="json", exclude_none=True)
    normalised = {name: dumped.get(name) for name in changes}
    for name in _MONEY:
        money = normalised.get(name)
        if isinstance(money, dict):
            normalised[name] = usd_fields(money, when.end)
    if "occurred_on" in draft.data["data"]:
        normalised["occurred_on"] = when.text()
    return target.stream, EventDraft(
        type=draft.type,
        data={**draft.data, "data": normalised},
        occurred_on=draft.occurred_on,
        sources=draft.sources,
        metadata=draft.metadata,
        id=draft.id,
        key=draft.key,
        expected_version=draft.expected_version,
    )
