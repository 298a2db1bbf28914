"""POST /v1/events: created, replayed, conflicts and invalid input naming the field."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tracker.commands.recording import record_events
from tracker.projections.runner import catch_up_to
from tracker.store.reading import LogCursor

PROBLEM = "application/problem+json"


def alias(company: str = "stepfun", name: str = "Jieyue", **extra: Any) -> dict[str, Any]:
    return {
        "type": "company.alias_added",
        "occurred_on": "2026-02-01",
        "data": {"company": company, "alias": name},
        "sources": [{"url": "https://example.org/a", "publisher": "Example"}],
        **extra,
    }


def round_of(money: dict[str, Any] | None, **data: Any) -> dict[str, Any]:
    return {
        "type": "funding_round.announced",
        "occurred_on": "2026-03-02",
        "data": {"company": "stepfun", "round": "series_c", "money_raised": money, **data},
    }


def field_errors(response: Any) -> list[tuple[Any, ...]]:
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == response.status_code
    assert {"type", "title", "status", "detail"} <= set(body)
    return [tuple(error["loc"]) for error in body.get("errors", [])]


def test_one_event_is_created_with_its_envelope(writer: TestClient, seeded: Engine) -> None:
    response = writer.post("/v1/events", json=alias())
    assert response.status_code == 201
    body = response.json()
    assert body["replayed"] is False
    [event] = body["events"]
    assert event["type"] == "company.alias_added"
    assert event["stream"] == "company-stepfun"
    assert event["occurred_on"] == {"date": "2026-02-01", "precision": "day"}
    assert set(event) == {
        "id", "type", "stream", "version", "position", "occurred_on",
        "recorded_at", "data", "sources", "metadata",
    }  # fmt: skip


def test_a_batch_is_atomic_and_may_span_companies(writer: TestClient, seeded: Engine) -> None:
    good = writer.post("/v1/events", json={"events": [alias(), alias("moonshot-ai", "Kimi")]})
    assert good.status_code == 201
    assert [e["stream"] for e in good.json()["events"]] == [
        "company-stepfun",
        "company-moonshot-ai",
    ]
    before = writer.get("/v1/events", params={"limit": 1000}).json()["items"]
    bad = writer.post("/v1/events", json={"events": [alias(name="Yue"), round_of({"x": 1})]})
    assert bad.status_code == 422
    assert ("body", "events", 1, "data", "money_raised", "x") in field_errors(bad)
    after = writer.get("/v1/events", params={"limit": 1000}).json()["items"]
    assert after == before


def test_the_same_idempotency_key_replays_the_stored_result(
    writer: TestClient, seeded: Engine
) -> None:
    headers = {"Idempotency-Key": "curator-42"}
    first = writer.post("/v1/events", json=alias(), headers=headers)
    again = writer.post("/v1/events", json=alias(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["replayed"] is True
    assert again.json()["events"] == first.json()["events"]


def test_the_same_key_with_another_body_is_422(writer: TestClient, seeded: Engine) -> None:
    headers = {"Idempotency-Key": "curator-43"}
    assert writer.post("/v1/events", json=alias(), headers=headers).status_code == 201
    reused = writer.post("/v1/events", json=alias(name="Other"), headers=headers)
    assert reused.status_code == 422
    field_errors(reused)
    assert reused.json()["type"].endswith("idempotency-key-reused")


def test_a_stale_expected_version_is_409_and_a_current_one_succeeds(
    writer: TestClient, seeded: Engine
) -> None:
    version = writer.get("/v1/companies/stepfun").json()["version"]
    stale = writer.post("/v1/events", json=alias(expected_version=version - 1))
    assert stale.status_code == 409
    field_errors(stale)
    assert stale.json()["actual_version"] == version
    current = writer.post("/v1/events", json=alias(expected_version=version))
    assert current.status_code == 201
    assert current.json()["events"][0]["version"] == version + 1


def test_invalid_input_names_the_field(writer: TestClient, seeded: Engine) -> None:
    cases: list[tuple[Any, tuple[Any, ...]]] = [
        (round_of({"value": "5", "currency": "RMB"}), ("body", "data", "money_raised", "currency")),
        ({**alias(), "occurred_on": "2026-02-30"}, ("body", "occurred_on")),
        ({**alias(), "colour": "blue"}, ("body", "colour")),
        (alias(extra_field="x"), ("body", "extra_field")),
        (
            {**alias(), "data": {"company": "stepfun", "alias": "x", "size": 3}},
            ("body", "data", "size"),
        ),
        ({**alias(), "type": "company.bought"}, ("body", "type")),
        (round_of(None, round="series_z"), ("body", "data", "round")),
    ]
    for body, loc in cases:
        response = writer.post("/v1/events", json=body)
        assert response.status_code == 422, body
        assert loc in field_errors(response), (body, response.json())


def test_malformed_json_is_422_naming_the_body(writer: TestClient) -> None:
    response = writer.post(
        "/v1/events",
        content=b'{"type": "company.alias_added",',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    [loc] = field_errors(response)
    assert loc[0] == "body"
    assert "malformed JSON" in response.json()["errors"][0]["msg"]


def test_bodies_that_are_not_events_are_422(writer: TestClient) -> None:
    for body in ([alias()], "text", {"events": []}, {"events": [alias()], "more": 1}):
        response = writer.post("/v1/events", json=body)
        assert response.status_code == 422, body
        field_errors(response)
    assert writer.post("/v1/events").status_code == 422


def test_an_ambiguous_company_name_is_422(writer: TestClient, engine: Engine) -> None:
    for slug in ("acme-one", "acme-two"):
        registered = {
            "type": "company.registered",
            "occurred_on": "2020",
            "data": {"company": slug, "name": slug.title(), "aliases": ["Acme"]},
        }
        assert writer.post("/v1/events", json=registered).status_code == 201
    response = writer.post(
        "/v1/events", json={**round_of(None), "data": {"company": "Acme", "round": "seed"}}
    )
    assert response.status_code == 422
    assert ("body", "data", "company") in field_errors(response)
    assert "ambiguous" in response.json()["errors"][0]["msg"]


def test_an_unknown_company_name_registers_it_in_the_same_write(
    writer: TestClient, engine: Engine
) -> None:
    response = writer.post(
        "/v1/events", json={**round_of(None), "data": {"company": "Baichuan AI", "round": "seed"}}
    )
    assert response.status_code == 201
    types = [event["type"] for event in response.json()["events"]]
    assert types == ["company.registered", "funding_round.announced"]
    assert writer.get("/v1/companies/baichuan-ai").status_code == 200


def test_a_write_is_read_at_once(writer: TestClient, seeded: Engine) -> None:
    money = {"value": "700000000", "currency": "USD", "qualifier": "about"}
    posted = writer.post("/v1/events", json=round_of(money, investors=["Tencent"]))
    assert posted.status_code == 201
    state = writer.get("/v1/companies/stepfun").json()
    assert "series_c" in [r["round"] for r in state["funding"]["rounds"]]
    rounds = writer.get("/v1/funding-rounds", params={"from": "2026-03-01", "company": "stepfun"})
    [listed] = rounds.json()["items"]
    assert listed["round"] == "series_c"
    assert listed["money_raised"]["value_usd"] == "700000000"
    tencent = writer.get("/v1/investors/tencent").json()["items"]
    assert tencent[0]["round"] == "series_c"


def test_direct_command_writes_show_in_the_log(writer: TestClient, engine: Engine) -> None:
    recorded = record_events(engine, [alias("newco", "New Co")])
    # The log is readable once no older writer in the cluster is still open.
    assert catch_up_to(engine, max(LogCursor(e.tx, e.position) for e in recorded.events))
    log = writer.get("/v1/events").json()["items"]
    assert [e["type"] for e in log] == ["company.registered", "company.alias_added"]


def test_errors_in_a_batch_of_one_still_name_the_event_index(
    writer: TestClient, seeded: Engine
) -> None:
    response = writer.post("/v1/events", json={"events": [round_of({"value": "1", "currency": "RMB"})]})
    assert response.status_code == 422
    assert any(loc[:3] == ("body", "events", 0) for loc in field_errors(response))
