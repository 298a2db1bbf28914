"""Every setting in one place, read from the environment (prefix `TRACKER_`) and validated
at start, so a bad value stops the process with a message that names it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRACKER_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./tracker.db",
        description="SQLAlchemy URL: sqlite:///PATH or postgresql://USER@HOST/DB.",
    )
    feeds: Path = Field(default=Path("feeds/feeds.toml"), description="Feed registry file.")
    allow_private_webhooks: bool = Field(
        default=False, description="Allow http:// and private/loopback webhook targets."
    )
    host: str = Field(default="127.0.0.1", description="Address `tracker serve` binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `tracker serve` binds.")
    log_format: Literal["json", "text"] = Field(default="text", description="Log line format.")
    log_level: str = Field(default="INFO", description="Python log level name.")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body the API accepts."
    )
    feed_max_bytes: int = Field(
        default=20_971_520, ge=1024, description="Largest feed body a poll reads."
    )
    feed_timeout_seconds: float = Field(default=10.0, gt=0, description="Feed fetch timeout.")
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, description="Webhook timeout.")
    worker_poll_seconds: float = Field(
        default=0.25, gt=0, description="How often the worker looks for new events and due work."
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError(
                "TRACKER_DATABASE_URL must start with sqlite:/// or postgresql:// "
                f"(got {value.split(':', 1)[0]!r})"
            )
        return value
