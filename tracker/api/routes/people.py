"""`/v1/people/{slug}`: a person's roles across companies."""

from __future__ import annotations

from fastapi import APIRouter

from tracker.api.deps import ConnectionDep, ReadKey, Slug
from tracker.api.problems import problem_responses
from tracker.api.schemas import Person
from tracker.projections.queries import person_roles

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/people", tags=["people"], responses=problem_responses(401, 403, 404, 422, 503)
)


@router.get("/{slug}", summary="A person's roles, current and past")
def person(_key: ReadKey, conn: ConnectionDep, slug: Slug) -> Person:
    return Person.model_validate(person_roles(conn, slug))
