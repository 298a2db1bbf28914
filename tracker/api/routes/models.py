"""`/v1/models`: model releases across companies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

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
from tracker.api.schemas import ModelList
from tracker.projections.queries import models_page

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/models", tags=["models"], responses=problem_responses(401, 403, 422, 503)
)


@router.get("", summary="Model releases, newest first")
def list_models(
    _key: ReadKey,
    conn: ConnectionDep,
    company: CompanyFilter = None,
    from_: FromDate = None,
    to: ToDate = None,
    limit: Annotated[int, limit_query(50, 200)] = 50,
    cursor: Cursor = None,
) -> ModelList:
    page = models_page(conn, company=company, from_=from_, to=to, limit=limit, cursor=cursor)
    return ModelList.model_validate(page, from_attributes=True)
