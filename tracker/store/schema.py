"""The event store's tables. Alembic migrations create them; this mirrors them for queries.

`events` is the one source of truth. `streams` holds each stream's version, so an
append locks one small row per stream instead of the whole log. `idempotency_keys`
remembers which events a request or feed item produced, so a repeat returns them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["events", "idempotency_keys", "metadata", "streams"]

metadata = MetaData()

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")
# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid).
Position = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False, unique=True),
    Column("stream", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("schema_version", SmallInteger, nullable=False, server_default="1"),
    Column("occurred_on", Date, nullable=False),
    Column("occurred_precision", String(5), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("data", Json, nullable=False),
    Column("sources", Json, nullable=False),
    Column("event_metadata", Json, nullable=False),
    # The writing transaction's id (PostgreSQL xid8 as bigint; 0 on SQLite): what makes
    # reading the log gap-free. See tracker/store/reading.py.
    Column("tx_id", BigInteger, nullable=False),
    UniqueConstraint("stream", "version", name="uq_events_stream_version"),
    Index("ix_events_tx_position", "tx_id", "position"),
    Index("ix_events_type_position", "type", "position"),
)

streams = Table(
    "streams",
    metadata,
    Column("stream", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("event_ids", Json, nullable=False),
    Column("fingerprint", String(64), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
