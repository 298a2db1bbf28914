"""Read-only queries behind the REST API: search, state, history, people, rounds,
models, investors and the log.

Lists page by keyset: each sorts by a total order ending in a unique key, and a page's
opaque cursor is the last row's sort key, so a page never repeats or skips a row that
was there before it (OFFSET would, as rows arrive). `/v1/events` pages by log position
instead, gap-free (store/reading.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Select, and_, case, exists, func, select

from tracker.domain.envelope import RecordedEvent
from tracker.domain.errors import InvalidInput, NotFound
from tracker.domain.events import EVENT_TYPES
from tracker.domain.names import normalise_name, slugify
from tracker.projections.company_state import fold_company
from tracker.projections.directory import (
    companies,
    company_exists,
    company_names,
    matching_companies,
    people,
)
from tracker.projections.keyset import Key, Page, decode_cursor, encode_cursor, keyset_page
from tracker.projections.state_cache import StateCache, stream_version_of
from tracker.projections.tables import funding_rounds, models, roles, round_investors
from tracker.store.reading import cursor_for_position, read_all, read_stream

__all__ = [
    "ROUND_SORTS",
    "Page",
    "company_history",
    "company_state",
    "event_types",
    "events_page",
    "funding_rounds_page",
    "investor_rounds",
    "models_page",
    "person_roles",
    "search_companies",
]

ROUND_SORTS = ("-amount_usd", "amount_usd", "-announced_on", "announced_on")


def _stream(company: str) -> str:
    return f"company-{company}"


def event_types(filters: Sequence[str], loc: str = "type") -> list[str]:
    """Event type filters as exact names: `leadership.*` stands for each leadership type;
    several may be given, repeated or comma-separated."""
    wanted: list[str] = []
    for text in (part.strip() for value in filters for part in value.split(",")):
        if not text:
            continue
        if text.endswith(".*"):
            found = [t for t in EVENT_TYPES if t.startswith(text[:-1])]
        else:
            found = [text] if text in EVENT_TYPES else []
        if not found:
            known = ", ".join(EVENT_TYPES)
            raise InvalidInput.at(("query", loc), f"unknown event type {text!r}; known: {known}")
        wanted.extend(t for t in found if t not in wanted)
    return wanted


def _company_slugs(conn: Connection, text: str) -> list[str]:
    """A company filter may be a slug, a name or an alias (every company it names)."""
    if company_exists(conn, text):
        return [text]
    return matching_companies(conn, text)


def _like_pattern(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_companies(conn: Connection, name: str | None, *, limit: int, cursor: str | None) -> Page:
    """Companies whose names or aliases contain `name` once normalised: exact matches,
    then prefix matches, then the rest, each by slug. No name lists every company."""
    if not name or not name.strip():
        query: Select[Any] = select(companies.c.slug, companies.c.name)
        keys = [Key(companies.c.slug, "str")]
    else:
        wanted = normalise_name(name)
        if not wanted:
            return Page([], None)
        pattern = _like_pattern(wanted)
        normalised = company_names.c.normalised
        rank = case(
            (normalised == wanted, 0), (normalised.like(pattern + "%", escape="\\"), 1), else_=2
        )
        matches = (
            select(company_names.c.company.label("slug"), func.min(rank).label("rank"))
            .where(normalised.like("%" + pattern + "%", escape="\\"))
            .group_by(company_names.c.company)
            .subquery()
        )
        query = select(matches.c.slug, companies.c.name).join(
            companies, companies.c.slug == matches.c.slug
        )
        keys = [Key(matches.c.rank, "int"), Key(matches.c.slug, "str")]
    page = keyset_page(conn, query, keys, limit, cursor, lambda r: {"slug": r.slug, "name": r.name})
    aliases = _aliases(conn, [item["slug"] for item in page.items])
    for item in page.items:
        item["aliases"] = [n for n in aliases.get(item["slug"], []) if n != item["name"]]
    return page


def _aliases(conn: Connection, slugs: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if not slugs:
        return found
    rows = conn.execute(
        select(company_names.c.company, company_names.c.name)
        .where(company_names.c.company.in_(slugs), company_names.c.kind != "slug")
        .order_by(company_names.c.recorded_at, company_names.c.name)
    )
    for company, name in rows:
        if name not in found.setdefault(company, []):
            found[company].append(name)
    return found


def _stream_of_company(conn: Connection, slug: str) -> list[RecordedEvent]:
    events = read_stream(conn, _stream(slug))
    if not events:
        raise NotFound(f"no company {slug!r}")
    return events


_STATES = StateCache()


def company_state(
    conn: Connection, slug: str, *, as_of: date | None, known_at: datetime | None
) -> dict[str, Any]:
    """The believed state of one company (DESIGN.md §5), today or as of/known at."""
    version = stream_version_of(conn, _stream(slug))
    if version == 0:
        raise NotFound(f"no company {slug!r}")

    def fold() -> dict[str, Any]:
        folded = fold_company(_stream_of_company(conn, slug), as_of=as_of, known_at=known_at)
        return {} if folded is None else folded.to_json()

    state = _STATES.get_or_fold((slug, version, as_of, known_at), fold)
    if not state:
        when = [f"as of {as_of}"] * bool(as_of) + [f"known at {known_at}"] * bool(known_at)
        raise NotFound(f"company {slug!r} was not registered {' and '.join(when)}")
    return state


def company_history(
    conn: Connection,
    slug: str,
    *,
    types: Sequence[str],
    from_: date | None,
    to: date | None,
    limit: int,
    cursor: str | None,
) -> Page:
    """The company's events in world-time order (shown date, then position); `from`
    and `to` compare the last day of each event's period (DESIGN.md §6)."""
    picked = [
        event
        for event in _stream_of_company(conn, slug)
        if (not types or event.type in types)
        and (from_ is None or event.occurred_on.end >= from_)
        and (to is None or event.occurred_on.end <= to)
    ]
    picked.sort(key=lambda event: (event.occurred_on.start, event.position))
    if cursor is not None:
        day, position = decode_cursor(cursor, ("date", "int"))
        picked = [e for e in picked if (e.occurred_on.start, e.position) > (day, position)]
    shown, next_cursor = picked[:limit], None
    if len(picked) > limit:
        last = shown[-1]
        next_cursor = encode_cursor([last.occurred_on.start.isoformat(), last.position])
    return Page([event.envelope() for event in shown], next_cursor)


