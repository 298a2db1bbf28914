"""Schema upgrades through Alembic, the only way the schema changes."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

__all__ = ["MIGRATIONS_DIR", "upgrade_to_head"]

MIGRATIONS_DIR = Path(
    os.environ.get("TRACKER_MIGRATIONS", Path(__file__).resolve().parents[2] / "migrations")
)


def upgrade_to_head(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        # "heads": feature branches of the schema (feeds, webhooks) may each add a head.
        command.upgrade(config, "heads")
        conn.commit()
