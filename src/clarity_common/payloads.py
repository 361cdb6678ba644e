"""Strict, bounded JSON for request bodies, and validation into the request models.

What a body must be, checked in this order (nothing is written before all of them pass):

1. ``Content-Type: application/json`` (charset, if given, UTF-8), else 415;
2. at most the route's byte limit, else 413 (see :mod:`clarity_common.guard`);
3. strict JSON, else 422 ``json_invalid``: UTF-8; no ``NaN``/``Infinity`` (not JSON);
   integers of at most :data:`MAX_INTEGER_DIGITS` digits, decimals that stay finite
   (``1e400`` does not); at most :data:`MAX_JSON_DEPTH` levels of nesting; no unpaired
   UTF-16 surrogate escapes (``"\\ud800"``, which no store or encoder accepts);
4. for sample requests, at most the batch's number of samples, else 413;
5. the fields, else 422 with one entry per field error.
"""

from __future__ import annotations

import json
import re
from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from clarity_common.errors import InvalidJsonError, PayloadTooLargeError

__all__ = [
    "JSON_BODY_STATE",
    "MAX_INTEGER_DIGITS",
    "MAX_JSON_DEPTH",
    "count_samples",
    "is_json_media_type",
    "json_body",
    "parse_json",
    "read_sample_request",
    "validate_body",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

MAX_JSON_DEPTH = 32
"""Nesting levels a body may have; a sample batch has four."""

MAX_INTEGER_DIGITS = 32
"""Digits an integer literal may have (Python refuses to convert more than 4,300)."""

JSON_BODY_STATE = "clarity.json_body"
"""Key of ``scope["state"]`` where the guard leaves the body it parsed."""

_SURROGATE = re.compile("[\ud800-\udfff]")


class _Rejected(ValueError):
    """A literal the strict parser refuses; the message says why."""


def _reject_constant(name: str) -> object:
    msg = f"{name} is not JSON: send numbers as finite decimals"
    raise _Rejected(msg)


def _integer(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INTEGER_DIGITS:
        msg = f"an integer has more than {MAX_INTEGER_DIGITS} digits"
        raise _Rejected(msg)
    return int(literal)


def _decimal(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        msg = f"the number {literal[:20]}{'...' if len(literal) > 20 else ''} is out of range"
        raise _Rejected(msg)
    return value


def is_json_media_type(content_type: str | None) -> bool:
    """True for ``application/json``, optionally with ``charset=utf-8``."""
    if not content_type:
        return False
    media, _, parameters = content_type.partition(";")
    if media.strip().lower() != "application/json":
        return False
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            return False
    return True


def _check_structure(document: object, *, surrogates: bool) -> None:
    """Depth and unpaired surrogates, walked without recursion."""
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
            msg = f"the body is nested deeper than {MAX_JSON_DEPTH} levels"
            raise InvalidJsonError(msg)
        if isinstance(value, dict):
            for key, item in value.items():
                if surrogates and _SURROGATE.search(key):
                    msg = "a key holds an unpaired UTF-16 surrogate escape: send valid Unicode"
                    raise InvalidJsonError(msg)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif surrogates and isinstance(value, str) and _SURROGATE.search(value):
            msg = "a string holds an unpaired UTF-16 surrogate escape: send valid Unicode"
            raise InvalidJsonError(msg)


def parse_json(body: bytes) -> object:
    """Decode a body as strict, bounded JSON (see the module docstring), or :class:`InvalidJsonError`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = "the body is not UTF-8: send JSON encoded as UTF-8"
        raise InvalidJsonError(msg, position=exc.start) from None
    try:
        document = json.loads(
            text, parse_constant=_reject_constant, parse_int=_integer, parse_float=_decimal
        )
    except json.JSONDecodeError as exc:
        msg = f"JSON decode error: {exc.msg}"
        raise InvalidJsonError(msg, position=exc.pos) from None
    except RecursionError:
        msg = f"the body is nested deeper than {MAX_JSON_DEPTH} levels"
        raise InvalidJsonError(msg) from None
    except _Rejected as exc:
        raise InvalidJsonError(str(exc)) from None
    # Cheap bounds first: deeper nesting needs that many brackets, surrogates need an escape.
    deep = text.count("[") + text.count("{") > MAX_JSON_DEPTH
    surrogates = "\\u" in text
    if deep or surrogates:
        _check_structure(document, surrogates=surrogates)
    return document


async def json_body(request: Request) -> object:
    """The body as parsed by the guard, or parsed strictly here when no guard ran."""
    state = request.scope.get("state") or {}
    if JSON_BODY_STATE in state:
        return state[JSON_BODY_STATE]
    return parse_json(await request.body())


def count_samples(data: object, *, max_samples: int) -> None:
    """Raise :class:`PayloadTooLargeError` when ``data["samples"]`` exceeds ``max_samples``."""
    samples = data.get("samples") if isinstance(data, dict) else None
    if isinstance(samples, list) and len(samples) > max_samples:
        msg = (
            f"{len(samples)} samples in one request; the limit is {max_samples}: "
            "split them into several requests, each with its own batch_id"
        )
        raise PayloadTooLargeError(msg)


def validate_body(model: type[ModelT], data: object) -> ModelT:
    """Validate ``data`` as ``model``; field errors become a 422 with ``body``-rooted locations."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"loc": ("body", *error["loc"]), "type": error["type"], "msg": error["msg"]}
            for error in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise RequestValidationError(errors) from None


async def read_sample_request(request: Request, model: type[ModelT], *, max_samples: int) -> ModelT:
    """Decode, size-check and validate a request that carries a ``samples`` list."""
    data = await json_body(request)
    count_samples(data, max_samples=max_samples)
    return validate_body(model, data)
