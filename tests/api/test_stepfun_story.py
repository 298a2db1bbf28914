"""The StepFun story from the seed feed, as an analyst reads it over REST."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine


def chairmen(state: dict[str, Any]) -> list[str]:
    return [e["person"] for e in state["leadership"] if e["role"] == "chairman"]


def test_stepfun_today_has_yin_qi_as_chairman_and_the_series_b_plus_in_doubt(
    reader: TestClient, seeded: Engine
) -> None:
    state = reader.get("/v1/companies/stepfun").json()
    assert state["name"] == "StepFun"
    assert {"Step Star", "阶跃星辰"} <= set(state["aliases"])
    [chairman] = [e for e in state["leadership"] if e["role"] == "chairman"]
    assert chairman["person"] == "yin-qi" and chairman["person_name"] == "Yin Qi"
    assert chairman["since"] == {"date": "2026-01-26", "precision": "day"}
    [b_plus] = [r for r in state["funding"]["rounds"] if r["round"] == "series_b_plus"]
    assert b_plus["conflicts"] == ["announced_on"]
    assert b_plus["announced_on"] == {"date": "2026-01-26", "precision": "day"}
    assert len(b_plus["reports"]) == 2
    assert b_plus["money_raised"]["value"] == "5000000000"
    assert b_plus["money_raised"]["qualifier"] == "at_least"
    assert state["as_of"] is None and state["version"] > 0


def test_stepfun_as_of_the_end_of_2025_has_no_chairman_and_one_round_fewer(
    reader: TestClient, seeded: Engine
) -> None:
    today = reader.get("/v1/companies/stepfun").json()
    then = reader.get("/v1/companies/stepfun", params={"as_of": "2025-12-31"}).json()
    assert then["as_of"] == "2025-12-31"
    assert "yin-qi" in chairmen(today) and "yin-qi" not in chairmen(then)
    assert len(then["funding"]["rounds"]) == len(today["funding"]["rounds"]) - 1
    assert "series_b_plus" not in [r["round"] for r in then["funding"]["rounds"]]


def test_what_the_tracker_knew_before_the_seed_was_loaded_is_nothing(
    reader: TestClient, seeded: Engine
) -> None:
    response = reader.get("/v1/companies/stepfun", params={"known_at": "2020-01-01T00:00:00Z"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_yin_qi_roles_across_companies(reader: TestClient, seeded: Engine) -> None:
    person = reader.get("/v1/people/yin-qi").json()
    assert person["name"] == "Yin Qi"
    roles = {(r["company"], r["role"]): r for r in person["roles"]}
    megvii = roles[("megvii", "ceo")]
    assert megvii["current"] is False
    assert megvii["until"] == {"date": "2024-11-01", "precision": "month"}
    qianli = roles[("qianli-technology", "chairman")]
    assert qianli["current"] is True and qianli["until"] is None
    assert qianli["company_name"] == "Qianli Technology"
    stepfun = roles[("stepfun", "chairman")]
    assert stepfun["current"] is True
    assert stepfun["since"] == {"date": "2026-01-26", "precision": "day"}


def test_largest_rounds_of_the_year_to_2026_01_26(reader: TestClient, seeded: Engine) -> None:
    params = {"from": "2025-01-27", "to": "2026-01-26", "sort": "-amount_usd"}
    items = reader.get("/v1/funding-rounds", params=params).json()["items"]
    assert [(i["company"], i["round"]) for i in items] == [
        ("stepfun", "series_b_plus"),
        ("moonshot-ai", "undisclosed"),
    ]
    assert items[0]["money_raised"]["value_usd"] == "718971717"
    assert items[0]["conflicts"] == ["announced_on"]


def test_undisclosed_amounts_sort_last_either_way(reader: TestClient, seeded: Engine) -> None:
    for sort in ("-amount_usd", "amount_usd"):
        items = reader.get("/v1/funding-rounds", params={"sort": sort}).json()["items"]
        disclosed = [i["money_raised"] is not None for i in items]
        assert disclosed == sorted(disclosed, reverse=True), sort
        amounts = [int(i["money_raised"]["value_usd"]) for i in items if i["money_raised"]]
        assert amounts == sorted(amounts, reverse=sort.startswith("-"))


def test_rounds_by_date_investor_and_minimum(reader: TestClient, seeded: Engine) -> None:
    newest = reader.get("/v1/funding-rounds", params={"sort": "-announced_on"}).json()["items"]
    dates = [i["announced_on"]["date"] for i in newest]
    assert dates == sorted(dates, reverse=True)
    big = reader.get("/v1/funding-rounds", params={"min_usd": "600000000"}).json()["items"]
    assert {i["company"] for i in big} == {"stepfun", "moonshot-ai"}
    tencent = reader.get("/v1/funding-rounds", params={"investor": "Tencent"}).json()["items"]
    assert {(i["company"], i["round"]) for i in tencent} >= {("stepfun", "series_b_plus")}
    by_alias = reader.get("/v1/funding-rounds", params={"company": "Step Star"}).json()["items"]
    assert {i["company"] for i in by_alias} == {"stepfun"}


def test_search_by_name_alias_and_chinese_name(reader: TestClient, seeded: Engine) -> None:
    for name, slug in [
        ("Step Star", "stepfun"),
        ("阶跃星辰", "stepfun"),
        ("Dark Side of the Moon", "moonshot-ai"),
        ("lifan", "qianli-technology"),
    ]:
        items = reader.get("/v1/companies", params={"name": name}).json()["items"]
        assert items and items[0]["slug"] == slug, (name, items)


def test_search_puts_exact_then_prefix_then_substring(writer: TestClient, engine: Engine) -> None:
    registered = [
        {"type": "company.registered", "occurred_on": "2024", "data": {"company": c, "name": n}}
        for c, n in [("honeymoon", "Honeymoon"), ("moon-base", "Moon Base"), ("moon", "MOON")]
    ]
    assert writer.post("/v1/events", json={"events": registered}).status_code == 201
    items = writer.get("/v1/companies", params={"name": "moon"}).json()["items"]
    assert [i["slug"] for i in items] == ["moon", "moon-base", "honeymoon"]
    assert writer.get("/v1/companies", params={"name": "mars"}).json()["items"] == []


def test_models_of_a_company_in_a_period(reader: TestClient, seeded: Engine) -> None:
    params = {"company": "stepfun", "from": "2025-01-01", "to": "2025-12-31"}
    items = reader.get("/v1/models", params=params).json()["items"]
    assert [i["model"] for i in items] == [
        "step-3",
        "step-r1-v-mini",
        "step-audio",
        "step-video-t2v",
    ]
    step3 = items[0]
    assert (step3["parameters_total"], step3["parameters_active"]) == (
        321_000_000_000,
        38_000_000_000,
    )
    assert step3["released_on"] == {"date": "2025-07-01", "precision": "month"}


def test_an_investor_portfolio(reader: TestClient, seeded: Engine) -> None:
    body = reader.get("/v1/investors/qiming-venture-partners").json()
    assert body["name"] == "Qiming Venture Partners"
    assert {(i["company"], i["round"]) for i in body["items"]} >= {
        ("stepfun", "series_b"),
        ("stepfun", "undisclosed"),
    }
    assert all(i["lead"] is False for i in body["items"])
    lead = reader.get("/v1/investors/Alibaba").json()["items"]
    assert [(i["company"], i["lead"]) for i in lead] == [("moonshot-ai", True)]


def test_history_in_world_time_with_filters(reader: TestClient, seeded: Engine) -> None:
    items = reader.get("/v1/companies/stepfun/history").json()["items"]
    keys = [(i["occurred_on"]["date"], i["position"]) for i in items]
    assert keys == sorted(keys)
    leadership = reader.get(
        "/v1/companies/stepfun/history", params={"type": "leadership.*", "from": "2026-01-01"}
    ).json()["items"]
    assert [(i["type"], i["data"]["person"]) for i in leadership] == [
        ("leadership.appointed", "yin-qi")
    ]
    # A month-precise fact counts at its month's end: 2024-03 is in "to 2024-03-31" only.
    march = {"type": "model.released", "from": "2024-03-01", "to": "2024-03-30"}
    assert reader.get("/v1/companies/stepfun/history", params=march).json()["items"] == []
    march["to"] = "2024-03-31"
    models = reader.get("/v1/companies/stepfun/history", params=march).json()["items"]
    assert {i["data"]["model"] for i in models} == {"step-1", "step-1v"}


def test_unknown_things_are_404_problems(reader: TestClient, seeded: Engine) -> None:
    for path in (
        "/v1/companies/no-such-co",
        "/v1/companies/no-such-co/history",
        "/v1/people/nobody",
        "/v1/investors/nobody-capital",
    ):
        response = reader.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404
