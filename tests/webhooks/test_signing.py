"""Signing: what we send verifies with the reference Standard Webhooks library."""

from __future__ import annotations

import base64
import json
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from tracker.webhooks.signing import delivery_body, new_secret, sign_headers

MESSAGE_ID = "msg_2f1c9a7e-5b7d-4c8e-9d3a-1b2c3d4e5f60"


def _now() -> datetime:
    # The reference verifier compares webhook-timestamp with the real clock (5 min
    # tolerance), so signatures that must verify are made for the real present.
    return datetime.now(UTC)


def _body() -> bytes:
    data = {"type": "funding_round.announced", "data": {"company": "stepfun"}}
    return delivery_body("funding_round.announced", _now(), data)


def test_a_new_secret_is_whsec_and_base64_of_32_random_bytes() -> None:
    secret = new_secret()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert new_secret() != secret


def test_signed_headers_verify_with_the_standard_webhooks_library() -> None:
    secret, body, now = new_secret(), _body(), _now()

    headers = sign_headers(MESSAGE_ID, now, body, [secret])

    assert Webhook(secret).verify(body, headers) == json.loads(body)
    assert headers["webhook-id"] == MESSAGE_ID
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")


def test_during_a_rotation_both_the_new_and_the_old_secret_verify() -> None:
    old, new, stranger = new_secret(), new_secret(), new_secret()
    body = _body()

    headers = sign_headers(MESSAGE_ID, _now(), body, [new, old])

    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(body, headers)


def test_a_changed_body_no_longer_verifies() -> None:
    secret, body = new_secret(), _body()
    headers = sign_headers(MESSAGE_ID, _now(), body, [secret])

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"stepfun", b"stepfux"), headers)


def test_a_timestamp_in_another_zone_signs_the_same_instant_as_in_utc() -> None:
    secret, body, now = new_secret(), _body(), _now()
    in_beijing = now.astimezone(timezone(timedelta(hours=8)))

    assert sign_headers(MESSAGE_ID, in_beijing, body, [secret]) == sign_headers(
        MESSAGE_ID, now, body, [secret]
    )


def test_a_naive_timestamp_is_refused_because_its_instant_is_unknown() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_headers(MESSAGE_ID, datetime(2026, 1, 26, 9, 0), b"{}", [new_secret()])


def test_signing_without_any_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        sign_headers(MESSAGE_ID, _now(), b"{}", [])


@pytest.mark.parametrize("message_id", ["", "msg.1", "msg 1", "msg\n1"])
def test_a_message_id_with_a_dot_space_or_control_character_is_refused(message_id: str) -> None:
    with pytest.raises(ValueError, match="message_id"):
        sign_headers(message_id, _now(), b"{}", [new_secret()])


def test_the_delivery_body_is_compact_json_of_type_timestamp_and_data() -> None:
    when = datetime(2026, 1, 26, 9, 30, tzinfo=UTC)

    body = delivery_body("company.renamed", when, {"company": "stepfun", "name": "阶跃星辰"})

    assert (
        body
        == (
            '{"type":"company.renamed","timestamp":"2026-01-26T09:30:00+00:00",'
            '"data":{"company":"stepfun","name":"阶跃星辰"}}'
        ).encode()
    )


def test_the_delivery_body_states_its_timestamp_in_utc() -> None:
    in_berlin = datetime(2026, 1, 26, 10, 30, tzinfo=timezone(timedelta(hours=1)))

    body = json.loads(delivery_body("company.renamed", in_berlin, {}))

    assert body["timestamp"] == "2026-01-26T09:30:00+00:00"


def test_a_delivery_body_with_nan_is_refused_because_nan_is_not_json() -> None:
    with pytest.raises(ValueError):
        delivery_body("model.released", _now(), {"parameters_total": float("nan")})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
message_ids = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=40)


@given(
    event_type=st.sampled_from(["company.registered", "model.released", "webhook.ping"]),
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    message_id=message_ids,
    secret_count=st.integers(min_value=1, max_value=3),
)
def test_any_body_signed_with_any_secrets_verifies_with_each_of_them(
    event_type: str, data: dict[str, Any], message_id: str, secret_count: int
) -> None:
    secrets = [new_secret() for _ in range(secret_count)]
    now = _now()
    body = delivery_body(event_type, now, data)

    headers = sign_headers(message_id, now, body, secrets)

    for secret in secrets:
        parsed = Webhook(secret).verify(body, headers)
        assert parsed == {"type": event_type, "timestamp": now.isoformat(), "data": data}
