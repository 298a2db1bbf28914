"""The directory: which company or person each name and alias points to.

Unlike the other read models it is written in the same transaction as the events it
comes from, because writers resolve names through it: item 3 of a feed may name a
company by an alias that item 0 registered. It holds few rows and changes rarely, so
keeping it inline costs writers little. `rebuild_directory` replays it from the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tracker.domain.envelope import RecordedEvent
from tracker.domain.names import normalise_name
from tracker.store.reading import iterate_all

__all__ = [
    "DIRECTORY_TYPES",
    "apply_directory",
    "companies",
    "company_names",
    "matching_companies",
    "matching_people",
    "people",
    "person_names",
    "rebuild_directory",
]

metadata = MetaData()

companies = Table(
    "companies",
    metadata,
    Column("slug", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)
company_names = Table(
    "company_names",
    metadata,
    Column("normalised", String(200), primary_key=True),
    Column("company", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(8), nullable=False),  # slug | name | alias
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
people = Table(
    "people",
    metadata,
    Column("slug", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
)
person_names = Table(
    "person_names",
    metadata,
    Column("normalised", String(200), primary_key=True),
    Column("person", String(200), primary_key=True),
)

DIRECTORY_TYPES = (
    "company.registered",
    "company.renamed",
    "company.alias_added",
    "leadership.appointed",
    "leadership.departed",
)


def _insert(conn: Connection, table: Table) -> Any:
    """INSERT with ON CONFLICT, which both dialects spell the same way."""
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def _add_name(conn: Connection, company: str, name: str, kind: str, at: datetime) -> None:
    key = normalise_name(name)
    if not key:
        return
    statement = _insert(conn, company_names).values(
        normalised=key, company=company, name=name, kind=kind, recorded_at=at
    )
    conn.execute(statement.on_conflict_do_nothing())


def _apply_one(conn: Connection, event: RecordedEvent) -> None:
    data, company, at = event.data, event.company, event.recorded_at
    if event.type == "company.registered":
        statement = _insert(conn, companies).values(
            slug=company, name=data["name"], registered_at=at
        )
        conn.execute(
            statement.on_conflict_do_update(index_elements=["slug"], set_={"name": data["name"]})
        )
        _add_name(conn, company, company, "slug", at)
        for name in [data["name"], *data.get("aliases", [])]:
            _add_name(conn, company, name, "name" if name == data["name"] else "alias", at)
    elif event.type == "company.renamed":
        conn.execute(
            companies.update().where(companies.c.slug == company).values(name=data["name"])
        )
        _add_name(conn, company, data["name"], "name", at)
    elif event.type == "company.alias_added":
        _add_name(conn, company, data["alias"], "alias", at)
    elif event.type.startswith("leadership."):
        person, name = data["person"], data.get("person_name") or data["person"]
        conn.execute(_insert(conn, people).values(slug=person, name=name).on_conflict_do_nothing())
        for text in {person, name}:
            key = normalise_name(text)
            if key:
                conn.execute(
                    _insert(conn, person_names)
                    .values(normalised=key, person=person)
                    .on_conflict_do_nothing()
                )


def apply_directory(conn: Connection, events: Iterable[RecordedEvent]) -> None:
    """Record the names these events introduce, in the caller's transaction."""
    for event in events:
        if event.type in DIRECTORY_TYPES:
            _apply_one(conn, event)


def rebuild_directory(conn: Connection) -> None:
    for table in (person_names, people, company_names, companies):
        conn.execute(delete(table))
    apply_directory(conn, iterate_all(conn))


# Built once and bound per call: these run for every item a feed brings.
_COMPANIES_NAMED = (
    select(company_names.c.company).where(company_names.c.normalised == bindparam("key")).distinct()
)
_PEOPLE_NAMED = (
    select(person_names.c.person).where(person_names.c.normalised == bindparam("key")).distinct()
)
_COMPANY = select(companies.c.slug).where(companies.c.slug == bindparam("slug"))
_PERSON = select(people.c.slug).where(people.c.slug == bindparam("slug"))


def matching_companies(conn: Connection, name: str) -> list[str]:
    """Slugs of the companies a name or alias denotes (several when it is ambiguous)."""
    rows = conn.execute(_COMPANIES_NAMED, {"key": normalise_name(name)})
    return sorted(row[0] for row in rows)


def matching_people(conn: Connection, name: str) -> list[str]:
    rows = conn.execute(_PEOPLE_NAMED, {"key": normalise_name(name)})
    return sorted(row[0] for row in rows)


def company_exists(conn: Connection, slug: str) -> bool:
    return conn.execute(_COMPANY, {"slug": slug}).first() is not None


def person_exists(conn: Connection, slug: str) -> bool:
    return conn.execute(_PERSON, {"slug": slug}).first() is not None


__all__ += ["company_exists", "person_exists"]
