"""FuzzyDate: a date as precise as the reporting ("2026-01-26", "2024-03", "2011")."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

__all__ = ["FuzzyDate", "Precision"]

_PATTERN = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


class Precision(StrEnum):
    DAY = "day"
    MONTH = "month"
    YEAR = "year"


# A dict lookup, not Precision(text): every event read from the log goes through here.
_PRECISIONS = {level.value: level for level in Precision}


@dataclass(frozen=True, order=True)
class FuzzyDate:
    """A period of one day, one month or one year, named by its first day.

    A fact dated to a period counts as known-to-have-happened only at the period's
    last day (`end`): "March 2024" is certainly past on 2024-03-31, not on 2024-03-01.
    """

    start: date
    precision: Precision

    @classmethod
    def parse(cls, text: str) -> FuzzyDate:
        match = _PATTERN.match(text.strip())
        if not match:
            raise ValueError(f"expected YYYY, YYYY-MM or YYYY-MM-DD, got {text!r}")
        year, month, day = match.groups()
        try:
            if day is not None:
                return cls(date(int(year), int(month), int(day)), Precision.DAY)
            if month is not None:
                return cls(date(int(year), int(month), 1), Precision.MONTH)
            return cls(date(int(year), 1, 1), Precision.YEAR)
        except ValueError as exc:
            raise ValueError(f"impossible date {text!r}: {exc}") from None

    @classmethod
    def coerce(cls, value: Any) -> FuzzyDate:
        """Accept the text form, a `{date, precision}` object, a date or a FuzzyDate."""
        if isinstance(value, FuzzyDate):
            return value
        if isinstance(value, date):
            return cls(value, Precision.DAY)
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, dict) and set(value) == {"date", "precision"}:
            return cls.of(str(value["date"]), str(value["precision"]))
        raise ValueError("expected a date string or an object {date, precision}")

    @classmethod
    def of(cls, day: str | date, precision: str) -> FuzzyDate:
        start = day if isinstance(day, date) else date.fromisoformat(day)
        level = _PRECISIONS.get(precision)
        if level is None:
            raise ValueError(f"unknown precision {precision!r}: use day, month or year")
        if level is Precision.MONTH:
            start = start.replace(day=1)
        elif level is Precision.YEAR:
            start = start.replace(month=1, day=1)
        return cls(start, level)

    @property
    def end(self) -> date:
        """The last day of the period."""
        if self.precision is Precision.DAY:
            return self.start
        if self.precision is Precision.MONTH:
            last = calendar.monthrange(self.start.year, self.start.month)[1]
            return self.start.replace(day=last)
        return self.start.replace(month=12, day=31)

    def text(self) -> str:
        if self.precision is Precision.DAY:
            return self.start.isoformat()
        if self.precision is Precision.MONTH:
            return f"{self.start.year:04d}-{self.start.month:02d}"
        return f"{self.start.year:04d}"

    def to_json(self) -> dict[str, str]:
        return {"date": self.start.isoformat(), "precision": self.precision.value}

    def __str__(self) -> str:
        return self.text()
