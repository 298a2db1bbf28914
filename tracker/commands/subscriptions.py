"""Webhook subscriptions: who wants which events, at which URL, signed with which secret.

The use cases behind `/v1/subscriptions` (DESIGN.md §5). Saving checks the URL with the
SSRF guard, injected as `check_url` by the composition root (this layer imports nothing
of `tracker.webhooks`), resolves company names and aliases to slugs, and checks event
types. The secret is shown once, at creation or rotation. Deliveries are in
`commands/deliveries.py`; the dispatcher and the delivery worker act on these rows.
"""

from __future__ import annotations

import base64
import secrets as random_source
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, insert, select, update

from tracker.commands.webhook_tables import (
    QUEUED,
    as_utc,
    deliveries,
    delivery_attempts,
    subscriptions,
)
from tracker.db import read_connection, write_transaction
from tracker.domain.errors import FieldError, InvalidInput, NotFound, TrackerError
from tracker.domain.events import EVENT_TYPES
from tracker.projections.directory import company_exists, matching_companies
from tracker.projections.keyset import Key, Page, keyset_page
from tracker.store.schema import events

__all__ = [
    "SECRET_OVERLAP",
    "CheckUrl",
    "Clock",
    "CreatedSubscription",
    "RotatedSecret",
    "create_subscription",
    "delete_subscription",
    "disable_subscription",
    "get_subscription",
    "list_subscriptions",
    "load_subscription",
    "matches",
    "new_id",
    "rotate_secret",
    "update_subscription",
    "utc_now",
]

CheckUrl = Callable[[str], None]
"""Raises (a TrackerError or ValueError saying why) when a URL may not be called."""
Clock = Callable[[], datetime]

SECRET_OVERLAP = timedelta(hours=24)
_SECRET_BYTES = 32  # Standard Webhooks: at least 24 random bytes; 32 = HMAC-SHA256 size
_RESTORED = ("failed", "cancelled")
_FIELDS = ("url", "event_types", "companies", "description", "enabled")


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str, now: datetime) -> str:
    """`prefix` + 12 hex digits of milliseconds + 16 random hex digits: sortable by
    creation like Svix's message ids, and free of dots, which the Standard Webhooks
    signed content (`id.timestamp.body`) forbids in a webhook-id."""
    return f"{prefix}{int(now.timestamp() * 1000):012x}{random_source.token_hex(8)}"


def _new_secret() -> str:
    # The Standard Webhooks secret format, as tracker.webhooks.signing.new_secret makes
    # it; commands may not import the webhooks edge (DESIGN.md §4), so it is made here.
    return "whsec_" + base64.b64encode(random_source.token_bytes(_SECRET_BYTES)).decode()


@dataclass(frozen=True)
class CreatedSubscription:
    subscription: dict[str, Any]
    secret: str  # shown once: only here and in RotatedSecret


@dataclass(frozen=True)
class RotatedSecret:
    subscription: dict[str, Any]
    secret: str
    previous_secret_expires_at: datetime


def _subscription_view(row: Row[Any]) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "url": m["url"],
        "event_types": list(m["event_types"]),
        "companies": list(m["companies"]),
        "description": m["description"],
        "enabled": m["enabled"],
        "disabled_reason": m["disabled_reason"],
        "created_at": as_utc(m["created_at"]),
        "updated_at": as_utc(m["updated_at"]),
        "last_success_at": as_utc(m["last_success_at"]),
        "failing_since": as_utc(m["first_failure_at"]),
    }


# --- filters ---------------------------------------------------------------------------


def _event_types(values: Sequence[str]) -> list[str]:
    """Known names, or prefixes such as `leadership.*` that cover at least one."""
    kept: list[str] = []
    errors: list[FieldError] = []
    for index, value in enumerate(values):
        prefix = value[:-1] if value.endswith(".*") else None
        if not any(t == value or (prefix and t.startswith(prefix)) for t in EVENT_TYPES):
            known = ", ".join(EVENT_TYPES)
            message = (
                f"unknown event type {value!r}; known: {known}, or a prefix such as leadership.*"
            )
            errors.append(FieldError(("event_types", index), message))
        elif value not in kept:
            kept.append(value)
    if errors:
        raise InvalidInput(errors)
    return kept


