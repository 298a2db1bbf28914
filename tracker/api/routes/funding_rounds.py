"""`/v1/funding-rounds`: rounds across companies, e.g. the largest of a period."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from tracker.api.deps import (
    CompanyFilter,
    ConnectionDep,
    Cursor,
    FromDate,
    ReadKey,
    ToDate,
    limit_query,
)
from tracker.api.problems import problem_responses
from tracker.api.schemas import FundingRoundList
from tracker.projections.queries import funding_rounds_page

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/funding-rounds",
    tags=["funding rounds"],
    responses=problem_responses(401, 403, 422, 503),
)

RoundSort = Literal["-amount_usd", "amount_usd", "-announced_on", "announced_on"]


@router.get("", summary="Funding rounds, filtered and sorted")
def list_rounds(
    _key: ReadKey,
    conn: ConnectionDep,
    from_: FromDate = None,
    to: ToDate = None,
    min_usd: Annotated[
        Decimal | None,
        Query(ge=0, max_digits=20, description="Disclosed USD value at least this."),
    ] = None,
    company: CompanyFilter = None,
    investor: Annotated[
        str | None, Query(max_length=300, description="An investor's name or slug.")
    ] = None,
    sort: Annotated[
        RoundSort,
        Query(description="`-amount_usd` (default): largest first; undisclosed last."),
    ] = "-amount_usd",
    limit: Annotated[int, limit_query(50, 200)] = 50,
    cursor: Cursor = None,
) -> FundingRoundList:
    page = funding_rounds_page(
        conn,
        from_=from_,
        to=to,
        min_usd=min_usd,
        company=company,
        investor=investor,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    return FundingRoundList.model_validate(page, from_attributes=True)
