"""Every error the API returns, as RFC 9457 problem JSON, mapped in this one module.

    TrackerError
    ├── InvalidInput, IdempotencyMismatch   422
    ├── VersionConflict                     409
    ├── NotFound                            404
    └── StoreUnavailable                    503 (Retry-After)
    RequestValidationError                  422, `errors: [{loc, msg}]`
    HTTPException (401, 403, 404, 405...)   its status, headers kept (WWW-Authenticate, Allow)
    BodyTooLarge                            413
    OperationalError, ConcurrentAppend      503 (the database is down, locked or contended)
    anything else                           500, logged with its trace, none in the body

Routes never build error responses; they raise, and this module answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker.api.schemas import Problem
from tracker.domain.errors import (
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
    StoreUnavailable,
    TrackerError,
    VersionConflict,
)
from tracker.store.appending import ConcurrentAppend

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "BodyTooLarge",
    "UnhandledErrors",
    "install_problem_handlers",
    "problem",
    "problem_responses",
]

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Problem types are URNs: stable identifiers a client can switch on, which need no
# documentation server to resolve (RFC 9457 §3.1.1 allows any URI). Plain HTTP errors
# use "about:blank", whose title is the status phrase (RFC 9457 §4.2.1).
_TYPE = "urn:tracker:problem:"
_RETRY_AFTER_SECONDS = "1"


class BodyTooLarge(Exception):
    """A request body passed `Settings.max_body_bytes`."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


class ProblemResponse(JSONResponse):
    """Problem JSON escaped to ASCII: application/problem+json names no charset, and
    clients that guess one (requests' `.text`) garble non-ASCII details otherwise."""

    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem response; `kind` names the problem type, else it is about:blank."""
    body: dict[str, Any] = {
        "type": _TYPE + kind if kind else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return ProblemResponse(body, status_code=status, headers=headers)


def _errors(items: Sequence[tuple[Sequence[str | int], str]]) -> list[dict[str, Any]]:
    return [{"loc": list(loc), "msg": msg} for loc, msg in items]


def _invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
    return problem(
        422,
        str(exc) or "the input is invalid",
        kind="invalid-input",
        title="Invalid input",
        instance=request.url.path,
        errors=_errors([(error.loc, error.msg) for error in exc.errors]),
    )


def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    items = []
    for error in exc.errors():
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            # FastAPI says only "JSON decode error"; the parser's reason helps more.
            reason = (error.get("ctx") or {}).get("error")
            message = f"malformed JSON: {reason}" if reason else "malformed JSON"
        items.append((tuple(error.get("loc", ())), message.removeprefix("Value error, ")))
    detail = "; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in items)
    return problem(
        422,
        detail or "the request is invalid",
        kind="invalid-input",
        title="Invalid input",
        instance=request.url.path,
        errors=_errors(items),
    )


def _idempotency_mismatch(request: Request, exc: IdempotencyMismatch) -> JSONResponse:
    return problem(
        422,
        str(exc),
        kind="idempotency-key-reused",
        title="Idempotency key reused with a different request",
        instance=request.url.path,
    )


def _version_conflict(request: Request, exc: VersionConflict) -> JSONResponse:
    return problem(
        409,
        str(exc),
        kind="version-conflict",
        title="Version conflict",
        instance=request.url.path,
        stream=exc.stream,
        expected_version=exc.expected,
        actual_version=exc.actual,
    )


def _not_found(request: Request, exc: NotFound) -> JSONResponse:
    return problem(404, str(exc), kind="not-found", title="Not found", instance=request.url.path)


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The cause may name hosts or SQL: log it, tell the client only to retry.
    log.warning("database unavailable", extra={"path": request.url.path, "error": str(exc)})
    return problem(
        503,
        "the database is unavailable or busy; retry shortly",
        kind="unavailable",
        title="Service unavailable",
        instance=request.url.path,
        headers={"Retry-After": _RETRY_AFTER_SECONDS},
    )


def _tracker_error(request: Request, exc: TrackerError) -> JSONResponse:
    return problem(400, str(exc), kind="bad-request", instance=request.url.path)


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path}"
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem(
        exc.status_code, detail, instance=request.url.path, headers=dict(exc.headers or {})
    )


def _body_too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
    return problem(413, str(exc), kind="body-too-large", instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Register the mapping; the most specific class wins (Starlette looks up the MRO)."""
    handlers: list[tuple[type[Exception], Any]] = [
        (InvalidInput, _invalid_input),
        (IdempotencyMismatch, _idempotency_mismatch),
        (VersionConflict, _version_conflict),
        (NotFound, _not_found),
        (StoreUnavailable, _unavailable),
        (TrackerError, _tracker_error),
        (RequestValidationError, _request_validation),
        (StarletteHTTPException, _http_error),
        (BodyTooLarge, _body_too_large),
        (OperationalError, _unavailable),
        (ConcurrentAppend, _unavailable),
    ]
    for exc_class, handler in handlers:
        app.add_exception_handler(exc_class, handler)


class UnhandledErrors:
    """Answer any exception no handler took with a 500 problem, and log its trace.

    Registering a handler for `Exception` with Starlette would re-raise after
    answering (ServerErrorMiddleware), so the error is caught here instead, inside the
    metrics middleware, which then records the 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path")})
            if started:
                raise  # too late for a problem response; let the server drop it
            response = problem(
                500,
                "an unexpected error occurred; it has been logged",
                kind="internal-error",
                instance=scope.get("path"),
            )
            await response(scope, receive, send)


_DESCRIPTIONS = {
    400: "Bad request",
    401: "No API key, or an unknown or revoked one",
    403: "The key's scope does not allow this",
    404: "No such resource",
    409: "expected_version is stale",
    413: "The request body is too large",
    422: "Invalid input; `errors` names each field",
    500: "Unexpected error (logged)",
    503: "The database is unavailable; retry",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these statuses, each a problem document (the media type
    is set to application/problem+json when the document is built, see openapi.py)."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}
