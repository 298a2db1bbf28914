"""Keyset pagination: pages that hold still while rows arrive.

A list sorts by keys ending in a unique one; a page's cursor is its last row's keys,
and the next page is the rows strictly after them in that order. Unlike OFFSET, a row
inserted before the cursor never shifts the next page, and the database reads from the
index position instead of counting past every earlier row. The cursor is opaque to
clients (base64url of JSON) but carries no secret: a tampered one only pages oddly.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, or_

from tracker.domain.errors import InvalidInput

__all__ = ["Key", "Page", "decode_cursor", "encode_cursor", "keyset_page"]

Kind = Literal["str", "int", "date", "decimal"]

_LOAD: dict[str, Callable[[Any], Any]] = {
    "str": str,
    "int": int,
    "date": date.fromisoformat,
    "decimal": Decimal,
}


def _dump(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


@dataclass(frozen=True)
class Page:
    """One page of a list: its items and the cursor of the next page (None: last)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True)
class Key:
    """One sort key: a column or expression, the type of its values, its direction."""

    expr: ColumnElement[Any]
    kind: Kind
    descending: bool = False


def encode_cursor(values: Sequence[Any]) -> str:
    text = json.dumps([_dump(value) for value in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[Kind]) -> list[Any]:
    """The sort key a cursor holds, typed; InvalidInput naming `cursor` if it is not
    one this list gave out."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError("wrong length")
        return [_LOAD[kind](value) for kind, value in zip(kinds, values, strict=True)]
    except (ValueError, TypeError, binascii.Error, InvalidOperation, UnicodeDecodeError):
        raise InvalidInput.at(
            ("query", "cursor"), "not a cursor of this list: pass back next_cursor unchanged"
        ) from None


def _after(keys: Sequence[Key], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the keys' order: (k1 > v1) or (k1 = v1 and k2 > v2)
    ... spelled out, since a row comparison cannot mix directions."""
    clauses = []
    for index, key in enumerate(keys):
        equal = [k.expr == v for k, v in zip(keys[:index], values[:index], strict=True)]
        step = key.expr < values[index] if key.descending else key.expr > values[index]
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def keyset_page(
    conn: Connection,
    query: Select[Any],
    keys: Sequence[Key],
    limit: int,
    cursor: str | None,
    item: Callable[[Row[Any]], dict[str, Any]],
) -> Page:
    """Run `query` for one page ordered by `keys`, after `cursor` if given."""
    if cursor is not None:
        query = query.where(_after(keys, decode_cursor(cursor, [key.kind for key in keys])))
    labels = [f"_key{index}" for index in range(len(keys))]
    query = query.add_columns(
        *(key.expr.label(label) for key, label in zip(keys, labels, strict=True))
    )
    query = query.order_by(*(key.expr.desc() if key.descending else key.expr for key in keys))
    rows = conn.execute(query.limit(limit + 1)).all()
    shown = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = shown[-1]._mapping
        next_cursor = encode_cursor([last[label] for label in labels])
    return Page([item(row) for row in shown], next_cursor)
