"""What the tracker believes when several reports tell one fact (DESIGN.md §6).

Three steps, all pure:

- `effective_reports` turns one stream's events into reports with the curators'
  `event.corrected` merged in and `event.retracted` targets dropped. The log keeps
  every event; only this view of it changes.
- `round_facts`, `model_facts` and `tenures` group reports by natural key: a named
  round stage, a model slug, a person's tenure in one role.
- `believe` votes one field over the reports of one fact: the value given by the most
  distinct sources wins, a tie goes to the latest-recorded report, and a field on which
  the reporting reports disagree is flagged as a conflict.

A field a report leaves unset (absent, null, "" or []) is "not reported": it neither
votes nor makes a conflict, because a short digest that names no investors does not
claim the round had none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import groupby
from typing import Any

from tracker.domain.dates import FuzzyDate
from tracker.domain.envelope import RecordedEvent
from tracker.domain.events import NAMED_ROUNDS

__all__ = [
    "APPOINTED",
    "CORRECTED",
    "DEPARTED",
    "RETRACTED",
    "Belief",
    "Report",
    "ballot",
    "believe",
    "effective_reports",
    "is_unset",
    "model_facts",
    "round_facts",
    "tenures",
]

CORRECTED = "event.corrected"
RETRACTED = "event.retracted"
APPOINTED = "leadership.appointed"
DEPARTED = "leadership.departed"


@dataclass(frozen=True, slots=True)
class Report:
    """One event as the fold sees it: corrections applied, sources reduced to votes."""

    event_id: str
    type: str
    version: int
    occurred_on: FuzzyDate
    recorded_at: datetime
    data: dict[str, Any]
    sources: list[dict[str, Any]]
    # Who vouches for it: distinct URLs, or the event itself when it cites none,
    # so an unsourced curator entry still counts once (DESIGN.md §6).
    voters: frozenset[str]
    # Order of learning: recorded_at, then stream version within one transaction.
    # Kept as a field because every vote compares it.
    recency: tuple[datetime, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "date": self.occurred_on.to_json(),
            "recorded_at": self.recorded_at.isoformat(),
            "sources": list(self.sources),
        }


@dataclass(frozen=True, slots=True)
class Belief:
    """A field's believed value, and whether the reports giving it disagree."""

    value: Any
    conflict: bool


def effective_reports(events: Sequence[RecordedEvent]) -> list[Report]:
    """The stream's fact events in stream order, corrected, retracted ones left out.

    Retractions are read newest first so that retracting a retraction (or a
    correction) undoes it; a target always precedes its retraction in the stream.
    """
    ids = [str(event.id) for event in events]
    retracted: set[str] = set()
    for event, event_id in zip(reversed(events), reversed(ids), strict=True):
        if event.type == RETRACTED and event_id not in retracted:
            retracted.add(str(event.data.get("target")))
    reports: dict[str, Report] = {}
    for event, event_id in zip(events, ids, strict=True):
        if event_id in retracted:
            continue
        if event.type == CORRECTED:
            target = str(event.data.get("target"))
            if target in reports:  # a correction of a retracted event does nothing
                reports[target] = _corrected(reports[target], event.data.get("data") or {})
        elif event.type != RETRACTED:
            reports[event_id] = _report(event, event_id)
    return list(reports.values())


def _report(event: RecordedEvent, event_id: str) -> Report:
    urls = frozenset(str(s["url"]) for s in event.sources if s.get("url"))
    return Report(
        event_id=event_id,
        type=event.type,
        version=event.version,
        occurred_on=event.occurred_on,
        recorded_at=event.recorded_at,
        data=event.data,
        sources=event.sources,
        voters=urls or frozenset({f"event:{event_id}"}),
        recency=(event.recorded_at, event.version),
    )


def _corrected(report: Report, changes: dict[str, Any]) -> Report:
    """The report with the correction's fields merged over its data."""
    data = {**report.data, **changes}
    occurred_on = report.occurred_on
    if "occurred_on" in data:
        text = data.pop("occurred_on")
        # The write side validates; a read must never fail on an old bad value.
        with suppress(ValueError):
            occurred_on = FuzzyDate.coerce(text)
    return replace(report, data=data, occurred_on=occurred_on)


