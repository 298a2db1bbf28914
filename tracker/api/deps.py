"""Dependencies the routes declare: the engine, a read connection, the caller's key,
the event body and the paging parameters.

`ReadKey`, `WriteKey` and `AdminKey` check `Authorization: Bearer KEY` against the
stored hashes; scopes nest (admin ⊃ write ⊃ read). A missing or unknown key is 401,
a key of too small a scope 403, both as problem JSON (problems.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine

from tracker.commands.keys import Scope, authenticate
from tracker.db import read_only_connection
from tracker.settings import Settings

__all__ = [
    "AdminKey",
    "CompanyFilter",
    "ConnectionDep",
    "Cursor",
    "EngineDep",
    "EventBody",
    "EventTypes",
    "FromDate",
    "ReadKey",
    "SettingsDep",
    "Slug",
    "ToDate",
    "WriteKey",
    "limit_query",
]


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_connection(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """One read transaction per request, so a request's queries see one another's rows."""
    with read_only_connection(engine) as conn:
        yield conn


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ConnectionDep = Annotated[Connection, Depends(get_connection)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `tracker keys create`, sent as `Authorization: Bearer trk_...`.",
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tracker"'}


def _caller_scope(engine: Engine, credentials: HTTPAuthorizationCredentials | None) -> Scope:
    if credentials is None:
        raise HTTPException(401, "an API key is required: Authorization: Bearer KEY", _CHALLENGE)
    scope = authenticate(engine, credentials.credentials)
    if scope is None:
        raise HTTPException(401, "the API key is unknown or revoked", _CHALLENGE)
    return scope


def _requiring(needed: Scope) -> Any:
    def require(
        engine: EngineDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Scope:
        scope = _caller_scope(engine, credentials)
        if not scope.covers(needed):
            raise HTTPException(403, f"this needs a {needed} key; yours is a {scope} key")
        return scope

    require.__name__ = f"require_{needed}_key"
    return require


ReadKey = Annotated[Scope, Depends(_requiring(Scope.READ))]
WriteKey = Annotated[Scope, Depends(_requiring(Scope.WRITE))]
AdminKey = Annotated[Scope, Depends(_requiring(Scope.ADMIN))]


async def _event_body(request: Request) -> Any:
    """The raw JSON body, parsed here rather than by FastAPI so that the key is checked
    first (dependencies run in order; FastAPI parses a declared body before them) and
    the domain validates each field with its own messages."""
    body = await request.body()
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "a JSON body is required"}]
        )
    try:
        return json.loads(body)
    except (UnicodeDecodeError, RecursionError) as exc:
        reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "nested too deeply"
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": reason, "ctx": {"error": reason}}]
        ) from None
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "malformed JSON",
                    "ctx": {"error": f"{exc.msg} at line {exc.lineno} column {exc.colno}"},
                }
            ]
        ) from None


EventBody = Annotated[Any, Depends(_event_body)]


def limit_query(default: int, maximum: int) -> Any:
    """A `limit` parameter: how many items a page holds, at most `maximum`."""
    return Query(
        ge=1, le=maximum, description=f"Items per page (default {default}, max {maximum})."
    )


Cursor = Annotated[
    str | None,
    Query(
        max_length=500,
        description="`next_cursor` of the previous page; omit for the first page.",
    ),
]


EventTypes = Annotated[
    list[str],
    Query(
        alias="type",
        description="Event types, or prefixes such as `leadership.*`; repeat or comma-separate.",
    ),
]
FromDate = Annotated[
    date | None,
    Query(alias="from", description="Inclusive; compares the last day of each fact's period."),
]
ToDate = Annotated[
    date | None,
    Query(description="Inclusive; compares the last day of each fact's period."),
]
CompanyFilter = Annotated[
    str | None, Query(max_length=200, description="A company slug, name or alias.")
]
Slug = Annotated[str, Path(max_length=200)]
