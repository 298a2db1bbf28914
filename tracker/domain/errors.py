"""Errors the domain and the layers above raise.

The tree::

    TrackerError
    ├── InvalidInput            bad input: carries field paths and messages (REST 422)
    │   └── FeedFormatError     a whole feed body could not be read (malformed JSON/XML, bomb)
    ├── VersionConflict         expected_version is stale (REST 409)
    ├── IdempotencyMismatch     the same idempotency key with a different body (REST 422)
    ├── NotFound                an unknown company, person, event, subscription... (REST 404)
    └── StoreUnavailable        the database could not be reached; retryable (REST 503)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "FeedFormatError",
    "FieldError",
    "IdempotencyMismatch",
    "InvalidInput",
    "NotFound",
    "StoreUnavailable",
    "TrackerError",
    "VersionConflict",
]


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: `loc` is the path to it, `msg` says what is wrong."""

    loc: tuple[str | int, ...]
    msg: str

    def describe(self) -> str:
        path = ".".join(str(part) for part in self.loc) or "body"
        return f"{path}: {self.msg}"


class TrackerError(Exception):
    """Base of every error Tracker raises on purpose."""


class InvalidInput(TrackerError):
    """Input that breaks a rule; `errors` names each field and its problem."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(error.describe() for error in self.errors))

    @classmethod
    def at(cls, loc: Sequence[str | int], msg: str) -> InvalidInput:
        return cls([FieldError(tuple(loc), msg)])

    def prefixed(self, *prefix: str | int) -> InvalidInput:
        return InvalidInput([FieldError((*prefix, *e.loc), e.msg) for e in self.errors])


class FeedFormatError(InvalidInput):
    """A feed body that cannot be read at all, e.g. `invalid JSON: ... at line 1 column 38`."""

    def __init__(self, message: str) -> None:
        super().__init__([FieldError((), message)])
        self.message = message

    def __str__(self) -> str:
        return self.message


class VersionConflict(TrackerError):
    """A stream moved on since the writer read it."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        self.stream, self.expected, self.actual = stream, expected, actual
        super().__init__(f"stream {stream} is at version {actual}, expected {expected}")


class IdempotencyMismatch(TrackerError):
    """An idempotency key was reused for a request with a different body."""


class NotFound(TrackerError):
    """The thing asked for does not exist."""


class StoreUnavailable(TrackerError):
    """The database could not be reached or dropped the connection; safe to retry."""
