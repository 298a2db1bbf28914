"""The webhook tables: subscriptions, the delivery outbox and its attempt log.

Mirrors migrations/versions/0006_webhooks.py for queries. Unlike the read models these
rows are not derived from the log: commands write subscriptions, the dispatcher writes
deliveries, the delivery worker writes attempts and outcomes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "QUEUED",
    "STATUSES",
    "as_utc",
    "deliveries",
    "delivery_attempts",
    "metadata",
    "subscriptions",
]

# What each status means: tracker/commands/deliveries.py.
STATUSES = ("pending", "sending", "succeeded", "failed", "dead", "cancelled")
QUEUED = ("pending",)

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")
Moment = DateTime(timezone=True)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("event_types", Json, nullable=False),
    Column("companies", Json, nullable=False),
    Column("description", String(500), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", String(1000), nullable=True),
    Column("secret", String(100), nullable=False),
    Column("previous_secret", String(100), nullable=True),
    Column("previous_secret_until", Moment, nullable=True),
    Column("created_at", Moment, nullable=False),
    Column("updated_at", Moment, nullable=False),
    Column("first_failure_at", Moment, nullable=True),
    Column("last_success_at", Moment, nullable=True),
    # The log head when the subscription was made: it wants the events after it.
    Column("start_tx", BigInteger, nullable=False),
    Column("start_position", BigInteger, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(40), primary_key=True),  # the webhook-id, the same on every retry
    Column(
        "subscription_id",
        String(40),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", Uuid(), nullable=True),  # NULL for webhook.ping
    Column("generation", Integer, nullable=False, default=0),  # 0: the dispatcher; n: replay n
    Column("position", BigInteger, nullable=True),
    Column("event_type", String(64), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Moment, nullable=True),
    Column("claimed_by", String(100), nullable=True),
    Column("claimed_until", Moment, nullable=True),
    Column("created_at", Moment, nullable=False),
    Column("event_recorded_at", Moment, nullable=False),
    Column("delivered_at", Moment, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(1000), nullable=True),
    UniqueConstraint("subscription_id", "event_id", "generation", name="uq_deliveries_event"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column(
        "delivery_id", String(40), ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False
    ),
    Column("number", Integer, nullable=False),
    Column("attempted_at", Moment, nullable=False),
    Column("status", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("response_body", String(2000), nullable=True),
    Column("error", String(1000), nullable=True),
)


def as_utc(moment: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime: SQLite keeps no offset, and we only ever
    write UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
