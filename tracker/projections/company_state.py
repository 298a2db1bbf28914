"""A company's state folded from its stream, at any world date and any knowledge time.

`fold_company` is the pure heart of the read side: REST serves `GET /v1/companies/{slug}`
from it, and the people, rounds and models read models reuse its entries. It follows
DESIGN.md §3 "Two times" and §6:

- `known_at` keeps the events recorded by then (corrections and retractions too), so
  an answer once given can be given again.
- Reports sharing a natural key are one fact (`beliefs.believe` picks each field).
- `as_of` keeps a fact once the last day of its *believed* date's period has passed,
  the date being voted over every known report, not report by report: one misdated
  digest does not make a round appear a year early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tracker.domain.dates import FuzzyDate
from tracker.domain.envelope import RecordedEvent
from tracker.domain.money import format_decimal, parse_decimal
from tracker.projections.beliefs import (
    Report,
    believe,
    effective_reports,
    model_facts,
    round_facts,
    tenures,
)

__all__ = ["CompanyState", "Entry", "fold_company"]

_PROFILE_TYPES = frozenset({"company.registered", "company.renamed", "company.alias_added"})
_LIST_FIELDS = frozenset({"lead_investors", "investors", "modalities"})
_ROUND_FIELDS = ("money_raised", "valuation", "lead_investors", "investors")
_MODEL_FIELDS = (
    "parameters_total",
    "parameters_active",
    "architecture",
    "modalities",
    "open_weights",
    "license",
    "context_length",
)


@dataclass(frozen=True)
class Entry:
    """One believed fact: its contract fields in order (dates as FuzzyDate), the
    reports it was believed from and the names of the fields they disagree on."""

    fields: dict[str, Any]
    reports: tuple[Report, ...]
    conflicts: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        shown = {name: _json(value) for name, value in self.fields.items()}
        shown["reports"] = [report.to_json() for report in self.reports]
        shown["conflicts"] = list(self.conflicts)
        return shown


@dataclass(frozen=True)
class CompanyState:
    """What is believed about one company as of a world date and a knowledge time."""

    company: str
    name: str
    aliases: tuple[str, ...]
    headquarters: str | None
    founded_on: FuzzyDate | None
    website: str | None
    description: str | None
    leadership: tuple[Entry, ...]
    past_leadership: tuple[Entry, ...]
    rounds: tuple[Entry, ...]
    total_usd: Decimal | None
    models: tuple[Entry, ...]
    version: int
    as_of: date | None = None
    known_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The REST shape of DESIGN.md §5 and §6."""
        return {
            "company": self.company,
            "name": self.name,
            "aliases": list(self.aliases),
            "headquarters": self.headquarters,
            "founded_on": _json(self.founded_on),
            "website": self.website,
            "description": self.description,
            "leadership": [entry.to_json() for entry in self.leadership],
            "past_leadership": [entry.to_json() for entry in self.past_leadership],
            "funding": {
                "total_usd": None if self.total_usd is None else format_decimal(self.total_usd),
                "rounds": [entry.to_json() for entry in self.rounds],
            },
            "models": [entry.to_json() for entry in self.models],
            "version": self.version,
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "known_at": None if self.known_at is None else self.known_at.isoformat(),
        }


def fold_company(
    events: Sequence[RecordedEvent],
    *,
    as_of: date | None = None,
    known_at: datetime | None = None,
) -> CompanyState | None:
    """The state of the company whose whole stream, in version order, is `events`.

    None when the company is not registered in that view (nothing known yet, or its
    registration lies after `as_of`).
    """
    if known_at is not None and known_at.tzinfo is None:
        known_at = known_at.replace(tzinfo=UTC)  # the store writes UTC only
    known = [e for e in events if known_at is None or e.recorded_at <= known_at]
    if not known:
        return None
    reports = effective_reports(known)
    profile = _profile([r for r in reports if r.type in _PROFILE_TYPES], as_of)
    if profile is None:
        return None
    current, past = _leadership(reports, as_of)
    rounds = _in_view(_rounds(reports), "announced_on", as_of)
    return CompanyState(
        company=known[0].company,
        name=profile.name,
        aliases=tuple(profile.aliases),
        headquarters=profile.headquarters,
        founded_on=profile.founded_on,
        website=profile.website,
        description=profile.description,
        leadership=current,
        past_leadership=past,
        rounds=_sorted(rounds, "announced_on", "round"),
        total_usd=_total_usd(rounds),
        models=_sorted(_in_view(_models(reports), "released_on", as_of), "released_on", "model"),
        version=max(e.version for e in known),
        as_of=as_of,
        known_at=known_at,
    )


@dataclass
class _Profile:
    name: str = ""
    aliases: list[str] = field(default_factory=list)
    headquarters: str | None = None
    founded_on: FuzzyDate | None = None
    website: str | None = None
    description: str | None = None
    registered: bool = False

    def rename(self, name: str) -> None:
        old, self.name = self.name, name
        if name in self.aliases:
            self.aliases.remove(name)
        if old:
            self.add_alias(old)  # the old name still finds the company

    def add_alias(self, alias: str) -> None:
        if alias != self.name and alias not in self.aliases:
            self.aliases.append(alias)


