"""The projections: how a company's folded state becomes rows of each read model.

A projection owns some tables and replaces one company's rows at a time. It never
reads other rows, so rebuilding a company from its stream is always safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, delete

from tracker.db import bulk_insert
from tracker.domain.dates import FuzzyDate
from tracker.domain.names import slugify
from tracker.projections.tables import funding_rounds, models, roles, round_investors

__all__ = ["PROJECTIONS", "Projection", "projection_named"]

Rows = dict[Table, list[dict[str, Any]]]


@dataclass(frozen=True)
class Projection:
    name: str
    tables: tuple[Table, ...]
    rows_of: Callable[[str, dict[str, Any]], Rows]

    def replace(self, conn: Connection, states: dict[str, dict[str, Any] | None]) -> None:
        """Swap these companies' rows for the rows of their new states."""
        companies = list(states)
        for table in self.tables:
            for start in range(0, len(companies), 500):
                conn.execute(
                    delete(table).where(table.c.company.in_(companies[start : start + 500]))
                )
        self.insert(conn, states)

    def insert(self, conn: Connection, states: dict[str, dict[str, Any] | None]) -> None:
        batches: Rows = {table: [] for table in self.tables}
        for company, state in states.items():
            if state is None:
                continue
            for table, rows in self.rows_of(company, state).items():
                batches[table].extend(rows)
        for table, rows in batches.items():
            bulk_insert(conn, table, rows)


def _period(value: dict[str, str]) -> FuzzyDate:
    return FuzzyDate.of(value["date"], value["precision"])


def _start(value: dict[str, str]) -> date:
    return date.fromisoformat(value["date"])


def _fact_key(entry: dict[str, Any]) -> str:
    reports = entry.get("reports") or []
    named = entry.get("fact")
    if named:
        return str(named)
    return str(reports[0]["event_id"]) if reports else str(entry["round"])


def _round_rows(company: str, state: dict[str, Any]) -> Rows:
    rounds, investors = [], []
    for entry in state["funding"]["rounds"]:
        fact = _fact_key(entry)
        money = entry.get("money_raised") or {}
        usd = money.get("value_usd")
        rounds.append(
            {
                "company": company,
                "fact": fact,
                "round": entry["round"],
                "announced_on": _start(entry["announced_on"]),
                "announced_end": _period(entry["announced_on"]).end,
                "value_usd": Decimal(usd) if usd is not None else None,
                "entry": {"company": company, "company_name": state["name"], **entry},
            }
        )
        seen: set[str] = set()
        for lead, names in (
            (True, entry.get("lead_investors") or []),
            (False, entry.get("investors") or []),
        ):
            for name in names:
                slug = slugify(name)
                if slug not in seen:
                    seen.add(slug)
                    investors.append(
                        {
                            "company": company,
                            "fact": fact,
                            "investor": slug,
                            "investor_name": name,
                            "lead": lead,
                        }
                    )
    return {funding_rounds: rounds, round_investors: investors}


def _role_rows(company: str, state: dict[str, Any]) -> Rows:
    rows = []
    for current, entries in (
        (True, state["leadership"]),
        (False, state.get("past_leadership", [])),
    ):
        for entry in entries:
            rows.append(
                {
                    "company": company,
                    "person": entry["person"],
                    "role": entry["role"],
                    "since_on": _start(entry["since"]),
                    "current": current,
                    "entry": {
                        "company": company,
                        "company_name": state["name"],
                        "current": current,
                        "until": None,
                        **entry,
                    },
                }
            )
    return {roles: _unique(rows, ("person", "role", "since_on"))}


def _model_rows(company: str, state: dict[str, Any]) -> Rows:
    rows = [
        {
            "company": company,
            "model": entry["model"],
            "released_on": _start(entry["released_on"]),
            "released_end": _period(entry["released_on"]).end,
            "entry": {"company": company, "company_name": state["name"], **entry},
        }
        for entry in state["models"]
    ]
    return {models: _unique(rows, ("model",))}


def _unique(rows: list[dict[str, Any]], key: Sequence[str]) -> list[dict[str, Any]]:
    """One row per primary key: a later tenure or release wins over an earlier one."""
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        kept[tuple(row[k] for k in key)] = row
    return list(kept.values())


PROJECTIONS: tuple[Projection, ...] = (
    Projection("funding_rounds", (funding_rounds, round_investors), _round_rows),
    Projection("leadership", (roles,), _role_rows),
    Projection("models", (models,), _model_rows),
)


def projection_named(name: str) -> Projection:
    for projection in PROJECTIONS:
        if projection.name == name:
            return projection
    known = ", ".join(p.name for p in PROJECTIONS)
    raise KeyError(f"unknown projection {name!r}; known: {known}")
