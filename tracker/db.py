"""Engines and transactions for both databases.

SQLite: WAL mode so readers never block the writer, a busy timeout so a CLI write
while `tracker serve` runs waits instead of failing, and `BEGIN IMMEDIATE` for writes:
a deferred transaction that reads then writes can fail at once with "database is locked"
when it has to upgrade its lock, and the busy timeout does not cover that upgrade
(https://www.sqlite.org/lang_transaction.html, "BEGIN IMMEDIATE").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import JSON, Connection, Engine, Table, create_engine, event, insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

__all__ = [
    "bulk_insert",
    "is_postgres",
    "make_engine",
    "normalise_url",
    "read_connection",
    "read_only_connection",
    "write_transaction",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """postgres:// and postgresql:// both mean psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    # Errors must not carry SQL parameters into logs: they hold webhook secrets and key
    # hashes (https://docs.sqlalchemy.org/en/20/core/engines.html, hide_parameters).
    kwargs.setdefault("hide_parameters", True)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def is_postgres(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "postgresql"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that will write: committed on success, rolled back on error."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextmanager
def read_only_connection(engine: Engine) -> Iterator[Connection]:
    """A read transaction that ends in a rollback, where losing the connection while
    ending it is no error: the rows were read. The API holds one per request and ends it
    after the response has started, when an error could only drop the client's
    connection instead of answering."""
    conn = engine.connect()
    try:
        conn.begin()
        yield conn
    finally:
        try:
            conn.rollback()
            conn.close()
        except DBAPIError:
            log.warning("read connection lost while closing it", exc_info=True)
            conn.invalidate()


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows in the caller's transaction: COPY on PostgreSQL, which is several
    times faster than executemany for the thousands of rows a rebuild writes
    (https://www.psycopg.org/psycopg3/docs/basic/copy.html); executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name != "postgresql" or len(rows) < 50:
        conn.execute(insert(table), list(rows))
        return
    from psycopg.types.json import Jsonb

    names = [column.name for column in table.columns]
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([Jsonb(row[n]) if n in json_columns else row.get(n) for n in names])
