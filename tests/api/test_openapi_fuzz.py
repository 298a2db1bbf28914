"""Property test of the whole API against its own OpenAPI document (schemathesis).

For every operation, generated requests (valid ones, from the schemas and examples)
with a write key must never get a 5xx, and every response must match the documented
status codes, media types and schemas. SQLite only, seeded, and bounded in examples
so it stays well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis.internal.conjecture import utils as cu
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema

from tracker.api.app import create_app
from tracker.commands.ingest import ingest_feed
from tracker.commands.keys import create_api_key
from tracker.db import make_engine
from tracker.domain.feed_format import parse_tracker_feed
from tracker.projections.runner import catch_up
from tracker.settings import Settings
from tracker.store.migrate import upgrade_to_head

SEED = Path(__file__).resolve().parents[2] / "feeds" / "seed.json"


@pytest.fixture
def fuzzed_app(tmp_path: Path) -> Iterator[tuple[FastAPI, str]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'fuzz.db'}")
    upgrade_to_head(engine)
    ingest_feed(engine, parse_tracker_feed(SEED.read_bytes()), after_write=catch_up)
    key = create_api_key(engine, "write", "schemathesis")
    yield create_app(engine, Settings(database_url="sqlite://")), key
    engine.dispose()


@pytest.fixture
def api_schema(fuzzed_app: tuple[FastAPI, str]) -> BaseOpenAPISchema:
    app, _ = fuzzed_app
    return schemathesis.from_dict(app.openapi(), app=app)


def _restore_many_more() -> None:
    """hypothesis-jsonschema 0.23 (which schemathesis 3 draws objects with) still calls
    `many.more()`, which newer Hypothesis replaced by `with many(...) as e: for _ in e`.
    Bridge the old call to the new protocol until the pins in pyproject meet again."""
    if hasattr(cu.many, "more"):
        return

    def more(self: Any) -> bool:
        if getattr(self, "_legacy_steps", None) is None:
            self.__enter__()
            self._legacy_steps = iter(self)
        try:
            next(self._legacy_steps)
        except StopIteration:
            self.__exit__(None)
            return False
        return True

    cu.many.more = more


_restore_many_more()
# FastAPI writes OpenAPI 3.1; schemathesis 3 reads it behind this switch.
schemathesis.experimental.OPEN_API_3_1.enable()
schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_honours_its_own_openapi_document(
    case: Any, fuzzed_app: tuple[FastAPI, str]
) -> None:
    _, key = fuzzed_app
    # Every check schemathesis has: no 5xx, documented statuses, media types, headers
    # and schemas, invalid data rejected, authentication not ignored.
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"})
