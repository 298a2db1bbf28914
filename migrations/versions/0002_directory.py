"""The directory: companies, people and every name they go by.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("slug", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "company_names",
        sa.Column("normalised", sa.String(200), primary_key=True),
        sa.Column("company", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_company_names_company", "company_names", ["company"])
    op.create_table(
        "people",
        sa.Column("slug", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
    )
    op.create_table(
        "person_names",
        sa.Column("normalised", sa.String(200), primary_key=True),
        sa.Column("person", sa.String(200), primary_key=True),
    )


def downgrade() -> None:
    for table in ("person_names", "people", "company_names", "companies"):
        op.drop_table(table)
