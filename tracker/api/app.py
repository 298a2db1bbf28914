"""The FastAPI application: one of the two composition roots (with cli.py).

`create_app` wires the engine and settings into routers, error mapping, middleware and
metrics. Routers of other edges (feeds, subscriptions) come in through
`extra_routers`; a background worker (feed polling, webhook delivery) through
`start_worker`, which the app enters on startup and leaves on shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from tracker import __version__
from tracker.api.metrics import DatabaseCollector
from tracker.api.middleware import BodySizeLimit, RequestMetrics
from tracker.api.openapi import openapi_document
from tracker.api.problems import UnhandledErrors, install_problem_handlers
from tracker.api.routes import companies, events, funding_rounds, health, investors, models, people
from tracker.api.schemas import EventBatchIn, EventIn
from tracker.settings import Settings

__all__ = ["WorkerStarter", "create_app"]

# Enters a background worker for the app's lifetime: started on enter, stopped on exit.
WorkerStarter = Callable[[Engine, Settings], AbstractContextManager[Any]]

ROUTERS: tuple[APIRouter, ...] = (
    companies.router,
    people.router,
    funding_rounds.router,
    models.router,
    investors.router,
    events.router,
    health.router,
)

DESCRIPTION = """Who raised how much from whom, who leads which company, which models
each company released: every fact an immutable event, every answer a projection.

All of `/v1` needs `Authorization: Bearer KEY` (`tracker keys create --scope read`).
Errors are RFC 9457 problem documents. Lists return `{"items": [...], "next_cursor"}`:
pass `next_cursor` back as `cursor` (as `after` for `/v1/events`)."""


def create_app(
    engine: Engine,
    settings: Settings,
    *,
    extra_routers: Sequence[APIRouter] = (),
    start_worker: WorkerStarter | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_worker is None:
            yield
            return
        with start_worker(engine, settings):
            yield

    app = FastAPI(title="Tracker", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.engine = engine
    app.state.settings = settings
    app.state.database_metrics = DatabaseCollector(engine)
    install_problem_handlers(app)
    for router in (*ROUTERS, *extra_routers):
        app.include_router(router)
    # Added innermost first: metrics see every status, the 500s and 413s included.
    app.add_middleware(UnhandledErrors)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)
    documented = (EventIn, EventBatchIn)
    app.openapi = lambda: openapi_document(app, documented)  # type: ignore[method-assign]
    return app
