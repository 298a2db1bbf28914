"""The event catalogue: one pydantic model per event type, validated strictly.

Names are the contract (DESIGN.md §5): dotted, lower case, the same in the store, REST
and webhooks. Unknown fields are refused, naming the field, so a typo never becomes a
silently dropped fact.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)

from tracker.domain.dates import FuzzyDate
from tracker.domain.errors import FieldError, InvalidInput
from tracker.domain.money import Money
from tracker.domain.names import is_slug

__all__ = [
    "EVENT_MODELS",
    "EVENT_TYPES",
    "NAMED_ROUNDS",
    "CompanyAliasAdded",
    "CompanyRegistered",
    "CompanyRenamed",
    "EventCorrected",
    "EventRetracted",
    "FundingRoundAnnounced",
    "LeadershipAppointed",
    "LeadershipDeparted",
    "ModelReleased",
    "Role",
    "RoundStage",
    "validate_event_data",
]


class RoundStage(StrEnum):
    PRE_SEED = "pre_seed"
    ANGEL = "angel"
    SEED = "seed"
    PRE_A = "pre_a"
    SERIES_A = "series_a"
    SERIES_A_PLUS = "series_a_plus"
    SERIES_B = "series_b"
    SERIES_B_PLUS = "series_b_plus"
    SERIES_C = "series_c"
    SERIES_C_PLUS = "series_c_plus"
    SERIES_D = "series_d"
    SERIES_D_PLUS = "series_d_plus"
    SERIES_E = "series_e"
    SERIES_F = "series_f"
    SERIES_G = "series_g"
    SERIES_H = "series_h"
    PRE_IPO = "pre_ipo"
    IPO = "ipo"
    STRATEGIC = "strategic"
    UNDISCLOSED = "undisclosed"


# A company raises each named stage once; several reports of it are one fact.
# Strategic and undisclosed rounds recur, so each report is its own round.
NAMED_ROUNDS: Final = frozenset(RoundStage) - {RoundStage.STRATEGIC, RoundStage.UNDISCLOSED}


class Role(StrEnum):
    CEO = "ceo"
    CHAIRMAN = "chairman"
    CTO = "cto"
    CHIEF_SCIENTIST = "chief_scientist"
    PRESIDENT = "president"
    CO_FOUNDER = "co_founder"
    BOARD_MEMBER = "board_member"
    OTHER = "other"


_PARAMETER_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmbt]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}


def _parameter_count(value: Any) -> Any:
    """Accept 321000000000 or the way model cards write it: "321B", "38b", "1.5T"."""
    if isinstance(value, str):
        match = _PARAMETER_COUNT.match(value)
        if not match:
            raise ValueError('expected an integer or a count such as "321B"')
        number, unit = match.groups()
        return int(float(number) * _SCALE[unit.lower()])
    return value


class _EventData(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class _CompanyEvent(_EventData):
    company: str = Field(min_length=1, max_length=200)


def _text(max_length: int = 500) -> Any:
    return Field(default=None, min_length=1, max_length=max_length)


class CompanyRegistered(_CompanyEvent):
    name: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list, max_length=50)
    headquarters: str | None = _text(200)
    founded_on: FuzzyDate | None = None
    website: str | None = _text(500)
    description: str | None = _text(2000)

    @field_validator("founded_on", mode="before")
    @classmethod
    def _founded(cls, value: Any) -> FuzzyDate | None:
        return None if value is None else FuzzyDate.coerce(value)

    @field_serializer("founded_on")
    def _dump_founded(self, value: FuzzyDate | None) -> str | None:
        return None if value is None else value.text()

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        cleaned = [alias.strip() for alias in value]
        if any(not alias for alias in cleaned):
            raise ValueError("an alias must not be empty")
        return cleaned


class CompanyRenamed(_CompanyEvent):
    name: str = Field(min_length=1, max_length=200)


class CompanyAliasAdded(_CompanyEvent):
    alias: str = Field(min_length=1, max_length=200)


class FundingRoundAnnounced(_CompanyEvent):
    round: RoundStage
    money_raised: Money | None = None
    lead_investors: list[str] = Field(default_factory=list, max_length=100)
    investors: list[str] = Field(default_factory=list, max_length=200)
    valuation: Money | None = None


class _LeadershipEvent(_CompanyEvent):
    person: str = Field(min_length=1, max_length=200)
    person_name: str | None = _text(200)
    role: Role
    title: str | None = _text(200)


class LeadershipAppointed(_LeadershipEvent):
    pass


class LeadershipDeparted(_LeadershipEvent):
    pass


class ModelReleased(_CompanyEvent):
    model: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    parameters_total: int | None = Field(default=None, ge=0)
    parameters_active: int | None = Field(default=None, ge=0)
    architecture: str | None = _text(100)
    modalities: list[str] = Field(default_factory=list, max_length=20)
    open_weights: bool | None = None
    license: str | None = _text(200)
    context_length: int | None = Field(default=None, ge=0)

    @field_validator("parameters_total", "parameters_active", mode="before")
    @classmethod
    def _counts(cls, value: Any) -> Any:
        return _parameter_count(value)

    @field_validator("model")
    @classmethod
    def _model_slug(cls, value: str) -> str:
        if not is_slug(value):
            raise ValueError('must be a slug such as "step-3.5-flash"')
        return value


class EventCorrected(_EventData):
    target: UUID
    data: dict[str, Any] = Field(min_length=1)
    reason: str | None = _text(2000)


class EventRetracted(_EventData):
    target: UUID
    reason: str | None = _text(2000)


EVENT_MODELS: Final[dict[str, type[_EventData]]] = {
    "company.registered": CompanyRegistered,
    "company.renamed": CompanyRenamed,
    "company.alias_added": CompanyAliasAdded,
    "funding_round.announced": FundingRoundAnnounced,
    "leadership.appointed": LeadershipAppointed,
    "leadership.departed": LeadershipDeparted,
    "model.released": ModelReleased,
    "event.corrected": EventCorrected,
    "event.retracted": EventRetracted,
}
EVENT_TYPES: Final = tuple(EVENT_MODELS)


def field_errors(exc: ValidationError, *prefix: str | int) -> list[FieldError]:
    """pydantic's errors as ours: `data.money_raised.currency: unknown currency 'RMB'`."""
    errors = []
    for error in exc.errors(include_url=False):
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        message = message.removeprefix("Value error, ")
        errors.append(FieldError((*prefix, *error["loc"]), message))
    return errors


def validate_event_data(event_type: str, data: Any) -> _EventData:
    """The typed data of one event, or InvalidInput naming each bad field under `data`."""
    model = EVENT_MODELS.get(event_type)
    if model is None:
        known = ", ".join(EVENT_TYPES)
        raise InvalidInput.at(("type",), f"unknown event type {event_type!r}; known: {known}")
    if not isinstance(data, dict):
        raise InvalidInput.at(("data",), "expected an object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(field_errors(exc, "data")) from None


__all__ += ["field_errors"]
