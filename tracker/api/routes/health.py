"""`/health` and `/metrics`: what operators and Prometheus poll. No key needed."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tracker.api.deps import EngineDep
from tracker.api.metrics import DatabaseCollector, exposition
from tracker.api.schemas import Health, WorkerStatus
from tracker.commands.deliveries import dispatcher_lag
from tracker.db import read_connection
from tracker.projections.runner import lag
from tracker.store.heartbeats import live_workers

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get(
    "/health",
    summary="Whether the database answers, and how far each projection lags",
    responses={503: {"model": Health, "description": "The database is unreachable"}},
)
def health(engine: EngineDep, response: Response) -> Health:
    try:
        with read_connection(engine) as conn:
            conn.execute(text("SELECT 1"))
            behind = lag(conn)
            dispatcher = dispatcher_lag(conn)
            workers = [
                WorkerStatus(
                    worker_id=w.worker_id,
                    hostname=w.hostname,
                    pid=w.pid,
                    beat_at=w.beat_at,
                    parts=list(w.state.get("parts", [])),
                )
                for w in live_workers(conn)
            ]
    except SQLAlchemyError as exc:
        log.warning("health check: database unreachable", extra={"error": str(exc)})
        response.status_code = 503
        return Health(status="unavailable", database="unreachable", projections={})
    return Health(
        status="ok", database="ok", projections=behind, dispatcher=dispatcher, workers=workers
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    collector: DatabaseCollector = request.app.state.database_metrics
    return Response(exposition(collector), media_type=CONTENT_TYPE_LATEST)
