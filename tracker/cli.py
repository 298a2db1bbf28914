"""The `tracker` command: one of the two composition roots (with api/app.py).

Results go to stdout; logs and progress bars to stderr (DESIGN.md §6).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import Engine

from tracker.cli_feeds import feeds_app
from tracker.commands.ingest import IngestReport, ingest_feed
from tracker.commands.keys import Scope as KeyScope
from tracker.commands.keys import create_api_key, has_any_key
from tracker.domain.errors import FeedFormatError
from tracker.domain.feed_format import parse_tracker_feed
from tracker.settings import Settings
from tracker.startup import load_settings, open_engine
from tracker.store.migrate import upgrade_to_head

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fastapi import FastAPI

    from tracker.api.app import WorkerStarter

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

Url = Annotated[str, typer.Argument(help="A feed file path, file: URL or http(s) URL.")]


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the newest version."""
    engine = open_engine(load_settings())
    upgrade_to_head(engine)
    typer.echo("database is at the newest schema")


def read_feed_bytes(location: str, settings: Settings) -> bytes:
    if location.startswith(("http://", "https://")):
        import httpx

        response = httpx.get(location, timeout=settings.feed_timeout_seconds, follow_redirects=True)
        response.raise_for_status()
        return response.content
    path = Path(location.removeprefix("file://").removeprefix("file:"))
    return path.read_bytes()


def print_report(report: IngestReport) -> None:
    typer.echo(report.summary())
    for rejection in report.rejected:
        for line in rejection.lines():
            typer.echo(line)