def _companies(conn: Connection, values: Sequence[str]) -> list[str]:
    """Slugs for company slugs, names or aliases; unknown and ambiguous ones rejected."""
    slugs: list[str] = []
    errors: list[FieldError] = []
    for index, value in enumerate(values):
        found = [value] if company_exists(conn, value) else matching_companies(conn, value)
        if len(found) == 1:
            slugs.extend(found if found[0] not in slugs else [])
        elif not found:
            errors.append(FieldError(("companies", index), f"unknown company {value!r}"))
        else:
            errors.append(
                FieldError(
                    ("companies", index), f"{value!r} is ambiguous: it names {', '.join(found)}"
                )
            )
    if errors:
        raise InvalidInput(errors)
    return slugs


def matches(
    event_types: Sequence[str], companies: Sequence[str], event_type: str, company: str | None
) -> bool:
    """Whether a subscription with these filters wants an event (empty filters: all)."""
    if companies and company not in companies:
        return False
    return not event_types or any(
        event_type.startswith(t[:-1]) if t.endswith(".*") else event_type == t for t in event_types
    )


def _checked_url(check_url: CheckUrl, url: str) -> str:
    try:
        check_url(url)
    except (TrackerError, ValueError) as exc:
        raise InvalidInput.at(("url",), str(exc)) from None
    return url


def _validated(conn: Connection, fields: Mapping[str, Any], check_url: CheckUrl) -> dict[str, Any]:
    """The fields as stored (companies resolved to slugs); every problem at once."""
    errors = [FieldError((name,), "unknown field") for name in fields if name not in _FIELDS]
    errors += [
        FieldError((name,), "may not be null")
        for name, value in fields.items()
        if value is None and name in _FIELDS and name != "description"
    ]
    if errors:
        raise InvalidInput(errors)
    values = dict(fields)
    checks: list[tuple[str, Callable[[Any], Any]]] = [
        ("url", lambda url: _checked_url(check_url, url)),
        ("event_types", _event_types),
        ("companies", lambda names: _companies(conn, names)),
    ]
    for name, check in checks:
        if name in values:
            try:
                values[name] = check(values[name])
            except InvalidInput as exc:
                errors.extend(exc.errors)
    if errors:
        raise InvalidInput(errors)
    return values


def load_subscription(conn: Connection, subscription_id: str, *, lock: bool = False) -> Row[Any]:
    query = select(subscriptions).where(subscriptions.c.id == subscription_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no subscription {subscription_id!r}")
    return row


def disable_subscription(
    conn: Connection, subscription_id: str, reason: str, now: datetime
) -> None:
    """Stop delivering to a subscription, saying why; its queued deliveries are
    cancelled (re-enabling queues them again), in the caller's transaction."""
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id)
        .values(enabled=False, disabled_reason=reason[:1000], updated_at=now)
    )
    conn.execute(
        update(deliveries)
        .where(deliveries.c.subscription_id == subscription_id, deliveries.c.status.in_(QUEUED))
        .values(status="cancelled")
    )


def _enable(conn: Connection, subscription_id: str, now: datetime) -> None:
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id)
        .values(enabled=True, disabled_reason=None, first_failure_at=None, updated_at=now)
    )
    conn.execute(
        update(deliveries)
        .where(deliveries.c.subscription_id == subscription_id, deliveries.c.status.in_(_RESTORED))
        .values(status="pending", next_attempt_at=now)
    )


def _last_committed(conn: Connection) -> tuple[int, int]:
    """The log's last committed event as (tx, position): a new subscription wants the
    events after it; those before are history, which a replay sends on request. Not
    `reading.head`, whose safe horizon may lag behind what has committed (it waits for
    older transactions anywhere in the cluster) and would count old events as news."""
    row = conn.execute(
        select(events.c.tx_id, events.c.position)
        .order_by(events.c.tx_id.desc(), events.c.position.desc())
        .limit(1)
    ).first()
    return (int(row.tx_id), int(row.position)) if row else (-1, 0)


