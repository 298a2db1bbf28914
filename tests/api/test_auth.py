"""Keys: only hashes stored, scopes nest, and every route but the public ones needs one."""

from __future__ import annotations

import hashlib
import re

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from tracker.commands.keys import Scope, api_keys, authenticate, create_api_key, has_any_key
from tracker.db import write_transaction

PUBLIC = {"/health", "/metrics", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}


def test_a_key_looks_like_trk_and_32_url_safe_characters(engine: Engine) -> None:
    key = create_api_key(engine, "read")
    assert re.fullmatch(r"trk_[A-Za-z0-9_-]{32}", key)


def test_only_the_hash_of_a_key_is_stored(engine: Engine) -> None:
    key = create_api_key(engine, Scope.WRITE, "ci")
    with engine.connect() as conn:
        [row] = conn.execute(select(api_keys)).all()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in [str(value) for value in row]
    assert (row.scope, row.description) == ("write", "ci")


def test_authenticate_knows_active_keys_only(engine: Engine) -> None:
    assert not has_any_key(engine)
    key = create_api_key(engine, "admin")
    assert has_any_key(engine)
    assert authenticate(engine, key) is Scope.ADMIN
    assert authenticate(engine, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert authenticate(engine, "not a key") is None
    with write_transaction(engine) as conn:
        conn.execute(update(api_keys).values(revoked_at=api_keys.c.created_at))
    assert authenticate(engine, key) is None
    assert not has_any_key(engine)


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [("read", {"read"}), ("write", {"read", "write"}), ("admin", {"read", "write", "admin"})],
)
def test_scopes_nest(scope: str, allowed: set[str]) -> None:
    assert {s.value for s in Scope if Scope(scope).covers(s)} == allowed


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "anything", path)


def test_every_route_but_the_public_ones_needs_a_key(app: FastAPI, anonymous: TestClient) -> None:
    checked = 0
    # FastAPI includes routers lazily; iter_route_contexts flattens them to their routes.
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if path in PUBLIC:
            continue
        assert isinstance(route.original_route, APIRoute), path
        for method in sorted(route.methods or ()):
            response = anonymous.request(method, _concrete(path), json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")
            checked += 1
    assert checked >= 8


def test_the_public_routes_need_no_key(anonymous: TestClient) -> None:
    for path in ("/health", "/metrics", "/docs", "/openapi.json", "/redoc"):
        assert anonymous.get(path).status_code == 200, path


def test_an_unknown_key_is_401(anonymous: TestClient) -> None:
    response = anonymous.get("/v1/companies", headers={"Authorization": "Bearer trk_" + "x" * 32})
    assert response.status_code == 401
    assert response.json()["detail"] == "the API key is unknown or revoked"
    basic = anonymous.get("/v1/companies", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401


def test_a_read_key_may_not_write(anonymous: TestClient, keys: dict[str, dict[str, str]]) -> None:
    event = {
        "type": "company.registered",
        "occurred_on": "2024",
        "data": {"company": "x", "name": "X"},
    }
    response = anonymous.post("/v1/events", json=event, headers=keys["read"])
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 403
    for scope in ("write", "admin"):
        event["data"] = {"company": scope, "name": scope}
        assert anonymous.post("/v1/events", json=event, headers=keys[scope]).status_code == 201


def test_the_key_is_checked_before_the_body_is_read(anonymous: TestClient) -> None:
    response = anonymous.post(
        "/v1/events", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
