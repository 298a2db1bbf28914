"""The REST shapes (DESIGN.md §5, §6): what each endpoint returns, and the request body
of `POST /v1/events` as documentation.

Families as in the FastAPI template: an entry (`RoundOut`), the list item that adds
the company (`FundingRoundItem`) and the page (`FundingRoundList`). Every top-level
shape carries an example (examples.py) for /docs. Values the log holds as written
(roles, stages) are plain strings here: a read must never fail on an old value.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tracker.api import examples
from tracker.domain.events import EVENT_TYPES

__all__ = [
    "CompanyList",
    "CompanyState",
    "EventBatchIn",
    "EventIn",
    "EventList",
    "EventOut",
    "EventsRecorded",
    "FundingRoundItem",
    "FundingRoundList",
    "Health",
    "InvestorRounds",
    "ModelList",
    "Person",
    "Problem",
]


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class Period(BaseModel):
    """A date as precise as the reporting; `date` is the period's first day."""

    date: date
    precision: Literal["day", "month", "year"]


class MoneyOut(BaseModel):
    """An amount as reported; `value_usd` at the ECB rate of `rate_date`."""

    value: str = Field(description="Decimal string.")
    currency: str
    qualifier: str = Field(description="exact, at_least or about.")
    value_usd: str | None = None
    usd_rate: str | None = None
    rate_date: date | None = None
    rate_note: str | None = None


class SourceOut(BaseModel):
    url: str | None = None
    publisher: str | None = None
    title: str | None = None
    published_at: str | None = None
    language: str | None = None


class ReportOut(BaseModel):
    """One event reporting a fact."""

    event_id: UUID
    date: Period
    recorded_at: datetime
    sources: list[SourceOut]


class LeadershipOut(BaseModel):
    person: str
    person_name: str | None
    role: str = Field(description="ceo, chairman, cto, chief_scientist, president, ...")
    title: str | None
    since: Period
    reports: list[ReportOut]
    conflicts: list[str] = Field(description="Fields the reports disagree on.")


class PastLeadershipOut(LeadershipOut):
    until: Period


class RoundOut(BaseModel):
    round: str = Field(description="seed, series_a, series_b_plus, strategic, ipo, ...")
    announced_on: Period
    money_raised: MoneyOut | None
    valuation: MoneyOut | None
    lead_investors: list[str]
    investors: list[str]
    reports: list[ReportOut]
    conflicts: list[str] = Field(description="Fields the reports disagree on.")


class ModelOut(BaseModel):
    model: str
    name: str | None
    released_on: Period
    parameters_total: int | None
    parameters_active: int | None
    architecture: str | None
    modalities: list[str]
    open_weights: bool | None
    license: str | None
    context_length: int | None
    reports: list[ReportOut]
    conflicts: list[str] = Field(description="Fields the reports disagree on.")


class FundingOut(BaseModel):
    total_usd: str | None = Field(description="Sum of the disclosed rounds in USD.")
    rounds: list[RoundOut]


class CompanyState(BaseModel):
    """A company as believed today, or `as_of` a world date and `known_at` a time."""

    model_config = _example(examples.COMPANY_STATE)

    company: str
    name: str
    aliases: list[str]
    headquarters: str | None
    founded_on: Period | None
    website: str | None
    description: str | None
    leadership: list[LeadershipOut] = Field(description="Current roles.")
    past_leadership: list[PastLeadershipOut]
    funding: FundingOut
    models: list[ModelOut]
    version: int = Field(description="The stream version: pass it as expected_version.")
    as_of: date | None
    known_at: datetime | None


class CompanySummary(BaseModel):
    slug: str
    name: str
    aliases: list[str]


class CompanyList(BaseModel):
    model_config = _example(examples.COMPANY_LIST)

    items: list[CompanySummary]
    next_cursor: str | None


