"""The event store: events, streams, idempotency keys, and the append-only trigger.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The database refuses to change history, whoever asks: a bug, a script or a person
# with psql. Python checks alone would not stop the last two.
PG_APPEND_ONLY = """
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER events_no_update_or_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
"""
SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END""",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    tx_default = sa.text("(pg_current_xact_id()::text::bigint)") if postgres else sa.text("0")
    op.create_table(
        "events",
        sa.Column("position", Position, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("schema_version", sa.SmallInteger, nullable=False, server_default="1"),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("occurred_precision", sa.String(5), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("sources", Json, nullable=False),
        sa.Column("event_metadata", Json, nullable=False),
        sa.Column("tx_id", sa.BigInteger, nullable=False, server_default=tx_default),
        sa.UniqueConstraint("id", name="uq_events_id"),
        sa.UniqueConstraint("stream", "version", name="uq_events_stream_version"),
        sa.CheckConstraint("version >= 1", name="ck_events_version_positive"),
        sa.CheckConstraint(
            "occurred_precision IN ('day', 'month', 'year')", name="ck_events_precision"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_tx_position", "events", ["tx_id", "position"])
    op.create_index("ix_events_type_position", "events", ["type", "position"])
    op.create_table(
        "streams",
        sa.Column("stream", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("event_ids", Json, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    if postgres:
        op.execute(PG_APPEND_ONLY)
    else:
        for statement in SQLITE_APPEND_ONLY:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_no_truncate ON events")
        op.execute("DROP TRIGGER IF EXISTS events_no_update_or_delete ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    op.drop_table("idempotency_keys")
    op.drop_table("streams")
    op.drop_table("events")
