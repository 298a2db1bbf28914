"""Webhook signing: secrets, the signed headers and the delivery body.

This module owns what a receiver checks, in the Standard Webhooks format
(https://www.standardwebhooks.com/, spec/standard-webhooks.md):

- a secret is ``whsec_`` + base64 of random bytes;
- ``webhook-id``, ``webhook-timestamp`` (unix seconds) and ``webhook-signature``
  (``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``) go with every delivery;
- the body is ``{"type", "timestamp", "data"}`` as compact JSON.

The HMAC itself is the ``standardwebhooks`` library's, so what we sign is exactly what
its ``Webhook.verify`` (and every other Standard Webhooks verifier) accepts.
"""

from __future__ import annotations

import base64
import json
import secrets as random_source
from collections.abc import Sequence
from datetime import UTC, datetime
from math import floor
from typing import Any

from standardwebhooks import Webhook

__all__ = ["SECRET_PREFIX", "delivery_body", "new_secret", "sign_headers"]

SECRET_PREFIX = "whsec_"

# Standard Webhooks, "Signature scheme": a symmetric secret is random and at least 24
# bytes long. 32 bytes gives 256 bits, the output size of HMAC-SHA256.
_SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret, ``whsec_`` + base64 of 32 random bytes."""
    raw = random_source.token_bytes(_SECRET_BYTES)
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def sign_headers(
    message_id: str, timestamp: datetime, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt.

    Every secret signs: while a subscription's secret rotates, the old and the new one
    are both valid for 24 h, and the spec lets a sender list several space-separated
    ``v1,`` signatures so a receiver holding either secret accepts the message.
    ``message_id`` must stay the same on every retry of one delivery, so receivers can
    drop duplicates (Standard Webhooks spec, "Idempotency").
    """
    _check_message_id(message_id)
    if not secrets:
        raise ValueError("at least one secret is needed to sign a delivery")
    when = _as_utc(timestamp)
    # The library reads the body as text; our bodies are UTF-8 JSON (`delivery_body`),
    # and it encodes the text back to the same UTF-8 bytes before the HMAC.
    text = body.decode("utf-8")
    signatures = [Webhook(secret).sign(message_id, when, text) for secret in secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(floor(when.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def delivery_body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> bytes:
    """The JSON body a receiver gets: ``{"type", "timestamp", "data"}``, compact, UTF-8.

    Compact separators keep the signed bytes canonical for us; ``allow_nan=False``
    refuses NaN and Infinity, which are not JSON (RFC 8259 §6) and would break parsers.
    """
    payload = {"type": event_type, "timestamp": _as_utc(timestamp).isoformat(), "data": data}
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def _check_message_id(message_id: str) -> None:
    # The signed content is `id.timestamp.body`; the spec forbids `.` in the id so that
    # no id/timestamp pair can be shifted into another that signs the same bytes.
    # Whitespace or control characters would also break the header line.
    if not message_id or "." in message_id or not message_id.isprintable() or " " in message_id:
        raise ValueError("message_id must be non-empty, printable, without spaces or dots")


def _as_utc(timestamp: datetime) -> datetime:
    # `Webhook.sign` does `timestamp.replace(tzinfo=utc)`: it would silently shift an
    # aware non-UTC time, and a naive time is ambiguous. Convert here, refuse naive.
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    return timestamp.astimezone(UTC)
