"""Every error is RFC 9457 problem JSON: unknown routes, methods, bodies, bad queries,
database outages and bugs alike."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tracker.api.app import create_app
from tracker.db import make_engine
from tracker.settings import Settings


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["title"] and body["detail"]
    return body


def test_an_unknown_route_is_a_404_problem(reader: TestClient) -> None:
    body = assert_problem(reader.get("/v1/nothing-here"), 404)
    assert body["type"] == "about:blank" and body["title"] == "Not Found"


def test_a_wrong_method_is_a_405_problem_with_allow(reader: TestClient) -> None:
    response = reader.delete("/v1/companies")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


def test_a_body_over_the_limit_is_413(writer: TestClient, settings: Settings) -> None:
    big = {
        "type": "company.registered",
        "occurred_on": "2024",
        "data": {"x": "y" * settings.max_body_bytes},
    }
    assert_problem(writer.post("/v1/events", json=big), 413)


def test_a_chunked_body_over_the_limit_is_413(writer: TestClient, settings: Settings) -> None:
    def chunks() -> Any:
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    response = writer.post(
        "/v1/events", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413)


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        ("/v1/companies?limit=0", ["query", "limit"]),
        ("/v1/companies?limit=201", ["query", "limit"]),
        ("/v1/events?limit=1001", ["query", "limit"]),
        ("/v1/events?after=-1", ["query", "after"]),
        ("/v1/events?after=9223372036854775808", ["query", "after"]),
        ("/v1/events?type=company.bought", ["query", "type"]),
        ("/v1/companies/stepfun?as_of=2025-02-30", ["query", "as_of"]),
        ("/v1/companies/stepfun?known_at=yesterday", ["query", "known_at"]),
        ("/v1/funding-rounds?sort=biggest", ["query", "sort"]),
        ("/v1/funding-rounds?min_usd=lots", ["query", "min_usd"]),
        ("/v1/models?cursor=not-a-cursor", ["query", "cursor"]),
        ("/v1/companies?cursor=WzEsMiwzXQ", ["query", "cursor"]),
    ],
)
def test_bad_query_parameters_are_422_naming_them(
    reader: TestClient, seeded: Engine, path: str, loc: list[str]
) -> None:
    body = assert_problem(reader.get(path), 422)
    assert loc in [error["loc"] for error in body["errors"]], body


def test_an_unexpected_error_is_a_500_problem_without_a_trace(
    engine: Engine,
    settings: Settings,
    keys: dict[str, dict[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = APIRouter()

    @broken.get("/v1/broken")
    def fail() -> None:
        raise RuntimeError("secret internals")

    app = create_app(engine, settings, extra_routers=[broken])
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/broken")
    body = assert_problem(response, 500)
    assert "secret" not in response.text and "Traceback" not in response.text
    assert body["type"].endswith("internal-error")
    assert any("unhandled error" in r.message and r.exc_info for r in caplog.records)


def test_an_unreachable_database_is_503(tmp_path: Any, settings: Settings) -> None:
    missing = make_engine(f"sqlite:///{tmp_path}/no/such/dir/tracker.db")
    app: FastAPI = create_app(missing, settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json() == {
            "status": "unavailable",
            "database": "unreachable",
            "projections": {},
            "dispatcher": None,
            "workers": [],
        }
        response = client.get("/v1/companies", headers={"Authorization": "Bearer trk_" + "a" * 32})
    assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"


def test_problem_json_is_ascii_so_no_client_guesses_its_charset_wrong(reader: TestClient) -> None:
    response = reader.get("/v1/companies/阶跃星辰")
    body = assert_problem(response, 404)
    response.content.decode("ascii")
    assert "阶跃星辰" in body["detail"]
