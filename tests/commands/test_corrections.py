"""Corrections are checked against the event they correct, and keep reads working."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from tracker.commands.recording import record_events
from tracker.db import read_connection
from tracker.domain.errors import InvalidInput
from tracker.projections.queries import company_state


def round_event() -> dict[str, Any]:
    return {
        "type": "funding_round.announced",
        "occurred_on": "2026-01-26",
        "data": {"company": "StepFun", "round": "series_b_plus",
                 "money_raised": {"value": "5000000000", "currency": "CNY", "qualifier": "at_least"}},
    }


def correction(target: str, changes: dict[str, Any]) -> dict[str, Any]:
    return {"type": "event.corrected", "occurred_on": "2026-02-01",
            "data": {"target": target, "data": changes, "reason": "checked the filing"}}


@pytest.mark.parametrize(
    ("changes", "loc", "message"),
    [
        ({"money_raised": "lots"}, ("data", "data", "money_raised"), "valid dictionary"),
        ({"money_raised": {"value": "1", "currency": "RMB"}}, ("data", "data", "money_raised", "currency"), "unknown currency"),
        ({"round": "series_z"}, ("data", "data", "round"), "Input should be"),
        ({"colour": "red"}, ("data", "data", "colour"), "unknown field"),
        ({"company": "zhipu"}, ("data", "data", "company"), "cannot move"),
        ({"occurred_on": "2026-02-30"}, ("data", "data", "occurred_on"), "impossible date"),
    ],
)
def test_a_correction_is_validated_as_its_target_type(
    engine: Engine, changes: dict[str, Any], loc: tuple[str, ...], message: str
) -> None:
    target = record_events(engine, [round_event()]).events[-1]
    with pytest.raises(InvalidInput) as raised:
        record_events(engine, [correction(str(target.id), changes)])
    assert any(e.loc == loc and message in e.msg for e in raised.value.errors), raised.value.errors


def test_a_corrected_amount_gets_its_usd_value_and_shows_in_the_state(engine: Engine) -> None:
    target = record_events(engine, [round_event()]).events[-1]
    fixed = record_events(engine, [correction(str(target.id), {"money_raised": {"value": "6000000000", "currency": "CNY"}})])
    stored = fixed.events[0].data["data"]["money_raised"]
    assert stored["value"] == "6000000000" and int(stored["value_usd"]) > 800_000_000
    with read_connection(engine) as conn:
        state = company_state(conn, "stepfun", as_of=None, known_at=None)
    [entry] = state["funding"]["rounds"]
    assert entry["money_raised"]["value"] == "6000000000"
    assert state["funding"]["total_usd"] == stored["value_usd"]


def test_a_correction_of_a_correction_is_refused(engine: Engine) -> None:
    target = record_events(engine, [round_event()]).events[-1]
    fix = record_events(engine, [correction(str(target.id), {"round": "series_b"})]).events[0]
    with pytest.raises(InvalidInput, match="retract it instead"):
        record_events(engine, [correction(str(fix.id), {"round": "series_c"})])
