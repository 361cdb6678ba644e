"""Exception handlers: every error, ours or the framework's, answers in the one JSON shape.

* each :class:`ClarityError` maps to its status (503s with ``Retry-After``);
* FastAPI's validation errors become 422 with ``fields`` (locations, types, messages; never
  the offending input, which may not be serializable);
* Starlette's HTTP errors (404 for unknown paths, 405 with ``Allow``) keep status and headers;
* anything else is a 500 that says nothing about the internals; the traceback goes to the log.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from clarity_common.errors import (
    BackendUnavailableError,
    BatchConflictError,
    BatchInProgressError,
    BatchNotFoundError,
    ClarityError,
    InvalidJsonError,
    InvalidMessageError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from clarity_common.problems import error_response

__all__ = ["install_error_handlers"]

_log = logging.getLogger("clarity")

_STATUS: tuple[tuple[type[ClarityError], int], ...] = (
    (PayloadTooLargeError, 413),
    (UnsupportedMediaTypeError, 415),
    (InvalidJsonError, 422),
    (BatchConflictError, 409),
    (InvalidMessageError, 400),
    (BatchNotFoundError, 404),
    (BackendUnavailableError, 503),
)

_MESSAGES = {
    404: "no such resource: GET /openapi.json lists this service's routes",
    405: "this path does not accept that method: the Allow header lists the ones it does",
}


async def _clarity_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    if status >= 500:
        _log.warning("%s %s answered %d: %s", request.method, request.url.path, status, exc)
    headers = {}
    if isinstance(exc, BatchInProgressError):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    elif isinstance(exc, BackendUnavailableError):
        headers["Retry-After"] = "1"
    fields = []
    if isinstance(exc, InvalidJsonError):
        location: list[str | int] = ["body"] if exc.position is None else ["body", exc.position]
        fields.append({"loc": location, "type": "json_invalid", "msg": str(exc)})
    return error_response(status, str(exc), fields=fields, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    count = len(errors)
    noun = "field is invalid" if count == 1 else "fields are invalid"
    message = f"{count} {noun}: error.fields says where and why; fix and send again"
    return error_response(422, message, fields=errors)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for it only
        raise exc
    message = _MESSAGES.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, message, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    _log.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error: it was logged; retrying may not help")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the one JSON shape (see the module docstring)."""
    app.add_exception_handler(ClarityError, _clarity_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
