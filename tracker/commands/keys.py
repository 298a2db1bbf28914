"""API keys: creating them, and telling which scope a presented key grants.

A key is shown once, at creation (`trk_` + 32 URL-safe characters); the database keeps
only its SHA-256, so a leaked table or backup grants nothing. Keys are random with 192
bits of entropy, so a plain fast hash is enough: there is nothing to brute-force that a
slow password hash would protect (unlike passwords, which are guessable).

Scopes nest: admin ⊃ write ⊃ read (DESIGN.md §5).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)

from tracker.db import read_connection, write_transaction

__all__ = [
    "KEY_PREFIX",
    "Scope",
    "api_keys",
    "authenticate",
    "create_api_key",
    "has_any_key",
]

KEY_PREFIX = "trk_"
# secrets.token_urlsafe(24) is 24 random bytes in unpadded base64url: 32 characters.
_KEY_BYTES = 24
_KEY_LENGTH = len(KEY_PREFIX) + 32

metadata = MetaData()

# Mirrors migrations/versions/0004_api_keys.py.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scope", String(8), nullable=False),
    Column("description", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def covers(self, needed: Scope) -> bool:
        """Whether a key of this scope may do what `needed` allows."""
        return self.rank >= needed.rank


_RANKS = {Scope.READ: 0, Scope.WRITE: 1, Scope.ADMIN: 2}


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(engine: Engine, scope: Scope | str, description: str | None = None) -> str:
    """Store a new key's hash and return the key itself; it cannot be shown again."""
    granted = Scope(scope)
    key = KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)
    with write_transaction(engine) as conn:
        conn.execute(
            insert(api_keys).values(
                id=secrets.token_hex(8),
                key_hash=_hash(key),
                scope=granted.value,
                description=description[:200] if description else None,
                created_at=datetime.now(UTC),
            )
        )
    return key


def authenticate(engine: Engine, key: str) -> Scope | None:
    """The scope of an active key, or None for an unknown, malformed or revoked one.

    Looking the key up by its hash leaks no timing about the stored keys: an attacker
    would have to find SHA-256 preimages, so no constant-time comparison is needed.
    """
    if not key.startswith(KEY_PREFIX) or len(key) != _KEY_LENGTH:
        return None
    with read_connection(engine) as conn:
        scope = conn.execute(
            select(api_keys.c.scope).where(
                api_keys.c.key_hash == _hash(key), api_keys.c.revoked_at.is_(None)
            )
        ).scalar()
    return Scope(scope) if scope is not None else None


def has_any_key(engine: Engine) -> bool:
    """Whether an active key exists (`tracker serve --first-run` creates one if not)."""
    with read_connection(engine) as conn:
        count = conn.execute(
            select(func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
        ).scalar_one()
    return bool(count)