@app.command()
def ingest(location: Url) -> None:
    """Append the events of a tracker feed; prints `new N, duplicate N, rejected N`."""
    settings = load_settings()
    engine = open_engine(settings)
    try:
        feed = parse_tracker_feed(read_feed_bytes(location, settings))
    except FeedFormatError as exc:
        typer.echo(f"rejected: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"cannot read {location}: {exc}", err=True)
        raise typer.Exit(1) from None
    from tracker.projections.runner import catch_up

    report = ingest_feed(engine, feed, after_write=catch_up)
    print_report(report)
    if report.rejected:
        raise typer.Exit(1)


projections_app = typer.Typer(no_args_is_help=True, help="Read models built from the log.")
app.add_typer(projections_app, name="projections")


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str | None, typer.Argument(help="One projection; all when omitted.")] = None,
) -> None:
    """Replay the log from position 0 into the read models; readers see the switch only
    when it is complete."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from tracker.projections.rebuild import rebuild

    engine = open_engine(load_settings())
    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("rebuild", total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            replayed = rebuild(engine, [name] if name else [], progress=show)
        except KeyError as exc:
            typer.echo(str(exc.args[0]), err=True)
            raise typer.Exit(2) from None
    typer.echo(f"rebuilt {name or 'all projections'} from {replayed} events")


@app.command()
def worker() -> None:
    """Run the background worker: feed polls, projections, webhook dispatch and delivery.

    Stops cleanly on SIGTERM or Ctrl-C (in-flight work finishes or its lease lapses)."""
    import signal
    import threading

    from tracker.worker import background_worker

    settings = load_settings()
    engine = open_engine(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with background_worker(engine, settings):
        stop.wait()


@app.command()
def health(
    worker_alive: Annotated[
        bool, typer.Option("--worker", help="Also require a live worker heartbeat.")
    ] = False,
) -> None:
    """Exit 0 when the database answers (and, with --worker, a worker beats); for
    container health checks."""
    from sqlalchemy import text

    from tracker.store.heartbeats import live_workers

    engine = open_engine(load_settings())
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            workers = live_workers(conn)
    except Exception as exc:
        typer.echo(f"database unreachable: {exc}", err=True)
        raise typer.Exit(1) from None
    if worker_alive and not workers:
        typer.echo("no live worker heartbeat", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: database reachable, {len(workers)} live worker(s)")


keys_app = typer.Typer(no_args_is_help=True, help="API keys; only a hash of each is stored.")
app.add_typer(keys_app, name="keys")
app.add_typer(feeds_app, name="feeds")


@keys_app.command("create")
def keys_create(
    scope: Annotated[
        KeyScope, typer.Option("--scope", case_sensitive=False, help="admin ⊃ write ⊃ read.")
    ],
    description: Annotated[
        str | None, typer.Option("--description", help="Who or what the key is for.")
    ] = None,
) -> None:
    """Create an API key; it is printed once, alone on the last line, and never again."""
    engine = open_engine(load_settings())
    typer.echo(create_api_key(engine, scope, description))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (TRACKER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (TRACKER_PORT).")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="API only: no feed polls or webhook sending.")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="API processes (uvicorn workers).")
    ] = 1,
    first_run: Annotated[
        bool, typer.Option("--first-run", help="Create and print an admin key if none exists.")
    ] = False,
) -> None:
    """Run the REST API (docs at /docs), with the background worker unless --no-worker."""
    import uvicorn

    settings = load_settings()
    host, port = host or settings.host, port or settings.port
    engine = open_engine(settings)
    if first_run:
        typer.echo(f"Tracker is running at http://{host}:{port}/docs")
        if not has_any_key(engine):
            # stdout, never the logger: the key must not end up in log storage.
            typer.echo(f"admin key: {create_api_key(engine, 'admin', 'first run')}")
    log_config = None  # keep our structured logging; uvicorn must not replace it
    if workers == 1:
        uvicorn.run(
            build_app(engine, settings, worker=not no_worker),
            host=host,
            port=port,
            log_config=log_config,
        )
        return
    # Several processes import the app by name and each builds its own engine; they run
    # no background worker (run `tracker worker` beside them, as docker-compose does).
    uvicorn.run(
        "tracker.cli:serving_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
    )


def build_app(engine: Engine, settings: Settings, *, worker: bool) -> FastAPI:
    """The API with every edge wired: feeds and subscriptions routers, the manual feed
    poller, the webhook URL guard, and what runs beside it (serve_worker)."""
    from tracker.api.app import create_app
    from tracker.api.routes import feeds, subscriptions
    from tracker.feeds.scheduler import manual_poller
    from tracker.webhooks.worker import url_checker

    app_ = create_app(
        engine,
        settings,
        extra_routers=[feeds.router, subscriptions.router],
        start_worker=serve_worker(no_worker=not worker),
    )
    app_.state.poll_feed_now = manual_poller(engine, settings)
    app_.state.check_webhook_url = url_checker(settings)
    return app_


def serving_app() -> FastAPI:
    """uvicorn's factory for `serve --workers N` (one call per API process)."""
    settings = load_settings()
    return build_app(open_engine(settings), settings, worker=False)


def serve_worker(*, no_worker: bool) -> WorkerStarter:
    """What `serve` runs beside the API: the whole background worker (feed polls,
    projections, webhook delivery), or with --no-worker the projections alone (so writes
    by other processes still reach the reads) and the feed registry synced once (so
    GET /v1/feeds lists it)."""
    from contextlib import contextmanager

    from tracker.feeds.scheduler import sync_feed_registry
    from tracker.projections.loop import ProjectionWorker
    from tracker.store.appending import utc_now
    from tracker.worker import background_worker

    if not no_worker:
        return background_worker

    @contextmanager
    def projections_only(engine: Engine, settings: Settings) -> Iterator[None]:
        try:
            sync_feed_registry(engine, settings, utc_now())
        except Exception:  # a bad registry must not keep the API down; the worker reports it
            logging.getLogger(__name__).exception("feed registry not synced")
        projections = ProjectionWorker(engine, settings.worker_poll_seconds)
        projections.start()
        try:
            yield
        finally:
            projections.stop()

    return projections_only


def main() -> None:
    app(prog_name="tracker")


if __name__ == "__main__":
    main()
