"""Feeds: the operator's registry mirrored in the database, plus each feed's polling state.

The registry (`feeds/feeds.toml`) says what to poll; this table remembers how it went:
validators for conditional GET, counts, errors, the 410 state, and the claim a worker
holds while it polls (so several workers never poll one feed at once).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("name", sa.String(200), primary_key=True),
        # From the registry.
        sa.Column("adapter", sa.String(32), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("interval_seconds", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("options", Json, nullable=False),
        # Polling state.
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("disabled_reason", sa.Text, nullable=True),
        sa.Column("etag", sa.Text, nullable=True),
        sa.Column("last_modified", sa.Text, nullable=True),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error_count", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("poll_count", sa.Integer, nullable=False),
        sa.Column("last_counts", Json, nullable=True),
        sa.Column("totals", Json, nullable=False),
        # The worker polling it right now, until when.
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('ok', 'error', 'disabled')", name="ck_feeds_status"),
        sa.CheckConstraint("interval_seconds > 0", name="ck_feeds_interval"),
    )
    # The scheduler's question, every few seconds: which feeds are due?
    op.create_index("ix_feeds_next_poll_at", "feeds", ["next_poll_at"])


def downgrade() -> None:
    op.drop_index("ix_feeds_next_poll_at", table_name="feeds")
    op.drop_table("feeds")
