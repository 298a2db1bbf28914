"""Webhooks: subscriptions, the delivery outbox and its attempt log.

`deliveries` is the outbox (DESIGN.md §3): the dispatcher writes one row per matching
(subscription, event) in the same transaction as its checkpoint; workers claim due rows
with FOR UPDATE SKIP LOCKED and a lease. The unique (subscription_id, event_id,
generation) keeps the dispatcher from writing two deliveries of one event for one
subscription; a replay writes a new generation on purpose. Ping deliveries carry no
event (NULL event_id, which unique constraints treat as distinct on both databases).

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid).
AttemptId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", Json, nullable=False),
        sa.Column("companies", Json, nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.String(1000), nullable=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_secret_until", Moment, nullable=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.Column("first_failure_at", Moment, nullable=True),
        sa.Column("last_success_at", Moment, nullable=True),
        # The log head when the subscription was made: it wants the events after it.
        sa.Column("start_tx", sa.BigInteger, nullable=False),
        sa.Column("start_position", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "subscription_id",
            sa.String(40),
            sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("position", sa.BigInteger, nullable=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", Moment, nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_until", Moment, nullable=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("event_recorded_at", Moment, nullable=False),
        sa.Column("delivered_at", Moment, nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'succeeded', 'failed', 'dead', 'cancelled')",
            name="ck_deliveries_status",
        ),
        sa.UniqueConstraint(
            "subscription_id", "event_id", "generation", name="uq_deliveries_event"
        ),
    )
    # Workers look for due rows: status first, then the time they fall due.
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    # Per-subscription order: "is an older delivery of this subscription still queued?"
    op.create_index("ix_deliveries_queue", "deliveries", ["subscription_id", "status", "position"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", AttemptId, primary_key=True, autoincrement=True),
        sa.Column(
            "delivery_id",
            sa.String(40),
            sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("attempted_at", Moment, nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("response_body", sa.String(2000), nullable=True),
        sa.Column("error", sa.String(1000), nullable=True),
    )
    op.create_index("ix_delivery_attempts_delivery", "delivery_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    op.drop_table("deliveries")
    op.drop_table("subscriptions")
