"""Folded company states, kept per process and keyed by the stream's version.

Folding a stream costs about 30 µs an event; reading a stream's version from `streams`
is one primary-key lookup. A state is a pure function of the stream's events and of
(`as_of`, `known_at`), and the version names the events, so a cached state is exact:
a write bumps the version in the same transaction as its events, and the next read
misses and folds again (read-your-writes holds).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from tracker.store.schema import streams

__all__ = ["StateCache", "stream_version_of"]

_VERSION = select(streams.c.version).where(streams.c.stream == bindparam("stream"))
Key = tuple[str, int, date | None, datetime | None]


def stream_version_of(conn: Connection, stream: str) -> int:
    return int(conn.execute(_VERSION, {"stream": stream}).scalar() or 0)


class StateCache:
    """A bounded LRU of folded states; states are shared, so callers must not edit them."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._items: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def get_or_fold(self, key: Key, fold: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        state = fold()
        with self._lock:
            self._items[key] = state
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return state