def person_roles(conn: Connection, slug: str) -> dict[str, Any]:
    """A person's roles across companies, current and past, oldest first."""
    person = conn.execute(select(people.c.name).where(people.c.slug == slug)).first()
    if person is None:
        raise NotFound(f"no person {slug!r}")
    entries = conn.execute(
        select(roles.c.entry)
        .where(roles.c.person == slug)
        .order_by(roles.c.since_on, roles.c.company, roles.c.role)
    ).scalars()
    return {"person": slug, "name": person.name, "roles": list(entries)}


def _round_keys(sort: str) -> list[Key]:
    if sort not in ROUND_SORTS:
        choices = ", ".join(ROUND_SORTS)
        raise InvalidInput.at(("query", "sort"), f"unknown sort {sort!r}; use one of {choices}")
    descending = sort.startswith("-")
    tie_break = [Key(funding_rounds.c.company, "str"), Key(funding_rounds.c.fact, "str")]
    if sort.endswith("announced_on"):
        return [Key(funding_rounds.c.announced_on, "date", descending), *tie_break]
    # Undisclosed amounts sort last whichever the direction.
    undisclosed = case((funding_rounds.c.value_usd.is_(None), 1), else_=0)
    amount = func.coalesce(funding_rounds.c.value_usd, 0)
    return [
        Key(undisclosed, "int"),
        Key(amount, "decimal", descending),
        Key(funding_rounds.c.announced_on, "date", True),
        *tie_break,
    ]


def funding_rounds_page(
    conn: Connection,
    *,
    from_: date | None,
    to: date | None,
    min_usd: Decimal | None,
    company: str | None,
    investor: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> Page:
    """Rounds across companies; dates compare the announced period's last day."""
    keys = _round_keys(sort)
    query: Select[Any] = select(funding_rounds.c.entry)
    if from_ is not None:
        query = query.where(funding_rounds.c.announced_end >= from_)
    if to is not None:
        query = query.where(funding_rounds.c.announced_end <= to)
    if min_usd is not None:
        query = query.where(funding_rounds.c.value_usd >= min_usd)
    if company is not None:
        query = query.where(funding_rounds.c.company.in_(_company_slugs(conn, company)))
    if investor is not None:
        joined = and_(
            round_investors.c.company == funding_rounds.c.company,
            round_investors.c.fact == funding_rounds.c.fact,
            round_investors.c.investor == slugify(investor),
        )
        query = query.where(exists().where(joined))
    return keyset_page(conn, query, keys, limit, cursor, lambda row: dict(row.entry))


def models_page(
    conn: Connection,
    *,
    company: str | None,
    from_: date | None,
    to: date | None,
    limit: int,
    cursor: str | None,
) -> Page:
    """Model releases across companies, newest first."""
    query: Select[Any] = select(models.c.entry)
    if company is not None:
        query = query.where(models.c.company.in_(_company_slugs(conn, company)))
    if from_ is not None:
        query = query.where(models.c.released_end >= from_)
    if to is not None:
        query = query.where(models.c.released_end <= to)
    keys = [
        Key(models.c.released_on, "date", True),
        Key(models.c.company, "str"),
        Key(models.c.model, "str"),
    ]
    return keyset_page(conn, query, keys, limit, cursor, lambda row: dict(row.entry))


def investor_rounds(
    conn: Connection, investor: str, *, limit: int, cursor: str | None
) -> tuple[dict[str, Any], Page]:
    """An investor (slug or name as reported) and the rounds it joined, newest first."""
    slug = slugify(investor)
    name = conn.execute(
        select(round_investors.c.investor_name)
        .where(round_investors.c.investor == slug)
        .order_by(round_investors.c.investor_name)
        .limit(1)
    ).scalar()
    if name is None:
        raise NotFound(f"no investor {investor!r} in any round")
    query: Select[Any] = (
        select(funding_rounds.c.entry, round_investors.c.lead)
        .join(
            round_investors,
            and_(
                round_investors.c.company == funding_rounds.c.company,
                round_investors.c.fact == funding_rounds.c.fact,
            ),
        )
        .where(round_investors.c.investor == slug)
    )
    keys = [
        Key(funding_rounds.c.announced_on, "date", True),
        Key(funding_rounds.c.company, "str"),
        Key(funding_rounds.c.fact, "str"),
    ]
    page = keyset_page(conn, query, keys, limit, cursor, lambda r: {**r.entry, "lead": r.lead})
    return {"investor": slug, "name": name}, page


def events_page(
    conn: Connection, *, after: int, types: Sequence[str], company: str | None, limit: int
) -> Page:
    """The global log after a position, gap-free. `next_cursor` is the last position
    shown (pass it back as `after`); null once the reader has caught up."""
    streams = None
    if company is not None:
        streams = [_stream(slug) for slug in _company_slugs(conn, company)]
        if not streams:
            return Page([], None)
    batch = read_all(
        conn, cursor_for_position(conn, after), limit, types=list(types) or None, streams=streams
    )
    next_cursor = str(batch[-1].position) if batch else None
    return Page([event.envelope() for event in batch], next_cursor)
