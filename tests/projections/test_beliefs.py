"""The report-merging rules alone: votes, ballots, corrections, tenures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.dates import FuzzyDate
from tracker.domain.envelope import RecordedEvent
from tracker.projections.beliefs import (
    Report,
    ballot,
    believe,
    effective_reports,
    round_facts,
    tenures,
)

T0 = datetime(2026, 2, 10, tzinfo=UTC)


def event(version: int, type_: str, data: dict[str, Any], *urls: str, on: str = "2025") -> Any:
    return RecordedEvent(
        id=uuid4(),
        type=type_,
        stream="company-acme",
        version=version,
        position=version,
        occurred_on=FuzzyDate.parse(on),
        recorded_at=T0 + timedelta(minutes=version),
        data=data,
        sources=[{"url": url} for url in urls],
        metadata={},
    )


def report(version: int, value: Any, *urls: str, on: str = "2025") -> Report:
    (found,) = effective_reports([event(version, "x", {"v": value}, *urls, on=on)])
    return found


def value(r: Report) -> Any:
    return r.data.get("v")


def test_money_agrees_by_value_currency_and_qualifier_not_by_its_usd_figures() -> None:
    reported = {"value": "5000000000", "currency": "CNY", "qualifier": "at_least"}
    same = {**reported, "value": "5E+9", "value_usd": "690000000", "usd_rate": "0.138"}
    assert ballot(reported) == ballot(same)
    assert ballot(reported) != ballot({**reported, "qualifier": "about"})


def test_lists_agree_whatever_their_order_and_true_is_not_one() -> None:
    assert ballot(["Tencent", "IDG"]) == ballot(["IDG", "Tencent"])
    assert ballot(True) != ballot(1)


def test_an_unset_field_neither_votes_nor_conflicts() -> None:
    belief = believe([report(1, None), report(2, []), report(3, "A")], value)
    assert belief is not None
    assert (belief.value, belief.conflict) == ("A", False)
    assert believe([report(1, None)], value) is None


def test_reports_without_urls_count_once_each() -> None:
    belief = believe([report(1, "A"), report(2, "A"), report(3, "B", "https://x/1")], value)
    assert belief is not None
    assert (belief.value, belief.conflict) == ("A", True)


def test_the_value_is_shown_from_a_report_dated_as_believed() -> None:
    early = report(1, {"value": "5", "currency": "CNY", "value_usd": "0.70"}, on="2025-01")
    late = report(2, {"value": "5", "currency": "CNY", "value_usd": "0.69"}, on="2026-01-26")
    belief = believe([late, early], value, prefer=FuzzyDate.parse("2025-01"))
    assert belief is not None
    assert belief.value["value_usd"] == "0.70"


def test_retracting_a_retraction_restores_its_target() -> None:
    fact = event(1, "model.released", {"model": "m"})
    retraction = event(2, "event.retracted", {"target": str(fact.id)})
    undo = event(3, "event.retracted", {"target": str(retraction.id)})
    assert [r.event_id for r in effective_reports([fact, retraction])] == []
    assert [r.event_id for r in effective_reports([fact, retraction, undo])] == [str(fact.id)]


def test_named_rounds_merge_and_strategic_rounds_do_not() -> None:
    events = [
        event(1, "funding_round.announced", {"round": "series_a"}),
        event(2, "funding_round.announced", {"round": "series_a"}),
        event(3, "funding_round.announced", {"round": "strategic"}),
        event(4, "funding_round.announced", {"round": "strategic"}),
    ]
    assert [len(group) for group in round_facts(effective_reports(events))] == [2, 1, 1]


def test_tenures_follow_world_time_not_recording_order() -> None:
    ceo = {"person": "ada", "role": "ceo"}
    events = [
        event(1, "leadership.departed", ceo, on="2022"),
        event(2, "leadership.appointed", ceo, on="2020"),
        event(3, "leadership.appointed", ceo, on="2020-04"),  # one more report, learnt late
        event(4, "leadership.departed", {"person": "bob", "role": "ceo"}, on="2021"),
    ]
    (tenure,) = tenures(effective_reports(events))
    assert [[r.version for r in part] for part in tenure] == [[2, 3], [1]]


ballots = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C", None]), st.sampled_from(["u1", "u2", "u3", ""])),
    min_size=1,
    max_size=10,
)


@given(ballots, st.randoms())
def test_the_belief_is_a_reported_value_whatever_order_the_reports_come_in(
    votes: list[tuple[str | None, str]], shuffler: Any
) -> None:
    reports = [
        report(i, v, *([f"https://x/{url}"] if url else [])) for i, (v, url) in enumerate(votes)
    ]
    belief = believe(reports, value)
    reported = {v for v, _ in votes if v is not None}
    if not reported:
        assert belief is None
        return
    assert belief is not None
    assert belief.value in reported
    assert belief.conflict == (len(reported) > 1)
    shuffled = list(reports)
    shuffler.shuffle(shuffled)
    assert believe(shuffled, value) == belief
