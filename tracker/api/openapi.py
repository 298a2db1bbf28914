"""The OpenAPI document: FastAPI's, with problem responses typed as such.

FastAPI files every declared response under application/json and adds its own 422
shape; this API answers errors as application/problem+json (problems.py), so each
error response is rewritten to say so, and the request bodies parsed by hand
(`POST /v1/events`) get their schemas added to the components.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from tracker.api.problems import PROBLEM_MEDIA_TYPE

__all__ = ["openapi_document"]

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_FASTAPI_422 = ("#/components/schemas/Problem", "#/components/schemas/HTTPValidationError")


def _error_content(response: dict[str, Any]) -> None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    if schema.get("$ref") in _FASTAPI_422:
        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}


def openapi_document(app: FastAPI, request_models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _, extra = models_json_schema(
        [(model, "validation") for model in request_models],
        ref_template="#/components/schemas/{model}",
    )
    schemas.update(extra.get("$defs", {}))
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if str(status)[0] in "45":
                    _error_content(response)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = document
    return document
