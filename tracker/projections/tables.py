"""Read-model tables built by the projection runner, and its checkpoints.

Each row keeps the entry's full JSON (`entry`) as the company state shows it, plus the
columns queries filter and sort on. Migration 0003 creates them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    MetaData,
    Numeric,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["checkpoints", "funding_rounds", "models", "roles", "round_investors"]

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")

checkpoints = Table(
    "projection_checkpoints",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("tx_id", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

funding_rounds = Table(
    "funding_rounds",
    metadata,
    Column("company", String(200), primary_key=True),
    Column("fact", String(200), primary_key=True),
    Column("round", String(32), nullable=False),
    Column("announced_on", Date, nullable=False),
    # The last day of the announced period: what `from`/`to` compare (DESIGN.md §6).
    Column("announced_end", Date, nullable=False),
    Column("value_usd", Numeric(24, 2), nullable=True),
    Column("entry", Json, nullable=False),
    Index("ix_funding_rounds_end", "announced_end"),
    Index("ix_funding_rounds_usd", "value_usd"),
)

round_investors = Table(
    "round_investors",
    metadata,
    Column("company", String(200), primary_key=True),
    Column("fact", String(200), primary_key=True),
    Column("investor", String(200), primary_key=True),
    Column("investor_name", String(300), nullable=False),
    Column("lead", Boolean, nullable=False),
    Index("ix_round_investors_investor", "investor"),
)

roles = Table(
    "roles",
    metadata,
    Column("company", String(200), primary_key=True),
    Column("person", String(200), primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("since_on", Date, primary_key=True),
    Column("current", Boolean, nullable=False),
    Column("entry", Json, nullable=False),
    Index("ix_roles_person", "person"),
)

models = Table(
    "models",
    metadata,
    Column("company", String(200), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("released_on", Date, nullable=False),
    Column("released_end", Date, nullable=False),
    Column("entry", Json, nullable=False),
    Index("ix_models_released_end", "released_end"),
)
