"""Reading JSON request bodies with the documented limits.

Order matters: the size of the body (413), then JSON syntax (422), then the number of samples
(413), then the fields (422). Nothing is written before all of them pass.
"""

from __future__ import annotations

import json
from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from clarity_common.errors import PayloadTooLargeError

__all__ = [
    "count_samples",
    "parse_json",
    "read_limited_body",
    "read_sample_request",
    "validate_body",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


async def read_limited_body(request: Request, *, max_bytes: int) -> bytes:
    """The request body, or :class:`PayloadTooLargeError` as soon as it exceeds ``max_bytes``."""
    too_large = f"the request body is over {max_bytes} bytes: send fewer samples per request"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLargeError(too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLargeError(too_large)
    return bytes(body)


def parse_json(body: bytes) -> object:
    """Decode JSON, reporting syntax errors the way FastAPI does (422, ``json_invalid``)."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error], body=body.decode(errors="replace")) from None
    except UnicodeDecodeError:
        error = {
            "type": "json_invalid",
            "loc": ("body",),
            "msg": "the body is not UTF-8 JSON",
            "input": {},
        }
        raise RequestValidationError([error]) from None


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
            {**error, "loc": ("body", *error["loc"])}
            for error in exc.errors(include_url=False, include_context=False)
        ]
        raise RequestValidationError(errors, body=data) from None


async def read_sample_request(
    request: Request, model: type[ModelT], *, max_bytes: int, max_samples: int
) -> ModelT:
    """Read, decode, size-check and validate a request that carries a ``samples`` list."""
    data = parse_json(await read_limited_body(request, max_bytes=max_bytes))
    count_samples(data, max_samples=max_samples)
    return validate_body(model, data)
