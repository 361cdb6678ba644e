"""Exception handlers: each error of the tree becomes one status code and a ``detail`` message."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from clarity_common.errors import (
    BackendUnavailableError,
    BatchConflictError,
    BatchInProgressError,
    BatchNotFoundError,
    ClarityError,
    InvalidMessageError,
    PayloadTooLargeError,
)

__all__ = ["install_error_handlers"]

_STATUS: tuple[tuple[type[ClarityError], int], ...] = (
    (PayloadTooLargeError, 413),
    (BatchConflictError, 409),
    (InvalidMessageError, 400),
    (BatchNotFoundError, 404),
    (BackendUnavailableError, 503),
)


async def _clarity_error(_request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    headers = {}
    if isinstance(exc, BatchInProgressError):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    elif isinstance(exc, BackendUnavailableError):
        headers["Retry-After"] = "1"
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`ClarityError` with its status and message (never a traceback)."""
    app.add_exception_handler(ClarityError, _clarity_error)
