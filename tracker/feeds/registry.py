"""The feed registry: which feeds to poll, with which adapter, how often (DESIGN.md §6).

It owns reading `feeds/feeds.toml` into `FeedConfig` values and refusing a registry that
is wrong, naming the feed and the field, at load time rather than at the first poll:

    [[feeds]]
    name = "seed"            # a slug, unique
    adapter = "tracker"      # tracker | huggingface | github-releases
    url = "seed.json"        # a path (relative to this file), file: or http(s)://
    interval = "6h"          # default 6h
    enabled = true           # default true
    [feeds.options]          # adapter options, e.g. org = "stepfun-ai", company = "stepfun"

Only configuration lives here; polling state (ETags, counts, errors, the 410 state)
lives in the database.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit
from urllib.request import url2pathname

from tracker.domain.errors import TrackerError
from tracker.domain.names import is_slug
from tracker.feeds.adapters import ADAPTERS, REQUIRED_OPTIONS
from tracker.feeds.schedule import parse_interval

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_REGISTRY",
    "FeedConfig",
    "RegistryError",
    "load_registry",
    "parse_registry",
]

DEFAULT_REGISTRY: Final = Path("feeds/feeds.toml")
DEFAULT_INTERVAL: Final = timedelta(hours=6)
_FEED_FIELDS: Final = frozenset({"name", "adapter", "url", "interval", "enabled", "options"})


class RegistryError(TrackerError):
    """A registry that cannot be used: `feed 'hf': interval: invalid interval '6 hours'...`."""

    def __init__(self, message: str, *, feed: str | None = None, field: str | None = None) -> None:
        self.message, self.feed, self.field = message, feed, field
        where = [f"feed {feed!r}" if feed else None, field]
        super().__init__(": ".join([part for part in where if part] + [message]))


@dataclass(frozen=True)
class FeedConfig:
    """One registry entry. `url` is absolute: relative paths are already resolved."""

    name: str
    adapter: str
    url: str
    interval: timedelta
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict, hash=False)


def load_registry(
    path: str | os.PathLike[str] | None = None, *, missing_ok: bool | None = None
) -> list[FeedConfig]:
    """The feeds of the registry at `path` (default `feeds/feeds.toml`).

    A missing file means no feeds when it is the default registry (`missing_ok` left
    unset and no path given); a registry the operator named explicitly must exist.
    """
    registry = Path(path) if path is not None else DEFAULT_REGISTRY
    if missing_ok is None:
        missing_ok = path is None
    try:
        with registry.open("rb") as registry_file:
            document = tomllib.load(registry_file)
    except FileNotFoundError:
        if missing_ok:
            return []
        raise RegistryError(f"feed registry not found: {registry}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{registry}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise RegistryError(f"cannot read feed registry {registry}: {exc.strerror}") from None
    return parse_registry(document, base=registry.parent)


def parse_registry(document: Mapping[str, Any], *, base: Path) -> list[FeedConfig]:
    """A decoded registry → its feeds, with paths resolved against the folder `base`."""
    unknown = sorted(set(document) - {"feeds"})
    if unknown:
        # `[[feed]]` for `[[feeds]]` would otherwise mean "no feeds", silently.
        raise RegistryError(f"unknown table or key {unknown[0]!r}: expected [[feeds]]")
    entries = document.get("feeds", [])
    if not isinstance(entries, list):
        raise RegistryError("feeds: expected [[feeds]] tables")
    configs: list[FeedConfig] = []
    names: set[str] = set()
    for index, entry in enumerate(entries):
        config = _feed_config(entry, index, base)
        if config.name in names:
            raise RegistryError("duplicate name", feed=config.name, field="name")
        names.add(config.name)
        configs.append(config)
    return configs


def _feed_config(entry: Any, index: int, base: Path) -> FeedConfig:
    if not isinstance(entry, dict):
        raise RegistryError(f"feeds[{index}]: expected a table")
    name = entry.get("name")
    label = name if isinstance(name, str) and name else f"feeds[{index}]"
    unknown = sorted(set(entry) - _FEED_FIELDS)
    if unknown:
        raise RegistryError("unknown field", feed=label, field=unknown[0])
    if not isinstance(name, str) or not is_slug(name):
        raise RegistryError(
            'required, a slug such as "huggingface-stepfun"', feed=label, field="name"
        )
    adapter = entry.get("adapter")
    if adapter not in ADAPTERS:
        known = ", ".join(ADAPTERS)
        problem = "required" if adapter is None else f"unknown adapter {adapter!r}"
        raise RegistryError(f"{problem}; known: {known}", feed=name, field="adapter")
    return FeedConfig(
        name=name,
        adapter=adapter,
        url=_resolved_url(entry.get("url"), base, feed=name),
        interval=_interval(entry.get("interval"), feed=name),
        enabled=_enabled(entry.get("enabled", True), feed=name),
        options=_options(entry.get("options", {}), adapter, feed=name),
    )


def _resolved_url(url: Any, base: Path, *, feed: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise RegistryError("required: a path, file: URL or http(s):// URL", feed=feed, field="url")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.netloc:
            raise RegistryError(f"no host in {url!r}", feed=feed, field="url")
        return url.strip()
    if scheme == "file":
        return Path(os.path.abspath(base / url2pathname(parts.path))).as_uri()
    if len(scheme) <= 1:  # no scheme, or a Windows drive letter
        return os.path.abspath(base / url.strip())
    raise RegistryError(
        f"unsupported scheme {scheme}: expected http(s)://, file: or a path", feed=feed, field="url"
    )


def _interval(value: Any, *, feed: str) -> timedelta:
    if value is None:
        return DEFAULT_INTERVAL
    if not isinstance(value, str):
        raise RegistryError('expected text such as "6h"', feed=feed, field="interval")
    try:
        return parse_interval(value)
    except ValueError as exc:
        raise RegistryError(str(exc), feed=feed, field="interval") from None


def _enabled(value: Any, *, feed: str) -> bool:
    if not isinstance(value, bool):
        raise RegistryError("expected true or false", feed=feed, field="enabled")
    return value


def _options(value: Any, adapter: str, *, feed: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RegistryError("expected a table [feeds.options]", feed=feed, field="options")
    for option in REQUIRED_OPTIONS.get(adapter, ()):
        if value.get(option) in (None, ""):
            raise RegistryError(
                f"required by the {adapter} adapter", feed=feed, field=f"options.{option}"
            )
    return dict(value)
