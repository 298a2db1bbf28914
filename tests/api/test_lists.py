"""Lists page by cursor: every item once, in a stable order, within the limits."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine


def walk(client: TestClient, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, following next_cursor page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get(path, params=query).json()
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ran out")


def test_every_list_pages_through_each_item_once(reader: TestClient, seeded: Engine) -> None:
    for path, identity, params in [
        ("/v1/companies", ("slug",), {}),
        ("/v1/companies", ("slug",), {"name": "e"}),
        ("/v1/funding-rounds", ("company", "round", "announced_on"), {}),
        ("/v1/funding-rounds", ("company", "round", "announced_on"), {"sort": "announced_on"}),
        ("/v1/funding-rounds", ("company", "round", "announced_on"), {"sort": "amount_usd"}),
        ("/v1/models", ("company", "model"), {}),
        ("/v1/investors/qiming-venture-partners", ("company", "round", "announced_on"), {}),
        ("/v1/companies/stepfun/history", ("id",), {}),
    ]:
        whole = reader.get(path, params={**params, "limit": 200}).json()["items"]
        for limit in (1, 2, 3):
            paged = walk(reader, path, limit, **params)
            assert paged == whole, (path, params, limit)
        keys = [tuple(str(item[k]) for k in identity) for item in whole]
        assert len(keys) == len(set(keys)), path


def test_the_log_pages_by_position(reader: TestClient, seeded: Engine) -> None:
    first = reader.get("/v1/events", params={"limit": 10}).json()
    positions = [e["position"] for e in first["items"]]
    assert positions == sorted(positions) and len(positions) == 10
    assert first["next_cursor"] == str(positions[-1])
    rest = reader.get("/v1/events", params={"after": first["next_cursor"], "limit": 1000}).json()
    assert rest["items"][0]["position"] > positions[-1]
    assert len(first["items"]) + len(rest["items"]) == 40
    caught_up = reader.get("/v1/events", params={"after": rest["next_cursor"]}).json()
    assert caught_up == {"items": [], "next_cursor": None}


def test_the_log_defaults_to_100_and_filters_by_type_and_company(
    reader: TestClient, seeded: Engine
) -> None:
    assert len(reader.get("/v1/events").json()["items"]) == 40
    rounds = reader.get("/v1/events", params={"type": "funding_round.announced"}).json()["items"]
    assert {e["type"] for e in rounds} == {"funding_round.announced"} and len(rounds) == 10
    both = reader.get(
        "/v1/events", params=[("type", "leadership.*"), ("type", "model.released")]
    ).json()["items"]
    assert {e["type"] for e in both} == {
        "leadership.appointed",
        "leadership.departed",
        "model.released",
    }
    stepfun = reader.get("/v1/events", params={"company": "阶跃星辰"}).json()["items"]
    assert {e["stream"] for e in stepfun} == {"company-stepfun"}
    assert reader.get("/v1/events", params={"company": "nobody"}).json()["items"] == []


def test_limits_are_bounded(reader: TestClient, seeded: Engine) -> None:
    assert len(reader.get("/v1/companies").json()["items"]) == 6  # default 50 holds all
    assert reader.get("/v1/companies", params={"limit": 200}).status_code == 200
    assert reader.get("/v1/companies", params={"limit": 201}).status_code == 422
    assert reader.get("/v1/events", params={"limit": 1000}).status_code == 200
    assert reader.get("/v1/events", params={"limit": 1001}).status_code == 422
