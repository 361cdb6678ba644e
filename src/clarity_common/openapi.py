"""The OpenAPI document says what each route accepts and every status it can answer.

Routes that read their body themselves (to check limits in order) declare it with
:func:`json_request`; :func:`install_openapi` then puts the body models and the error shape
into ``components`` and completes every operation's responses:

* every operation may answer 500;
* an operation with a body (POST, PUT, PATCH) may answer 413, 415 and 422;
* an operation with parameters may answer 422;
* every 4xx and 5xx response without content of its own is documented as
  :class:`~clarity_common.problems.ErrorBody` (FastAPI's ``HTTPValidationError`` included).

So a new route is documented like the others without repeating any of this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from clarity_common.guard import BODY_METHODS, DEFAULT_MAX_BODY_BYTES, MAX_BODY_BYTES_EXTENSION
from clarity_common.problems import ErrorBody

__all__ = ["COMPONENTS", "error_responses", "install_openapi", "json_request"]

COMPONENTS = "#/components/schemas/"

_ERROR_REF = {"$ref": f"{COMPONENTS}{ErrorBody.__name__}"}
_FRAMEWORK_SCHEMAS = ("HTTPValidationError", "ValidationError")
_STANDARD: dict[str, str] = {
    "413": "The body is over the route's byte limit (x-max-body-bytes) or batch limit",
    "415": "The body is not declared Content-Type: application/json",
    "422": "Malformed JSON or invalid fields (one entry per field in error.fields)",
    "500": "Unexpected error (logged); the body says nothing about the internals",
}


def json_request(
    model: type[BaseModel], *, description: str, max_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is ``model``, at most ``max_bytes`` long.

    The guard reads the limit from here, so the document and the behaviour cannot differ.
    """
    return {
        "requestBody": {
            "required": True,
            "description": f"{description} (at most {max_bytes} bytes of UTF-8 JSON)",
            "content": {"application/json": {"schema": {"$ref": f"{COMPONENTS}{model.__name__}"}}},
        },
        MAX_BODY_BYTES_EXTENSION: max_bytes,
    }


def error_responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's own error statuses, each documented as the error shape."""
    return {status: {"description": text, "model": ErrorBody} for status, text in described.items()}


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": dict(_ERROR_REF)}}


def _complete(operation: dict[str, Any], method: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    wanted = ["500"]
    if method.upper() in BODY_METHODS:
        wanted += ["413", "415", "422"]
    if operation.get("parameters"):
        wanted.append("422")
    for status in wanted:
        responses.setdefault(status, {"description": _STANDARD[status]})
    for status, response in responses.items():
        if status[:1] not in ("4", "5"):
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if not response.get("content") or schema.get("$ref", "").endswith(_FRAMEWORK_SCHEMAS):
            response["content"] = _error_content()
        if status == "422" and response.get("description") == "Validation Error":
            response["description"] = _STANDARD["422"]


def _documented(app: FastAPI, bodies: Sequence[type[BaseModel]]) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    models: list[type[BaseModel]] = [*bodies, ErrorBody]
    _, definitions = models_json_schema(
        [(model, "validation") for model in models],
        ref_template=COMPONENTS + "{model}",
    )
    for name, schema in definitions.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            _complete(operation, method)
    for name in _FRAMEWORK_SCHEMAS:
        schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI, *, bodies: Sequence[type[BaseModel]] = ()) -> None:
    """Serve the completed document; ``bodies`` are the models :func:`json_request` names."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _documented(app, bodies)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
