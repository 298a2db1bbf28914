"""`/v1/events`: the global log (read) and recording events (write)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from tracker.api import examples
from tracker.api.deps import (
    ConnectionDep,
    EngineDep,
    EventBody,
    EventTypes,
    ReadKey,
    WriteKey,
    limit_query,
)
from tracker.api.problems import problem_responses
from tracker.api.schemas import EventList, EventsRecorded
from tracker.commands.recording import record_events
from tracker.domain.errors import InvalidInput
from tracker.projections.queries import event_types, events_page
from tracker.projections.runner import catch_up_to
from tracker.store.reading import LogCursor

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/events", tags=["events"], responses=problem_responses(401, 403, 422, 503)
)

MAX_BATCH = 1000
MAX_POSITION = 2**63 - 1  # positions are BIGINT

# The body is parsed by the EventBody dependency (after the key check), so its shape is
# documented here; app.py adds EventIn and EventBatchIn to the components.
_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/EventIn"},
                        {"$ref": "#/components/schemas/EventBatchIn"},
                    ]
                },
                "examples": {
                    "one event": {"value": examples.EVENT_IN},
                    "a batch": {"value": examples.EVENT_BATCH_IN},
                },
            }
        },
    }
}


@router.get("", summary="Read the global log after a position")
def read_log(
    _key: ReadKey,
    conn: ConnectionDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="Position to read after (0: start).")
    ] = 0,
    types: EventTypes = [],  # noqa: B006 - FastAPI copies defaults per request
    company: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, limit_query(100, 1000)] = 100,
) -> EventList:
    page = events_page(conn, after=after, types=event_types(types), company=company, limit=limit)
    return EventList.model_validate(page, from_attributes=True)


def _raw_events(payload: Any) -> list[Any]:
    """One event object, or `{"events": [...]}`."""
    if isinstance(payload, dict) and "events" in payload:
        extra = sorted(set(payload) - {"events"})
        if extra:
            raise InvalidInput.at((extra[0],), "unknown field")
        events = payload["events"]
        if not isinstance(events, list) or not events:
            raise InvalidInput.at(("events",), "expected a non-empty list of events")
        if len(events) > MAX_BATCH:
            raise InvalidInput.at(("events",), f"at most {MAX_BATCH} events per request")
        return events
    if not isinstance(payload, dict):
        raise InvalidInput.at((), "expected an event object or {events: [...]}")
    return [payload]


@router.post(
    "",
    status_code=201,
    summary="Record one event or an atomic batch",
    openapi_extra=_REQUEST_BODY,
    responses={
        200: {"model": EventsRecorded, "description": "Replayed: this key was used before"},
        **problem_responses(409, 413),
    },
)
def record(
    _key: WriteKey,
    payload: EventBody,
    engine: EngineDep,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=300)
    ] = None,
) -> EventsRecorded:
    try:
        recorded = record_events(
            engine,
            _raw_events(payload),
            idempotency_key=idempotency_key,
            batch=isinstance(payload, dict) and "events" in payload,
        )
    except InvalidInput as exc:
        raise exc.prefixed("body") from None
    if recorded.events:
        # Read-your-writes: the read models show these very events before we answer.
        catch_up_to(engine, max(LogCursor(e.tx, e.position) for e in recorded.events))
    if recorded.replayed:
        response.status_code = 200
    events = [event.envelope() for event in recorded.events]
    return EventsRecorded.model_validate({"events": events, "replayed": recorded.replayed})
