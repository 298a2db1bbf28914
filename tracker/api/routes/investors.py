"""`/v1/investors/{slug}`: the rounds an investor joined."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from tracker.api.deps import ConnectionDep, Cursor, ReadKey, Slug, limit_query
from tracker.api.problems import problem_responses
from tracker.api.schemas import InvestorRounds
from tracker.projections.queries import investor_rounds

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/investors",
    tags=["investors"],
    responses=problem_responses(401, 403, 404, 422, 503),
)


@router.get("/{slug}", summary="Rounds an investor joined, newest first")
def investor(
    _key: ReadKey,
    conn: ConnectionDep,
    slug: Slug,
    limit: Annotated[int, limit_query(50, 200)] = 50,
    cursor: Cursor = None,
) -> InvestorRounds:
    found, page = investor_rounds(conn, slug, limit=limit, cursor=cursor)
    return InvestorRounds.model_validate(
        {**found, "items": page.items, "next_cursor": page.next_cursor}
    )
