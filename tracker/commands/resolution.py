"""Resolving the names an event uses to the slugs the log stores.

`data.company` and `data.person` may be a slug, a name or an alias (DESIGN.md §6). A name
that matches nothing registers a new company (a `company.registered` appended first, in
the same transaction) or a new person; a name that matches several is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection

from tracker.commands.corrections import checked_correction
from tracker.domain.envelope import EventDraft
from tracker.domain.errors import InvalidInput
from tracker.domain.names import is_slug, slugify
from tracker.projections.directory import (
    company_exists,
    matching_companies,
    matching_people,
    person_exists,
)
from tracker.store.appending import PendingEvent

__all__ = ["ResolvedItem", "resolve_draft", "stream_of"]


def stream_of(company: str) -> str:
    return f"company-{company}"


@dataclass
class ResolvedItem:
    """The events one input item becomes: registrations first, then the item itself."""

    events: list[PendingEvent] = field(default_factory=list)


def _ambiguous(loc: str, text: str, slugs: list[str]) -> InvalidInput:
    return InvalidInput.at(
        ("data", loc), f"ambiguous name {text!r}: matches {', '.join(slugs)}; use a slug"
    )


def _free_slug(conn: Connection, name: str) -> str:
    base = slugify(name)
    slug, suffix = base, 2
    while company_exists(conn, slug):
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


def _company(conn: Connection, draft: EventDraft, item: ResolvedItem) -> str:
    text = str(draft.data["company"])
    if is_slug(text) and company_exists(conn, text):
        return text
    found = matching_companies(conn, text)
    if len(found) > 1:
        raise _ambiguous("company", text, found)
    if found:
        return found[0]
    if draft.type == "company.registered":
        return text if is_slug(text) else _free_slug(conn, str(draft.data["name"]))
    slug = text if is_slug(text) else _free_slug(conn, text)
    registration = EventDraft(
        type="company.registered",
        data={"company": slug, "name": text, "aliases": []},
        occurred_on=draft.occurred_on,
        sources=draft.sources,
        metadata={**draft.metadata, "registered_by": str(draft.id)},
    )
    item.events.append(PendingEvent(stream_of(slug), registration))
    return slug


def _person(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    text = str(data["person"])
    if is_slug(text) and person_exists(conn, text):
        slug = text
    else:
        found = matching_people(conn, text)
        if len(found) > 1:
            raise _ambiguous("person", text, found)
        slug = found[0] if found else (text if is_slug(text) else slugify(text))
    name = data.get("person_name") or (text if not is_slug(text) else None)
    resolved = {**data, "person": slug}
    if name:
        resolved["person_name"] = name
    return resolved


def resolve_draft(conn: Connection, draft: EventDraft, registered: dict[str, str]) -> ResolvedItem:
    """Turn a validated draft into pending events with resolved slugs.

    `registered` maps names registered earlier in this transaction to their slugs, so a
    batch that names a new company twice registers it once.
    """
    item = ResolvedItem()
    if draft.type in ("event.corrected", "event.retracted"):
        stream, checked = checked_correction(conn, draft)
        item.events.append(PendingEvent(stream, checked))
        return item
    text = str(draft.data["company"])
    company = registered.get(text) or _company(conn, draft, item)
    # Later mentions by the same text or by the new slug must not register it again.
    registered[text] = registered[company] = company
    data = {**draft.data, "company": company}
    if draft.type.startswith("leadership."):
        data = _person(conn, data)
    item.events.append(PendingEvent(stream_of(company), replace(draft, data=data)))
    return item