def _profile(reports: Sequence[Report], as_of: date | None) -> _Profile | None:
    """Registration, renames and aliases applied in world-time order up to `as_of`."""
    profile = _Profile()
    in_view = (r for r in reports if as_of is None or r.occurred_on.end <= as_of)
    for report in sorted(in_view, key=lambda r: (r.occurred_on.start, r.version)):
        data = report.data
        if report.type == "company.renamed" and data.get("name"):
            profile.rename(str(data["name"]))
        elif report.type == "company.alias_added" and data.get("alias"):
            profile.add_alias(str(data["alias"]))
        elif report.type == "company.registered":
            _register(profile, data)
    return profile if profile.registered else None


def _register(profile: _Profile, data: dict[str, Any]) -> None:
    profile.registered = True
    if data.get("name"):
        profile.rename(str(data["name"]))
    for alias in data.get("aliases") or []:
        profile.add_alias(str(alias))
    profile.headquarters = data.get("headquarters") or profile.headquarters
    profile.website = data.get("website") or profile.website
    profile.description = data.get("description") or profile.description
    if data.get("founded_on"):
        # Validated on write; an unreadable old value is shown as unknown, not an error.
        with suppress(ValueError):
            profile.founded_on = FuzzyDate.coerce(data["founded_on"])


def _rounds(reports: Iterable[Report]) -> list[Entry]:
    return [
        _entry(group, {"round": group[0].data.get("round")}, "announced_on", _ROUND_FIELDS)
        for group in round_facts(reports)
    ]


def _models(reports: Iterable[Report]) -> list[Entry]:
    entries = []
    for slug, group in model_facts(reports).items():
        entry = _entry(group, {"model": slug}, "released_on", ("name", *_MODEL_FIELDS))
        # The contract lists the name before the date.
        order = ("model", "name", "released_on", *_MODEL_FIELDS)
        entries.append(Entry({k: entry.fields[k] for k in order}, entry.reports, entry.conflicts))
    return entries


def _entry(
    reports: Sequence[Report], keys: dict[str, Any], date_name: str, names: Sequence[str]
) -> Entry:
    """One fact from its reports: the date voted first, then each field, preferring
    values from reports dated as believed."""
    date_belief = believe(reports, _occurred_on)
    assert date_belief is not None  # every report has a date
    fields = {**keys, date_name: date_belief.value}
    conflicts = [date_name] if date_belief.conflict else []
    for name in names:
        belief = believe(reports, _field(name), prefer=date_belief.value)
        fields[name] = ([] if name in _LIST_FIELDS else None) if belief is None else belief.value
        if belief is not None and belief.conflict:
            conflicts.append(name)
    return Entry(fields, tuple(reports), tuple(sorted(conflicts)))


def _leadership(
    reports: Iterable[Report], as_of: date | None
) -> tuple[tuple[Entry, ...], tuple[Entry, ...]]:
    """Current and ended roles in view at `as_of`, each tenure one fact."""
    current, past = [], []
    for appointments, departures in tenures(reports):
        tenure = _entry(appointments, {}, "since", ("person_name", "title"))
        since = tenure.fields["since"]
        if as_of is not None and since.end > as_of:
            continue
        fields = {
            "person": appointments[0].data.get("person"),
            "person_name": tenure.fields["person_name"],
            "role": appointments[0].data.get("role"),
            "title": tenure.fields["title"],
            "since": since,
        }
        until = believe(departures, _occurred_on)
        if until is None or (as_of is not None and until.value.end > as_of):
            current.append(Entry(fields, tenure.reports, tenure.conflicts))
            continue
        conflicts = sorted([*tenure.conflicts, *(["until"] if until.conflict else [])])
        reports_of_tenure = tuple(sorted((*appointments, *departures), key=lambda r: r.version))
        past.append(Entry({**fields, "until": until.value}, reports_of_tenure, tuple(conflicts)))
    return _sorted(current, "since", "person", "role"), _sorted(past, "since", "person", "role")


def _in_view(entries: Iterable[Entry], date_name: str, as_of: date | None) -> list[Entry]:
    if as_of is None:
        return list(entries)
    return [e for e in entries if e.fields[date_name].end <= as_of]


def _sorted(entries: Iterable[Entry], date_name: str, *names: str) -> tuple[Entry, ...]:
    """By believed date, then the named key fields; the first report breaks the
    remaining ties (two undisclosed rounds on one day) so output is stable."""

    def key(entry: Entry) -> tuple[Any, ...]:
        keys = tuple(str(entry.fields[name]) for name in names)
        return (entry.fields[date_name].start, *keys, entry.reports[0].version)

    return tuple(sorted(entries, key=key))


def _total_usd(rounds: Iterable[Entry]) -> Decimal | None:
    """The sum of the USD figures the store added; None when no round has one."""
    amounts = []
    for entry in rounds:
        money = entry.fields["money_raised"]
        if isinstance(money, dict) and money.get("value_usd") is not None:
            # A hand-made correction may carry a figure the store never checked.
            with suppress(ValueError):
                amounts.append(parse_decimal(money["value_usd"]))
    return sum(amounts, Decimal(0)) if amounts else None


def _occurred_on(report: Report) -> FuzzyDate:
    return report.occurred_on


def _field(name: str) -> Callable[[Report], Any]:
    return lambda report: report.data.get(name)


def _json(value: Any) -> Any:
    """Dates as {date, precision}; lists and objects copied so callers cannot edit
    the events they came from."""
    if isinstance(value, FuzzyDate):
        return value.to_json()
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value
