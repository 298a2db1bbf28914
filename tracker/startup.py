"""What every command does first: read and check the settings, log, open the database.

Shared by the composition roots (cli.py and its sub-apps), so a bad setting reads the
same everywhere: `configuration error: TRACKER_DATABASE_URL: ...` and exit code 2.
"""

from __future__ import annotations

import typer
from pydantic import ValidationError
from sqlalchemy import Engine

from tracker.db import make_engine
from tracker.logs import configure_logging
from tracker.settings import Settings

__all__ = ["load_settings", "open_engine"]


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