def is_unset(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def believe(
    reports: Sequence[Report],
    read: Callable[[Report], Any],
    *,
    prefer: FuzzyDate | None = None,
) -> Belief | None:
    """Vote `read(report)` over `reports`; None when no report gives the field.

    Among the winning value's reports, the value is taken from one dated `prefer`
    (the fact's believed date) if any: equal money may carry a USD figure converted at
    a different report's date, and the one at the believed date is the one to show.
    """
    if len(reports) == 1:  # most facts have one report: nothing to weigh
        value = read(reports[0])
        return None if is_unset(value) else Belief(value, conflict=False)
    tallies: dict[Any, _Tally] = {}
    for report in reports:
        value = read(report)
        if is_unset(value):
            continue
        key = value if type(value) is str else ballot(value)  # str: the common, cheap case
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = _Tally()
        tally.add(report)
    if not tallies:
        return None
    winner = max(tallies.values(), key=lambda tally: (len(tally.voters), tally.latest))
    shown = max(winner.backers, key=lambda r: (r.occurred_on == prefer, r.recency))
    return Belief(read(shown), conflict=len(tallies) > 1)


class _Tally:
    """The reports giving one value, who vouches for them, and when it was last heard."""

    __slots__ = ("backers", "latest", "voters")

    def __init__(self) -> None:
        self.voters: set[str] = set()
        self.backers: list[Report] = []
        self.latest: tuple[datetime, int] | None = None

    def add(self, report: Report) -> None:
        self.voters |= report.voters
        self.backers.append(report)
        if self.latest is None or report.recency > self.latest:
            self.latest = report.recency


def ballot(value: Any) -> Any:
    """What two reports must share to agree: money by (value, currency, qualifier),
    lists as sets (investor order carries no meaning), everything else by value.

    The type name is kept so that True and 1 never count as one value.
    """
    if isinstance(value, dict):
        if "value" in value and "currency" in value:
            currency = str(value["currency"]).upper()
            return ("money", _amount(value["value"]), currency, value.get("qualifier") or "exact")
        return ("dict", frozenset((key, ballot(item)) for key, item in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return ("list", frozenset(ballot(item) for item in value))
    return (type(value).__name__, value)


def _amount(value: Any) -> Any:
    # Decimal("5E+9") == Decimal("5000000000") and they hash alike.
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)


def round_facts(reports: Iterable[Report]) -> list[list[Report]]:
    """The reports of each round. Named stages are raised once, so their reports are
    one round; every strategic or undisclosed report is a round of its own."""
    groups: dict[str, list[Report]] = {}
    for report in reports:
        if report.type == "funding_round.announced":
            stage = report.data.get("round")
            key = f"round:{stage}" if stage in NAMED_ROUNDS else f"event:{report.event_id}"
            groups.setdefault(key, []).append(report)
    return list(groups.values())


def model_facts(reports: Iterable[Report]) -> dict[str, list[Report]]:
    """The reports of each model, by model slug."""
    groups: dict[str, list[Report]] = {}
    for report in reports:
        if report.type == "model.released":
            groups.setdefault(str(report.data.get("model")), []).append(report)
    return groups


def tenures(reports: Iterable[Report]) -> list[tuple[list[Report], list[Report]]]:
    """(appointments, departures) per tenure of one person in one role.

    Read in world-time order: an appointment opens a tenure, or is one more report of
    the open one; a departure closes it, or is one more report of that closing; an
    appointment after a closing opens the next tenure. A departure with no tenure
    before it has no start to show and is left out.
    """
    roles = sorted(
        (r for r in reports if r.type in (APPOINTED, DEPARTED)),
        key=lambda r: (_person_role(r), r.occurred_on.start, r.version),
    )
    found: list[tuple[list[Report], list[Report]]] = []
    for _, held in groupby(roles, key=_person_role):
        tenure: tuple[list[Report], list[Report]] | None = None
        for report in held:
            if report.type == APPOINTED:
                if tenure is None or tenure[1]:
                    tenure = ([], [])
                    found.append(tenure)
                tenure[0].append(report)
            elif tenure is not None:
                tenure[1].append(report)
    return found


def _person_role(report: Report) -> tuple[str, str]:
    return (str(report.data.get("person")), str(report.data.get("role")))
