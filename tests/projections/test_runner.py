"""The projection runner: checkpoints with the rows, crash safety, rebuild equivalence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tracker.commands.ingest import ingest_feed
from tracker.db import read_connection
from tracker.domain.feed_format import parse_tracker_feed
from tracker.projections import runner
from tracker.projections.read_models import PROJECTIONS
from tracker.projections.rebuild import rebuild
from tracker.store.reading import START, head

SEED = Path(__file__).resolve().parents[2] / "feeds" / "seed.json"


class Crash(Exception):
    pass


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    with read_connection(engine) as conn:
        for projection in PROJECTIONS:
            for table in projection.tables:
                query = select(table).order_by(*table.primary_key.columns)
                tables[table.name] = [dict(row._mapping) for row in conn.execute(query)]
    return tables


def checkpoints(engine: Engine) -> dict[str, Any]:
    with read_connection(engine) as conn:
        return {p.name: runner.load_checkpoint(conn, p.name) for p in PROJECTIONS}


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    ingest_feed(engine, parse_tracker_feed(SEED.read_bytes()))
    return engine


def test_the_runner_catches_up_and_reports_no_lag(seeded: Engine) -> None:
    with read_connection(seeded) as conn:
        assert all(lag > 0 for lag in runner.lag(conn).values())
    applied = runner.run_once(seeded)
    assert applied == 3 * len(parse_tracker_feed(SEED.read_bytes()).items)
    with read_connection(seeded) as conn:
        assert runner.lag(conn) == {p.name: 0 for p in PROJECTIONS}
        target = head(conn)
    assert all(cursor == target for cursor in checkpoints(seeded).values())
    tables = snapshot(seeded)
    assert any(row["person"] == "yin-qi" for row in tables["roles"])
    assert any(row["model"] == "step-3" for row in tables["models"])


def test_a_crash_between_rows_and_checkpoint_loses_nothing_and_applies_nothing_twice(
    seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "BATCH", 7)
    calls = {"n": 0}

    def crash_on_third_batch(_name: str) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash

    with pytest.raises(Crash):
        runner.run_once(seeded, fault=crash_on_third_batch)
    partial = checkpoints(seeded)
    assert partial["funding_rounds"] > START  # two batches committed before the crash
    runner.run_once(seeded)  # the restart
    incremental = snapshot(seeded)
    rebuild(seeded)
    assert snapshot(seeded) == incremental


def test_rebuild_replaces_rows_and_sets_every_checkpoint_to_the_head(seeded: Engine) -> None:
    runner.run_once(seeded)
    before = snapshot(seeded)
    seen: list[tuple[int, int]] = []
    replayed = rebuild(seeded, progress=lambda done, total: seen.append((done, total)))
    assert replayed == seen[-1][0] == seen[-1][1]
    assert snapshot(seeded) == before
    with read_connection(seeded) as conn:
        target = head(conn)
    assert all(cursor == target for cursor in checkpoints(seeded).values())


def test_rebuild_of_one_projection_leaves_the_others_alone(seeded: Engine) -> None:
    runner.run_once(seeded)
    before = checkpoints(seeded)
    rebuild(seeded, ["models"])
    after = checkpoints(seeded)
    assert after["funding_rounds"] == before["funding_rounds"]
    assert after["models"] == before["models"]
    with pytest.raises(KeyError, match="unknown projection"):
        rebuild(seeded, ["nope"])