class EventOut(BaseModel):
    """An event as stored: the envelope of DESIGN.md §5."""

    model_config = _example(examples.EVENT)

    id: UUID
    type: str
    stream: str
    version: int
    position: int
    occurred_on: Period
    recorded_at: datetime
    data: dict[str, Any]
    sources: list[SourceOut]
    metadata: dict[str, Any]


class EventList(BaseModel):
    model_config = _example(examples.EVENT_LIST)

    items: list[EventOut]
    next_cursor: str | None = Field(
        description="The last position shown; pass it as `after`. Null once caught up."
    )


class EventsRecorded(BaseModel):
    """The events a write stored (201), or had stored before for its key (200)."""

    model_config = _example(examples.EVENTS_RECORDED)

    events: list[EventOut]
    replayed: bool


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    publisher: str | None = None
    title: str | None = None
    published_at: str | None = None
    language: str | None = None


class EventIn(BaseModel):
    """One event to record. `data` depends on `type` (DESIGN.md §6); companies and people
    may be named by slug, name or alias."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [examples.EVENT_IN]})

    id: UUID | None = None
    key: str | None = Field(default=None, description="Idempotency key of this event.")
    type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    occurred_on: str | Period = Field(description='"2026-01-26", "2024-03" or "2011".')
    data: dict[str, Any]
    sources: list[SourceIn] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    expected_version: int | None = Field(default=None, ge=0)


class EventBatchIn(BaseModel):
    """Several events, recorded atomically (all or none); they may span companies."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [examples.EVENT_BATCH_IN]}
    )

    events: list[EventIn] = Field(min_length=1, max_length=1000)


class PersonRole(BaseModel):
    company: str
    company_name: str
    role: str
    title: str | None
    since: Period
    until: Period | None
    current: bool
    reports: list[ReportOut]
    conflicts: list[str]


class Person(BaseModel):
    """A person's roles across companies, current and past."""

    model_config = _example(examples.PERSON)

    person: str
    name: str
    roles: list[PersonRole]


class _OfCompany(BaseModel):
    company: str
    company_name: str


class FundingRoundItem(RoundOut, _OfCompany):
    model_config = _example(examples.FUNDING_ROUND)


class FundingRoundList(BaseModel):
    model_config = _example(examples.FUNDING_ROUND_LIST)

    items: list[FundingRoundItem]
    next_cursor: str | None


class InvestorRoundItem(FundingRoundItem):
    lead: bool = Field(description="Whether the investor led the round.")


class InvestorRounds(BaseModel):
    """An investor and the rounds it joined, newest first."""

    model_config = _example(examples.INVESTOR)

    investor: str
    name: str
    items: list[InvestorRoundItem]
    next_cursor: str | None


class ModelItem(ModelOut, _OfCompany):
    pass


class ModelList(BaseModel):
    model_config = _example(examples.MODEL_LIST)

    items: list[ModelItem]
    next_cursor: str | None


class WorkerStatus(BaseModel):
    worker_id: str
    hostname: str
    pid: int
    beat_at: datetime
    parts: list[str] = Field(description="What the worker runs: projections, feeds, webhooks.")


class Health(BaseModel):
    model_config = _example(examples.HEALTH)

    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]
    projections: dict[str, int] = Field(description="Events each projection has yet to apply.")
    dispatcher: int | None = Field(
        default=None, description="Events the webhook dispatcher has yet to turn into deliveries."
    )
    workers: list[WorkerStatus] = Field(
        default_factory=list, description="Workers with a heartbeat in the last minute."
    )


class ProblemError(BaseModel):
    loc: list[str | int] = Field(description="Path of the field: query, body, data, ...")
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = _example(examples.PROBLEM)

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemError] | None = Field(default=None, description="With 422.")
    stream: str | None = Field(default=None, description="With 409: the stream that moved on.")
    expected_version: int | None = Field(default=None, description="With 409.")
    actual_version: int | None = Field(default=None, description="With 409.")
