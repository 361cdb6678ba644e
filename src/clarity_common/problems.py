"""The one shape of every 4xx and 5xx answer, and rendering that cannot fail.

::

    {"error": {"code": 422, "reason": "invalid_request",
               "message": "1 invalid field; fix it and send the request again: ...",
               "fields": [{"loc": ["body", "samples", 0, "value"],
                           "type": "finite_number", "msg": "Input should be a finite number"}]}}

``code`` repeats the HTTP status, ``reason`` is a stable word a client can branch on,
``message`` says what to do, ``fields`` lists field errors (empty unless the body was
invalid). Health answers that fail carry the same ``error`` object next to their own fields.

Nothing the client sent is echoed back except the keys that locate a field error: an input
value may be NaN, 1e400 or hold an unpaired surrogate, none of which JSON can carry. Every
text goes through :func:`safe_text` (bounded, surrogates escaped), so an error answer never
turns into a second error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_FIELD_ERRORS",
    "ErrorBody",
    "ErrorDetail",
    "FieldError",
    "error_detail",
    "error_response",
    "reason_for",
    "safe_text",
]

MAX_FIELD_ERRORS = 50
"""Field errors listed in one answer; a 400-sample batch can have thousands."""

_MAX_TEXT = 500
_MAX_KEY = 100

_REASONS: Mapping[int, str] = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal",
    503: "unavailable",
}


class FieldError(BaseModel):
    """Where a request is wrong (``loc``), the kind of error (``type``) and what is wrong."""

    model_config = ConfigDict(frozen=True)

    loc: list[str | int]
    type: str
    msg: str


class ErrorDetail(BaseModel):
    """The ``error`` object of every 4xx and 5xx answer."""

    model_config = ConfigDict(frozen=True)

    code: int = Field(ge=400, le=599, description="The HTTP status, repeated.")
    reason: str = Field(description="A stable word for the kind of error (e.g. invalid_request).")
    message: str = Field(description="What went wrong and what to do about it.")
    fields: list[FieldError] = Field(
        default_factory=list, description="Field errors of an invalid request; else empty."
    )


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx answer."""

    model_config = ConfigDict(frozen=True)

    error: ErrorDetail


def safe_text(text: str, *, limit: int = _MAX_TEXT) -> str:
    """``text`` made fit for a JSON answer: unpaired surrogates escaped, at most ``limit`` long."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def reason_for(status: int) -> str:
    """The ``reason`` word of a status (the phrase, snake_cased, for statuses not listed)."""
    if status in _REASONS:
        return _REASONS[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "error"
    return "_".join(phrase.lower().replace("-", " ").split())


def _field(error: Mapping[str, Any]) -> FieldError:
    loc = [
        part if isinstance(part, int) else safe_text(str(part), limit=_MAX_KEY)
        for part in error.get("loc", ())
    ]
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    context = error.get("ctx")
    if error.get("type") == "json_invalid" and isinstance(context, Mapping):
        reason = context.get("error")
        if isinstance(reason, str) and reason not in message:
            message = f"{message}: {reason}"
    return FieldError(
        loc=loc, type=safe_text(str(error.get("type", "invalid"))), msg=safe_text(message)
    )


def error_detail(
    status: int,
    message: str,
    *,
    reason: str | None = None,
    fields: Iterable[Mapping[str, Any]] = (),
) -> ErrorDetail:
    """The ``error`` object for ``status``; ``fields`` are pydantic-style error dicts."""
    listed = [_field(error) for _, error in zip(range(MAX_FIELD_ERRORS), fields, strict=False)]
    return ErrorDetail(
        code=status,
        reason=reason or reason_for(status),
        message=safe_text(message),
        fields=listed,
    )


def error_response(
    status: int,
    message: str,
    *,
    reason: str | None = None,
    fields: Iterable[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON answer in the shape above."""
    detail = error_detail(status, message, reason=reason, fields=fields)
    return JSONResponse(
        ErrorBody(error=detail).model_dump(mode="json"),
        status_code=status,
        headers=dict(headers) if headers else None,
    )
