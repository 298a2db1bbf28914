"""What goes into the log (`EventDraft`) and what comes out of it (`RecordedEvent`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tracker.domain.dates import FuzzyDate
from tracker.domain.errors import FieldError, InvalidInput
from tracker.domain.events import field_errors, validate_event_data

__all__ = ["EventDraft", "RecordedEvent", "Source", "parse_draft"]


class Source(BaseModel):
    """Where a fact was reported. Distinct URLs count as distinct sources."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str | None = Field(default=None, max_length=2000)
    publisher: str | None = Field(default=None, max_length=300)
    title: str | None = Field(default=None, max_length=1000)
    published_at: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=16)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value


class _DraftEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: UUID | None = None
    key: str | None = Field(default=None, min_length=1, max_length=300)
    type: str
    occurred_on: Any
    data: Any
    sources: list[Source] = Field(default_factory=list, max_length=50)
    metadata: dict[str, Any] = Field(default_factory=dict)
    expected_version: int | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class EventDraft:
    """A validated event not yet in the log. `data` is the typed model's JSON form."""

    type: str
    data: dict[str, Any]
    occurred_on: FuzzyDate
    sources: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    id: UUID = field(default_factory=uuid4)
    key: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: immutable, with its place in its stream and in the log."""

    id: UUID
    type: str
    stream: str
    version: int
    position: int
    occurred_on: FuzzyDate
    recorded_at: datetime
    data: dict[str, Any]
    sources: list[dict[str, Any]]
    metadata: dict[str, Any]
    tx: int = 0

    @property
    def company(self) -> str:
        return self.stream.removeprefix("company-")

    def envelope(self) -> dict[str, Any]:
        """The contract's JSON form (DESIGN.md §5), as REST and webhooks show it."""
        return {
            "id": str(self.id),
            "type": self.type,
            "stream": self.stream,
            "version": self.version,
            "position": self.position,
            "occurred_on": self.occurred_on.to_json(),
            "recorded_at": self.recorded_at.isoformat(),
            "data": self.data,
            "sources": self.sources,
            "metadata": self.metadata,
        }


def parse_draft(raw: Any, default_sources: list[dict[str, Any]] | None = None) -> EventDraft:
    """One event object from a feed or a request, checked field by field.

    Raises InvalidInput whose every error names its path (`data.round`, `occurred_on`).
    """
    if not isinstance(raw, dict):
        raise InvalidInput.at((), "expected an event object")
    try:
        envelope = _DraftEnvelope.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(field_errors(exc)) from None
    errors: list[FieldError] = []
    try:
        occurred_on = FuzzyDate.coerce(envelope.occurred_on)
    except ValueError as exc:
        errors.append(FieldError(("occurred_on",), str(exc)))
    try:
        data = validate_event_data(envelope.type, envelope.data)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if errors:
        raise InvalidInput(errors)
    sources = [s.model_dump(exclude_none=True) for s in envelope.sources]
    return EventDraft(
        type=envelope.type,
        data=data.model_dump(mode="json", exclude_none=True),
        occurred_on=occurred_on,
        sources=sources or list(default_sources or []),
        metadata=envelope.metadata,
        id=envelope.id or uuid4(),
        key=envelope.key,
        expected_version=envelope.expected_version,
    )