# --- the use cases ---------------------------------------------------------------------


def create_subscription(
    engine: Engine,
    *,
    url: str,
    event_types: Sequence[str] = (),
    companies: Sequence[str] = (),
    description: str | None = None,
    enabled: bool = True,
    check_url: CheckUrl,
    clock: Clock = utc_now,
) -> CreatedSubscription:
    """Store a subscription; its `whsec_` secret is returned here and never again."""
    now, secret = clock(), _new_secret()
    fields = {"url": url, "event_types": list(event_types), "companies": list(companies)}
    with write_transaction(engine) as conn:
        values = _validated(conn, fields, check_url)
        subscription_id = new_id("sub_", now)
        start = _last_committed(conn)
        conn.execute(
            insert(subscriptions).values(
                id=subscription_id,
                **values,
                description=description,
                enabled=enabled,
                disabled_reason=None if enabled else "created disabled",
                secret=secret,
                start_tx=start[0],
                start_position=start[1],
                created_at=now,
                updated_at=now,
            )
        )
        return CreatedSubscription(
            _subscription_view(load_subscription(conn, subscription_id)), secret
        )


def get_subscription(engine: Engine, subscription_id: str) -> dict[str, Any]:
    with read_connection(engine) as conn:
        return _subscription_view(load_subscription(conn, subscription_id))


def list_subscriptions(engine: Engine, *, limit: int = 100, cursor: str | None = None) -> Page:
    """Subscriptions oldest first (ids sort by creation time)."""
    with read_connection(engine) as conn:
        keys = [Key(subscriptions.c.id, "str")]
        return keyset_page(conn, select(subscriptions), keys, limit, cursor, _subscription_view)


def update_subscription(
    engine: Engine,
    subscription_id: str,
    changes: Mapping[str, Any],
    *,
    check_url: CheckUrl,
    clock: Clock = utc_now,
) -> dict[str, Any]:
    """PATCH: only the fields given change. `enabled: true` clears the disabled reason
    and the failure streak and queues the deliveries the disabling stopped."""
    now = clock()
    with write_transaction(engine) as conn:
        row = load_subscription(conn, subscription_id, lock=True)
        values = _validated(conn, changes, check_url)
        enabled = values.pop("enabled", None)
        if values:
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == subscription_id)
                .values(**values, updated_at=now)
            )
        if enabled is True and not row.enabled:
            _enable(conn, subscription_id, now)
        elif enabled is False and row.enabled:
            disable_subscription(conn, subscription_id, "disabled by an operator", now)
        return _subscription_view(load_subscription(conn, subscription_id))


def delete_subscription(engine: Engine, subscription_id: str) -> None:
    """Delete a subscription with its deliveries and their attempts."""
    with write_transaction(engine) as conn:
        load_subscription(conn, subscription_id, lock=True)
        ids = select(deliveries.c.id).where(deliveries.c.subscription_id == subscription_id)
        conn.execute(delete(delivery_attempts).where(delivery_attempts.c.delivery_id.in_(ids)))
        conn.execute(delete(deliveries).where(deliveries.c.subscription_id == subscription_id))
        conn.execute(delete(subscriptions).where(subscriptions.c.id == subscription_id))


def rotate_secret(engine: Engine, subscription_id: str, *, clock: Clock = utc_now) -> RotatedSecret:
    """A new secret; the old one keeps signing too for SECRET_OVERLAP, so receivers can
    switch without missing a delivery (Standard Webhooks allows several signatures).
    Rotating again within the overlap retires the oldest secret at once."""
    now, secret = clock(), _new_secret()
    until = now + SECRET_OVERLAP
    with write_transaction(engine) as conn:
        row = load_subscription(conn, subscription_id, lock=True)
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == subscription_id)
            .values(
                secret=secret,
                previous_secret=row.secret,
                previous_secret_until=until,
                updated_at=now,
            )
        )
        view = _subscription_view(load_subscription(conn, subscription_id))
    return RotatedSecret(view, secret, until)
