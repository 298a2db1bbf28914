"""Alembic environment: runs on the connection `tracker migrate` hands over, or on the
URL of TRACKER_DATABASE_URL when alembic is run by hand."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from tracker.db import make_engine
from tracker.settings import Settings


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(Settings().database_url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
