"""Read models of the projection runner: rounds, investors, roles, models, checkpoints.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "projection_checkpoints",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("tx_id", sa.BigInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "funding_rounds",
        sa.Column("company", sa.String(200), primary_key=True),
        sa.Column("fact", sa.String(200), primary_key=True),
        sa.Column("round", sa.String(32), nullable=False),
        sa.Column("announced_on", sa.Date, nullable=False),
        sa.Column("announced_end", sa.Date, nullable=False),
        sa.Column("value_usd", sa.Numeric(24, 2), nullable=True),
        sa.Column("entry", Json, nullable=False),
    )
    op.create_index("ix_funding_rounds_end", "funding_rounds", ["announced_end"])
    op.create_index("ix_funding_rounds_usd", "funding_rounds", ["value_usd"])
    op.create_table(
        "round_investors",
        sa.Column("company", sa.String(200), primary_key=True),
        sa.Column("fact", sa.String(200), primary_key=True),
        sa.Column("investor", sa.String(200), primary_key=True),
        sa.Column("investor_name", sa.String(300), nullable=False),
        sa.Column("lead", sa.Boolean, nullable=False),
    )
    op.create_index("ix_round_investors_investor", "round_investors", ["investor"])
    op.create_table(
        "roles",
        sa.Column("company", sa.String(200), primary_key=True),
        sa.Column("person", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(32), primary_key=True),
        sa.Column("since_on", sa.Date, primary_key=True),
        sa.Column("current", sa.Boolean, nullable=False),
        sa.Column("entry", Json, nullable=False),
    )
    op.create_index("ix_roles_person", "roles", ["person"])
    op.create_table(
        "models",
        sa.Column("company", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("released_on", sa.Date, nullable=False),
        sa.Column("released_end", sa.Date, nullable=False),
        sa.Column("entry", Json, nullable=False),
    )
    op.create_index("ix_models_released_end", "models", ["released_end"])


def downgrade() -> None:
    for table in ("models", "roles", "round_investors", "funding_rounds", "projection_checkpoints"):
        op.drop_table(table)
