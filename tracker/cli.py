"""The `tracker` command: one of the two composition roots (with api/app.py).

Results go to stdout; logs and progress bars to stderr (DESIGN.md §6).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy import Engine

from tracker.commands.ingest import IngestReport, ingest_feed
from tracker.db import make_engine
from tracker.domain.errors import FeedFormatError
from tracker.domain.feed_format import parse_tracker_feed
from tracker.logs import configure_logging
from tracker.settings import Settings
from tracker.store.migrate import upgrade_to_head

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

Url = Annotated[str, typer.Argument(help="A feed file path, file: URL or http(s) URL.")]


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "TRACKER_" + str(error["loc"][0]).upper() if error["loc"] else "settings"
            typer.echo(f"configuration error: {name}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


def open_engine(settings: Settings) -> Engine:
    configure_logging(settings.log_level, settings.log_format)
    return make_engine(settings.database_url)


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


def main() -> None:
    app(prog_name="tracker")


if __name__ == "__main__":
    sys.exit(main())
