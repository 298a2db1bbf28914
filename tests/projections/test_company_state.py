"""The company state fold: the StepFun story from the bundled feed, then each rule alone."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.domain.dates import FuzzyDate
from tracker.domain.envelope import RecordedEvent, parse_draft
from tracker.projections.company_state import CompanyState, fold_company

SEED = Path(__file__).resolve().parents[2] / "feeds" / "seed.json"
T0 = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
ARTICLE = "https://news.example/a"


# --- building streams --------------------------------------------------------------


class Stream:
    """One company's stream: each event one version and one minute after the last,
    the way the store would record them."""

    def __init__(self, company: str = "acme") -> None:
        self.company = company
        self.events: list[RecordedEvent] = []
        self.clock = T0

    def add(
        self, type_: str, on: str, data: dict[str, Any], urls: tuple[str, ...] = (ARTICLE,)
    ) -> RecordedEvent:
        self.clock += timedelta(minutes=1)
        event = RecordedEvent(
            id=uuid4(),
            type=type_,
            stream=f"company-{self.company}",
            version=len(self.events) + 1,
            position=len(self.events) + 1,
            occurred_on=FuzzyDate.parse(on),
            recorded_at=self.clock,
            data={"company": self.company, **data},
            sources=[{"url": url} for url in urls],
            metadata={},
        )
        self.events.append(event)
        return event

    def register(self, on: str = "2020-01-01", name: str = "Acme") -> RecordedEvent:
        return self.add("company.registered", on, {"name": name, "aliases": []})

    def round(self, on: str, stage: str, urls: tuple[str, ...] = (ARTICLE,), **data: Any) -> Any:
        return self.add("funding_round.announced", on, {"round": stage, **data}, urls)

    def leader(self, kind: str, on: str, person: str, role: str, **data: Any) -> RecordedEvent:
        body = {"person": person, "role": role, **data}
        return self.add(f"leadership.{kind}", on, body)

    def correct(self, target: RecordedEvent, **changes: Any) -> RecordedEvent:
        body = {"target": str(target.id), "data": changes, "reason": "curator"}
        return self.add("event.corrected", "2026-02-10", body, ())

    def retract(self, target: RecordedEvent) -> RecordedEvent:
        return self.add("event.retracted", "2026-02-10", {"target": str(target.id)}, ())

    def fold(self, **view: Any) -> dict[str, Any]:
        state = fold_company(self.events, **view)
        assert state is not None
        return state.to_json()


def money(value: str, currency: str = "USD", **extra: str) -> dict[str, str]:
    return {"value": value, "currency": currency, "qualifier": "exact", **extra}


def seed_streams() -> dict[str, list[RecordedEvent]]:
    """The bundled feed through the real validator, recorded a minute apart in file order."""
    feed = json.loads(SEED.read_text(encoding="utf-8"))
    streams: dict[str, list[RecordedEvent]] = {}
    for index, item in enumerate(feed["events"]):
        draft = parse_draft(item, default_sources=[feed["source"]])
        name = f"company-{draft.data['company']}"
        stream = streams.setdefault(name, [])
        stream.append(
            RecordedEvent(
                id=draft.id,
                type=draft.type,
                stream=name,
                version=len(stream) + 1,
                position=index + 1,
                occurred_on=draft.occurred_on,
                recorded_at=T0 + timedelta(minutes=index),
                data=draft.data,
                sources=draft.sources,
                metadata=draft.metadata,
            )
        )
    return streams


@pytest.fixture(scope="module")
def seed() -> dict[str, list[RecordedEvent]]:
    return seed_streams()


def state_of(events: list[RecordedEvent], **view: Any) -> dict[str, Any]:
    state = fold_company(events, **view)
    assert state is not None
    return state.to_json()


def role(state: dict[str, Any], person: str, role_: str, key: str = "leadership") -> Any:
    found = [e for e in state[key] if e["person"] == person and e["role"] == role_]
    return found[0] if found else None


def funding_round(state: dict[str, Any], stage: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in state["funding"]["rounds"] if r["round"] == stage]
    assert len(found) == 1
    return found[0]


def day(text: str) -> dict[str, str]:
    return {"date": text, "precision": "day"}


# --- the StepFun story -------------------------------------------------------------


def test_today_yin_qi_chairs_stepfun_since_january_26_2026(seed: Any) -> None:
    state = state_of(seed["company-stepfun"])
    chairman = role(state, "yin-qi", "chairman")
    assert chairman["person_name"] == "Yin Qi"
    assert chairman["since"] == day("2026-01-26")
    assert chairman["conflicts"] == []
    assert len(chairman["reports"][0]["sources"]) == 3


def test_the_series_b_plus_is_one_round_believed_on_its_2026_date_with_the_date_in_doubt(
    seed: Any,
) -> None:
    series_b_plus = funding_round(state_of(seed["company-stepfun"]), "series_b_plus")
    assert series_b_plus["announced_on"] == day("2026-01-26")
    assert series_b_plus["conflicts"] == ["announced_on"]
    assert [r["date"]["date"] for r in series_b_plus["reports"]] == ["2025-01-01", "2026-01-26"]
    assert series_b_plus["money_raised"] == money("5000000000", "CNY") | {"qualifier": "at_least"}
    # The digest names no investors: it does not vote, and it is no conflict.
    assert series_b_plus["lead_investors"] == ["Shanghai State-owned Capital Investment"]
    assert len(series_b_plus["investors"]) == 10


def test_step_3_has_321b_parameters_38b_active_in_a_mixture_of_experts(seed: Any) -> None:
    (step_3,) = [m for m in state_of(seed["company-stepfun"])["models"] if m["model"] == "step-3"]
    assert step_3["name"] == "Step-3"
    assert step_3["released_on"] == {"date": "2025-07-01", "precision": "month"}
    assert (step_3["parameters_total"], step_3["parameters_active"]) == (321 * 10**9, 38 * 10**9)
    assert step_3["architecture"] == "moe"
    assert step_3["modalities"] == ["text", "image"]


def test_at_the_end_of_2025_stepfun_had_no_chairman_and_one_round_fewer(seed: Any) -> None:
    today = state_of(seed["company-stepfun"])
    then = state_of(seed["company-stepfun"], as_of=date(2025, 12, 31))
    assert role(then, "yin-qi", "chairman") is None
    assert len(then["funding"]["rounds"]) == len(today["funding"]["rounds"]) - 1
    assert "series_b_plus" not in [r["round"] for r in then["funding"]["rounds"]]
    assert then["as_of"] == "2025-12-31"
    assert then["version"] == today["version"] == len(seed["company-stepfun"])


def test_a_departed_role_moves_to_past_leadership_with_its_end(seed: Any) -> None:
    state = state_of(seed["company-megvii"])
    assert role(state, "yin-qi", "ceo") is None
    ceo = role(state, "yin-qi", "ceo", key="past_leadership")
    assert ceo["since"] == {"date": "2011-01-01", "precision": "year"}
    assert ceo["until"] == {"date": "2024-11-01", "precision": "month"}
    assert len(ceo["reports"]) == 2


def test_a_month_precision_fact_counts_only_from_the_last_day_of_the_month(seed: Any) -> None:
    megvii = seed["company-megvii"]
    assert role(state_of(megvii, as_of=date(2024, 11, 29)), "yin-qi", "ceo") is not None
    assert role(state_of(megvii, as_of=date(2024, 11, 30)), "yin-qi", "ceo") is None
    stepfun = seed["company-stepfun"]
    assert role(state_of(stepfun, as_of=date(2023, 4, 29)), "jiang-daxin", "ceo") is None
    assert role(state_of(stepfun, as_of=date(2023, 4, 30)), "jiang-daxin", "ceo") is not None


def test_a_rename_keeps_the_old_name_as_an_alias(seed: Any) -> None:
    qianli = seed["company-qianli-technology"]
    today = state_of(qianli)
    assert today["name"] == "Qianli Technology"
    assert today["aliases"][0] == "Lifan Technology"
    assert "Chongqing Qianli Technology Co. Ltd." in today["aliases"]
    assert state_of(qianli, as_of=date(2025, 1, 31))["name"] == "Lifan Technology"


def test_a_company_is_unknown_before_its_registration(seed: Any) -> None:
    stepfun = seed["company-stepfun"]
    assert fold_company(stepfun, as_of=date(2023, 4, 5)) is None
    assert fold_company(stepfun, known_at=T0 - timedelta(days=1)) is None
    assert fold_company([]) is None


def test_the_state_has_exactly_the_contract_shape(seed: Any) -> None:
    state = state_of(seed["company-megvii"])
    assert list(state) == [
        "company", "name", "aliases", "headquarters", "founded_on", "website",
        "description", "leadership", "past_leadership", "funding", "models", "version",
        "as_of", "known_at",
    ]  # fmt: skip
    assert state["company"] == "megvii"
    assert state["founded_on"] == {"date": "2011-01-01", "precision": "year"}
    assert list(state["funding"]) == ["total_usd", "rounds"]
    assert list(state["leadership"][0]) == [
        "person", "person_name", "role", "title", "since", "reports", "conflicts",
    ]  # fmt: skip
    assert list(state["past_leadership"][0])[-3:] == ["until", "reports", "conflicts"]
    assert list(state["funding"]["rounds"][0]) == [
        "round", "announced_on", "money_raised", "valuation", "lead_investors", "investors",
        "reports", "conflicts",
    ]  # fmt: skip
    assert list(state["funding"]["rounds"][0]["reports"][0]) == [
        "event_id", "date", "recorded_at", "sources",
    ]  # fmt: skip
    json.dumps(state)


# --- each rule alone ---------------------------------------------------------------


def test_a_correction_counts_from_when_it_was_recorded_but_at_every_world_date() -> None:
    stream = Stream()
    stream.register()
    wrong = stream.round("2024-05-02", "series_a", money_raised=money("10000000"))
    fix = stream.correct(wrong, money_raised=money("12000000"))
    before = stream.fold(known_at=fix.recorded_at - timedelta(seconds=1))
    after = stream.fold(known_at=fix.recorded_at, as_of=date(2024, 5, 2))
    assert funding_round(before, "series_a")["money_raised"]["value"] == "10000000"
    assert funding_round(after, "series_a")["money_raised"]["value"] == "12000000"
    assert before["version"] == 2
    assert after["version"] == 3
    assert after["known_at"] == fix.recorded_at.isoformat()


def test_a_correction_of_the_money_raised_changes_the_total() -> None:
    stream = Stream()
    stream.register()
    a = stream.round("2024-01-10", "seed", money_raised=money("1000000", value_usd="1000000"))
    stream.round("2024-06-10", "series_a", money_raised=money("5000000", value_usd="5000000"))
    assert stream.fold()["funding"]["total_usd"] == "6000000"
    stream.correct(a, money_raised=money("2500000", value_usd="2500000"))
    assert stream.fold()["funding"]["total_usd"] == "7500000"
    assert funding_round(stream.fold(), "seed")["conflicts"] == []


def test_a_correction_can_move_a_fact_in_world_time() -> None:
    stream = Stream()
    stream.register()
    misdated = stream.round("2024-01", "series_a")
    stream.correct(misdated, occurred_on="2025-03-15")
    assert stream.fold(as_of=date(2024, 12, 31))["funding"]["rounds"] == []
    assert funding_round(stream.fold(), "series_a")["announced_on"] == day("2025-03-15")


def test_a_retracted_report_is_no_longer_a_fact_and_cannot_be_corrected() -> None:
    stream = Stream()
    stream.register()
    rumour = stream.round("2024-05-02", "series_c")
    stream.retract(rumour)
    stream.correct(rumour, investors=["Someone"])
    assert stream.fold()["funding"] == {"total_usd": None, "rounds": []}
    assert len(stream.events) == 4  # the log keeps all; only the fold changed


def test_retracting_a_correction_restores_the_reported_value() -> None:
    stream = Stream()
    stream.register()
    report = stream.round("2024-05-02", "series_a", investors=["A"])
    stream.retract(stream.correct(report, investors=["B"]))
    assert funding_round(stream.fold(), "series_a")["investors"] == ["A"]


def test_a_tie_between_sources_goes_to_the_latest_recorded_report() -> None:
    stream = Stream()
    stream.register()
    stream.round("2024-05-02", "series_a", ("https://a.example/1",), investors=["A"])
    stream.round("2024-05-02", "series_a", ("https://b.example/2",), investors=["B"])
    entry = funding_round(stream.fold(), "series_a")
    assert entry["investors"] == ["B"]
    assert entry["conflicts"] == ["investors"]


def test_one_article_reported_twice_is_one_source() -> None:
    stream = Stream()
    stream.register()
    for _ in range(2):
        stream.round("2024-05-02", "series_a", ("https://a.example/1",), investors=["A"])
    stream.round("2024-05-02", "series_a", ("https://b.example/2",), investors=["B"])
    assert funding_round(stream.fold(), "series_a")["investors"] == ["B"]


def test_the_most_sources_win_over_the_latest_report() -> None:
    stream = Stream()
    stream.register()
    both = ("https://a.example/1", "https://b.example/2")
    stream.round("2024-05-02", "series_a", both, money_raised=money("10000000"))
    stream.round("2024-05-02", "series_a", ("https://c.example/3",), money_raised=money("9"))
    entry = funding_round(stream.fold(), "series_a")
    assert entry["money_raised"]["value"] == "10000000"
    assert entry["conflicts"] == ["money_raised"]


def test_money_that_differs_only_in_its_usd_figures_is_no_conflict() -> None:
    stream = Stream()
    stream.register()
    stream.round("2025-01", "series_b", money_raised=money("5", "CNY", value_usd="0.7"))
    stream.round("2025-01-26", "series_b", ("https://b.example/2",),
                 money_raised=money("5", "CNY", value_usd="0.69"))  # fmt: skip
    entry = funding_round(stream.fold(), "series_b")
    assert entry["conflicts"] == ["announced_on"]
    # The USD figure shown is the one converted at the believed date.
    assert entry["announced_on"] == day("2025-01-26")
    assert entry["money_raised"]["value_usd"] == "0.69"


def test_strategic_rounds_are_each_their_own_fact() -> None:
    stream = Stream()
    stream.register()
    stream.round("2024-05-02", "strategic", investors=["A"])
    stream.round("2024-05-02", "strategic", investors=["B"])
    rounds = stream.fold()["funding"]["rounds"]
    assert [r["investors"] for r in rounds] == [["A"], ["B"]]
    assert all(r["conflicts"] == [] for r in rounds)


def test_a_reappointment_after_a_departure_opens_a_new_tenure() -> None:
    stream = Stream()
    stream.register()
    stream.leader("appointed", "2020-03", "ada", "ceo", person_name="Ada", title="CEO")
    stream.leader("appointed", "2020-03", "ada", "ceo", person_name="Ada", title="CEO")
    stream.leader("departed", "2022-06-30", "ada", "ceo")
    stream.leader("appointed", "2024-01-15", "ada", "ceo", person_name="Ada", title="CEO")
    state = stream.fold()
    assert role(state, "ada", "ceo")["since"] == day("2024-01-15")
    past = role(state, "ada", "ceo", key="past_leadership")
    assert past["until"] == day("2022-06-30")
    assert len(past["reports"]) == 3
    during_the_gap = stream.fold(as_of=date(2023, 1, 1))
    assert during_the_gap["leadership"] == []
    assert len(during_the_gap["past_leadership"]) == 1


def test_a_role_whose_departure_lies_after_as_of_is_still_current() -> None:
    stream = Stream()
    stream.register()
    stream.leader("appointed", "2020-03-01", "ada", "cto", person_name="Ada")
    stream.leader("departed", "2022-06-30", "ada", "cto")
    state = stream.fold(as_of=date(2021, 1, 1))
    assert role(state, "ada", "cto")["conflicts"] == []
    assert len(role(state, "ada", "cto")["reports"]) == 1
    assert state["past_leadership"] == []


def test_facts_are_ordered_by_their_believed_date() -> None:
    stream = Stream()
    stream.register()
    stream.round("2024-06-01", "series_a")
    stream.round("2023-01", "seed")
    stream.round("2024-06-01", "angel")
    assert [r["round"] for r in stream.fold()["funding"]["rounds"]] == [
        "seed",
        "angel",
        "series_a",
    ]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["2023", "2023-05", "2023-05-17", "2024-02-29"]),
            st.sampled_from(["A", "B", "C"]),
            st.sampled_from(["https://a.example/", "https://b.example/", "https://c.example/"]),
        ),
        min_size=1,
        max_size=8,
    ),
    st.dates(date(2022, 1, 1), date(2025, 1, 1)),
)
def test_a_believed_round_always_holds_reported_values_and_stays_in_view_later(
    reports: list[tuple[str, str, str]], as_of: date
) -> None:
    stream = Stream()
    stream.register("2000")
    for on, investor, url in reports:
        stream.round(on, "series_a", (url,), investors=[investor])
    (entry,) = stream.fold()["funding"]["rounds"]
    assert entry["investors"][0] in {investor for _, investor, _ in reports}
    assert FuzzyDate.coerce(entry["announced_on"]).text() in {on for on, _, _ in reports}
    shown = stream.fold(as_of=as_of)["funding"]["rounds"]
    later = stream.fold(as_of=as_of + timedelta(days=400))["funding"]["rounds"]
    assert len(shown) <= len(later)
    assert shown in ([], [entry])


def test_state_is_a_frozen_value() -> None:
    stream = Stream()
    stream.register()
    state = fold_company(stream.events)
    assert isinstance(state, CompanyState)
    with pytest.raises(AttributeError):
        state.name = "Other"  # type: ignore[misc]


def test_an_unreadable_usd_figure_in_a_correction_is_left_out_of_the_total() -> None:
    stream = Stream()
    stream.register()
    report = stream.round("2024-01-10", "seed", money_raised=money("1", value_usd="1"))
    stream.round("2024-06-10", "series_a", money_raised=money("5", value_usd="5"))
    stream.correct(report, money_raised=money("2", value_usd="two"))
    assert stream.fold()["funding"]["total_usd"] == "5"
