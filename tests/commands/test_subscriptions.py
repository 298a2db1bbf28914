"""Subscription and delivery commands, on SQLite and PostgreSQL: validation on save,
PATCH semantics, secrets, and the delivery rows that retry, replay and ping queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from tracker.commands.deliveries import (
    list_deliveries,
    ping_subscription,
    replay_deliveries,
    retry_delivery,
)
from tracker.commands.recording import record_events
from tracker.commands.subscriptions import (
    create_subscription,
    delete_subscription,
    get_subscription,
    list_subscriptions,
    rotate_secret,
    update_subscription,
)
from tracker.commands.webhook_tables import deliveries, subscriptions
from tracker.db import read_connection, write_transaction
from tracker.domain.errors import InvalidInput, NotFound
from tracker.store.schema import events
from tracker.webhooks.address_guard import check_target
from tracker.webhooks.dispatcher import dispatch_new_events

URL = "https://hooks.example.test/tracker"
T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def accept(url: str) -> None:
    """A check_url that lets every URL through (the SSRF guard has its own tests)."""


def at(moment: datetime) -> Any:
    return lambda: moment


def registered(slug: str, name: str, *aliases: str) -> dict[str, Any]:
    return {
        "type": "company.registered",
        "occurred_on": "2023-04",
        "data": {"company": slug, "name": name, "aliases": list(aliases)},
    }


def appointed(company: str, person: str) -> dict[str, Any]:
    return {
        "type": "leadership.appointed",
        "occurred_on": "2026-01-26",
        "data": {"company": company, "person": person, "person_name": person, "role": "ceo"},
    }


@pytest.fixture
def companies(engine: Engine) -> Engine:
    record_events(
        engine,
        [
            registered("stepfun", "StepFun", "Step Star", "阶跃星辰"),
            registered("moonshot", "Moonshot AI", "Dark Side of the Moon", "Kimi"),
            registered("kimi-labs", "Kimi Labs", "Kimi"),
        ],
    )
    return engine


def subscribe(engine: Engine, **fields: Any) -> dict[str, Any]:
    fields.setdefault("url", URL)
    created = create_subscription(engine, check_url=accept, clock=at(T0), **fields)
    return created.subscription


def dispatched(engine: Engine, expected: int, timeout: float = 10.0) -> None:
    """Run the dispatcher until `expected` deliveries exist. On PostgreSQL the gap-free
    reader waits for older transactions anywhere in the cluster, so allow a moment."""
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while True:
        dispatch_new_events(engine, clock=at(T0))
        with read_connection(engine) as conn:
            count = conn.execute(select(func.count()).select_from(deliveries)).scalar_one()
        if count >= expected or datetime.now(UTC) > deadline:
            assert count == expected
            return


def test_creating_returns_the_secret_once_and_never_shows_it_again(companies: Engine) -> None:
    created = create_subscription(
        companies, url=URL, description="ops", check_url=accept, clock=at(T0)
    )

    assert created.secret.startswith("whsec_")
    view = created.subscription
    assert view["id"].startswith("sub_")
    assert (view["enabled"], view["event_types"], view["companies"]) == (True, [], [])
    assert view["created_at"] == T0
    shown = [get_subscription(companies, view["id"]), *list_subscriptions(companies).items]
    assert all(created.secret not in str(item) and "secret" not in item for item in shown)


def test_companies_are_saved_as_slugs_whatever_name_or_alias_was_given(
    companies: Engine,
) -> None:
    view = subscribe(companies, companies=["Step Star", "阶跃星辰", "Dark Side of the Moon"])

    assert view["companies"] == ["stepfun", "moonshot"]


def test_unknown_and_ambiguous_companies_are_rejected_by_index(companies: Engine) -> None:
    with pytest.raises(InvalidInput) as caught:
        subscribe(companies, companies=["stepfun", "Nobody Inc", "Kimi"])

    by_loc = {error.loc: error.msg for error in caught.value.errors}
    assert set(by_loc) == {("companies", 1), ("companies", 2)}
    assert "unknown company" in by_loc[("companies", 1)]
    assert "kimi-labs" in by_loc[("companies", 2)] and "moonshot" in by_loc[("companies", 2)]
    assert list_subscriptions(companies).items == []


def test_event_types_are_known_names_or_prefixes(companies: Engine) -> None:
    view = subscribe(companies, event_types=["leadership.*", "model.released", "model.released"])
    assert view["event_types"] == ["leadership.*", "model.released"]

    with pytest.raises(InvalidInput) as caught:
        subscribe(companies, event_types=["model.released", "lead.*", "*", "webhook.ping"])
    assert [error.loc for error in caught.value.errors] == [
        ("event_types", 1),
        ("event_types", 2),
        ("event_types", 3),
    ]


def test_the_ssrf_guard_refuses_a_private_target_at_save_without_connecting(
    companies: Engine,
) -> None:
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["10.0.0.7"]  # only an answer: nothing ever connects to it

    def check(url: str) -> None:
        check_target(url, allow_private=False, resolve=resolver)

    with pytest.raises(InvalidInput) as caught:
        create_subscription(companies, url=URL, check_url=check, clock=at(T0))

    ((error,),) = [caught.value.errors]
    assert error.loc == ("url",) and "private address" in error.msg
    assert lookups == ["hooks.example.test"]
    assert list_subscriptions(companies).items == []


def test_subscriptions_page_with_a_cursor(companies: Engine) -> None:
    ids = [subscribe(companies, description=str(n))["id"] for n in range(3)]

    first = list_subscriptions(companies, limit=2)
    rest = list_subscriptions(companies, limit=2, cursor=first.next_cursor)

    assert [item["id"] for item in first.items + rest.items] == sorted(ids)
    assert first.next_cursor is not None and rest.next_cursor is None


def test_patch_changes_only_the_fields_given(companies: Engine) -> None:
    sub = subscribe(companies, event_types=["model.released"], description="models")
    later = T0 + timedelta(minutes=5)

    changed = update_subscription(
        companies, sub["id"], {"companies": ["Kimi Labs"]}, check_url=accept, clock=at(later)
    )

    assert changed["companies"] == ["kimi-labs"]
    assert (changed["event_types"], changed["description"]) == (["model.released"], "models")
    assert changed["updated_at"] == later
    with pytest.raises(InvalidInput) as caught:
        update_subscription(companies, sub["id"], {"url": None, "colour": "red"}, check_url=accept)
    assert {error.loc for error in caught.value.errors} == {("url",), ("colour",)}


def test_disabling_cancels_queued_deliveries_and_enabling_queues_them_again(
    companies: Engine,
) -> None:
    sub = subscribe(companies)
    record_events(companies, [appointed("stepfun", "yin-qi")])
    dispatched(companies, 1)

    off = update_subscription(companies, sub["id"], {"enabled": False}, check_url=accept)
    assert (off["enabled"], off["disabled_reason"]) == (False, "disabled by an operator")
    assert [d["status"] for d in list_deliveries(companies, sub["id"]).items] == ["cancelled"]

    later = T0 + timedelta(hours=1)
    on = update_subscription(
        companies, sub["id"], {"enabled": True}, check_url=accept, clock=at(later)
    )
    assert (on["enabled"], on["disabled_reason"]) == (True, None)
    (delivery,) = list_deliveries(companies, sub["id"]).items
    assert (delivery["status"], delivery["next_attempt_at"]) == ("pending", later)


def test_rotating_keeps_the_old_secret_for_24_hours(companies: Engine) -> None:
    created = create_subscription(companies, url=URL, check_url=accept, clock=at(T0))

    rotated = rotate_secret(companies, created.subscription["id"], clock=at(T0))

    assert rotated.secret.startswith("whsec_") and rotated.secret != created.secret
    assert rotated.previous_secret_expires_at == T0 + timedelta(hours=24)
    with read_connection(companies) as conn:
        row = conn.execute(select(subscriptions)).one()
    assert (row.secret, row.previous_secret) == (rotated.secret, created.secret)


def test_deleting_removes_the_subscription_and_its_deliveries(companies: Engine) -> None:
    sub = subscribe(companies)
    ping_subscription(companies, sub["id"], clock=at(T0))

    delete_subscription(companies, sub["id"])

    with pytest.raises(NotFound):
        get_subscription(companies, sub["id"])
    with pytest.raises(NotFound):
        delete_subscription(companies, sub["id"])
    with read_connection(companies) as conn:
        assert conn.execute(select(func.count()).select_from(deliveries)).scalar_one() == 0


def test_a_ping_is_a_delivery_and_never_an_event(companies: Engine) -> None:
    sub = subscribe(companies, event_types=["model.released"])
    with read_connection(companies) as conn:
        before = conn.execute(select(func.count()).select_from(events)).scalar_one()

    ping = ping_subscription(companies, sub["id"], clock=at(T0))

    assert (ping["event_type"], ping["event_id"], ping["status"]) == (
        "webhook.ping",
        None,
        "pending",
    )
    assert ping["id"].startswith("msg_") and ping["next_attempt_at"] == T0
    with read_connection(companies) as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == before


def test_retry_makes_a_dead_delivery_due_now(companies: Engine) -> None:
    sub = subscribe(companies)
    ping = ping_subscription(companies, sub["id"], clock=at(T0))
    with write_transaction(companies) as conn:
        conn.execute(update(deliveries).values(status="dead", attempts=8, next_attempt_at=None))
    later = T0 + timedelta(days=2)

    retried = retry_delivery(companies, sub["id"], ping["id"], clock=at(later))

    assert (retried["status"], retried["attempts"], retried["next_attempt_at"]) == (
        "pending",
        8,
        later,
    )
    with pytest.raises(NotFound):
        retry_delivery(companies, sub["id"], "msg_nope")


def test_replay_queues_matching_history_as_a_new_generation(companies: Engine) -> None:
    sub = subscribe(companies, companies=["Step Star"], event_types=["leadership.*"])
    record_events(
        companies,
        [appointed("stepfun", "yin-qi"), appointed("moonshot", "yang-zhilin")],
    )
    record_events(companies, [appointed("stepfun", "jiang-daxin")])
    dispatched(companies, 2)  # the two stepfun appointments

    replayed = replay_deliveries(companies, sub["id"], 0, clock=at(T0))
    again = replay_deliveries(companies, sub["id"], 0, clock=at(T0), limit=1)

    assert (replayed.deliveries, replayed.generation, replayed.next_position) == (2, 1, None)
    assert (again.deliveries, again.generation) == (1, 2)
    items = list_deliveries(companies, sub["id"], limit=10).items
    by_generation = sorted((d["replay"], d["position"]) for d in items)
    positions = sorted({d["position"] for d in items})
    assert again.next_position == positions[1]
    assert by_generation == [
        (0, positions[0]),
        (0, positions[1]),
        (1, positions[0]),
        (1, positions[1]),
        (2, positions[0]),
    ]


def test_unknown_subscriptions_are_not_found(companies: Engine) -> None:
    for command in (get_subscription, delete_subscription, ping_subscription, list_deliveries):
        with pytest.raises(NotFound):
            command(companies, "sub_missing")
    with pytest.raises(NotFound):
        replay_deliveries(companies, "sub_missing", 0)
