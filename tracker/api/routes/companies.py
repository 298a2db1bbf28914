"""`/v1/companies`: search by name, a company's state at any time, its history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from tracker.api.deps import (
    ConnectionDep,
    Cursor,
    EventTypes,
    FromDate,
    ReadKey,
    Slug,
    ToDate,
    limit_query,
)
from tracker.api.problems import problem_responses
from tracker.api.schemas import CompanyList, CompanyState, EventList
from tracker.projections.queries import (
    company_history,
    company_state,
    event_types,
    search_companies,
)

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/companies", tags=["companies"], responses=problem_responses(401, 403, 422, 503)
)
Limit = Annotated[int, limit_query(50, 200)]


@router.get("", summary="Search companies by name or alias")
def search(
    _key: ReadKey,
    conn: ConnectionDep,
    name: Annotated[
        str | None,
        Query(max_length=200, description="Part of a name or alias; exact matches first."),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CompanyList:
    page = search_companies(conn, name, limit=limit, cursor=cursor)
    return CompanyList.model_validate(page, from_attributes=True)


@router.get("/{slug}", summary="A company's state", responses=problem_responses(404))
def state(
    _key: ReadKey,
    conn: ConnectionDep,
    slug: Slug,
    as_of: Annotated[
        date | None, Query(description="World date: facts whose period ended by then.")
    ] = None,
    known_at: Annotated[
        datetime | None, Query(description="Knowledge time: events recorded by then (UTC).")
    ] = None,
) -> CompanyState:
    return CompanyState.model_validate(company_state(conn, slug, as_of=as_of, known_at=known_at))


@router.get(
    "/{slug}/history",
    summary="A company's events in world-time order",
    responses=problem_responses(404),
)
def history(
    _key: ReadKey,
    conn: ConnectionDep,
    slug: Slug,
    types: EventTypes = [],  # noqa: B006 - FastAPI copies defaults per request
    from_: FromDate = None,
    to: ToDate = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> EventList:
    page = company_history(
        conn, slug, types=event_types(types), from_=from_, to=to, limit=limit, cursor=cursor
    )
    return EventList.model_validate(page, from_attributes=True)
