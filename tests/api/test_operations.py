"""/health, /metrics and the OpenAPI document at /docs."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine


def test_health_reports_the_database_and_projection_lag(
    anonymous: TestClient, seeded: Engine
) -> None:
    response = anonymous.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["projections"] == {"funding_rounds": 0, "leadership": 0, "models": 0}
    # No subscription yet: the dispatcher has the whole log before it; no worker runs.
    assert body["dispatcher"] > 0
    assert body["workers"] == []


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_count_events_lag_and_request_durations(
    anonymous: TestClient, reader: TestClient, writer: TestClient, seeded: Engine
) -> None:
    def appended() -> float:
        text = anonymous.get("/metrics").text
        return _sample(text, "tracker_events_appended_total", type="company.alias_added")

    before = appended()
    alias = {"company": "stepfun", "alias": "Jieyue"}
    event = {"type": "company.alias_added", "occurred_on": "2026-02", "data": alias}
    assert writer.post("/v1/events", json=event).status_code == 201
    assert appended() == before + 1
    reader.get("/v1/companies/stepfun")
    reader.get("/v1/companies/no-such-co")
    response = anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _sample(text, "tracker_projection_lag", projection="funding_rounds") == 0
    assert _sample(text, "tracker_dispatcher_lag_events") > 0  # no dispatcher has run
    assert _sample(text, "tracker_webhook_retry_queue") == 0
    assert _sample(text, "tracker_database_up") == 1
    route = "/v1/companies/{slug}"
    ok = _sample(text, "tracker_http_request_duration_seconds_count", route=route, status="200")
    missing = _sample(
        text, "tracker_http_request_duration_seconds_count", route=route, status="404"
    )
    assert ok >= 1 and missing >= 1
    assert "/v1/companies/stepfun" not in text  # templates, never raw paths


def test_the_docs_show_an_example_for_every_request_and_response(anonymous: TestClient) -> None:
    assert anonymous.get("/docs").status_code == 200
    document = anonymous.get("/openapi.json").json()
    schemas = document["components"]["schemas"]

    def has_example(schema: dict[str, object]) -> bool:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return has_example(schemas[ref.rsplit("/", 1)[1]])
        return bool(schema.get("examples")) or schema.get("type") == "string"

    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    assert has_example(content["schema"]), (method, path, status, media)
                    checked += 1
            body = operation.get("requestBody")
            if body:
                assert body["content"]["application/json"]["examples"], (method, path)
                for option in body["content"]["application/json"]["schema"]["oneOf"]:
                    assert has_example(option)
    assert checked > 20
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"


def test_errors_are_documented_as_problem_json(anonymous: TestClient) -> None:
    document = anonymous.get("/openapi.json").json()
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and operation["tags"] != ["operations"]:
                    assert list(response["content"]) == ["application/problem+json"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
