"""The request guard: every body a route receives is declared JSON, bounded and strict JSON.

An ASGI middleware, so every route of an app gets it, whichever router declared it. It acts
only on requests that a route accepts (path and method match) and that carry a body (POST,
PUT, PATCH): unknown paths and methods still reach the router, which answers 404 and 405.

For such a request, in order:

* ``Content-Type`` must be ``application/json`` (415 otherwise);
* the body must fit the route's limit: the ``x-max-body-bytes`` of its ``openapi_extra``
  (see :func:`clarity_common.openapi.json_request`), else :data:`DEFAULT_MAX_BODY_BYTES`. A
  declared ``Content-Length`` over the limit is refused before a byte is read; a streamed
  body is refused as soon as it passes the limit (413);
* the body must be strict JSON (:func:`clarity_common.payloads.parse_json`, 422).

The parsed body is left in ``scope["state"]`` for :func:`clarity_common.payloads.json_body`,
and the bytes are replayed to the app, so FastAPI's own body parameters work unchanged.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clarity_common.errors import InvalidJsonError, PayloadTooLargeError
from clarity_common.payloads import JSON_BODY_STATE, is_json_media_type, parse_json
from clarity_common.problems import error_response

__all__ = ["BODY_METHODS", "DEFAULT_MAX_BODY_BYTES", "MAX_BODY_BYTES_EXTENSION", "RequestGuard"]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
DEFAULT_MAX_BODY_BYTES = 1_048_576
MAX_BODY_BYTES_EXTENSION = "x-max-body-bytes"

_NOT_JSON = (
    "the request body must be JSON: send it with the header Content-Type: application/json (UTF-8)"
)


def _route_for(routes: list[BaseRoute], scope: Scope) -> BaseRoute | None:
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


def _limit_of(route: BaseRoute) -> int:
    extra = getattr(route, "openapi_extra", None) or {}
    limit = extra.get(MAX_BODY_BYTES_EXTENSION, DEFAULT_MAX_BODY_BYTES)
    return limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_BODY_BYTES


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the request body is over {limit} bytes: send a smaller body")


class RequestGuard:
    """ASGI middleware enforcing the module docstring's rules for the routes of ``routes``."""

    def __init__(self, app: ASGIApp, *, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        route = _route_for(self.routes, scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not is_json_media_type(headers.get("content-type")):
            await error_response(415, _NOT_JSON)(scope, receive, send)
            return
        limit = _limit_of(route)
        try:
            body = await self._read(receive, headers, limit)
            if body is None:  # the client went away
                return
            scope.setdefault("state", {})[JSON_BODY_STATE] = parse_json(body)
        except PayloadTooLargeError as exc:
            await error_response(413, str(exc))(scope, receive, send)
            return
        except InvalidJsonError as exc:
            location: list[str | int] = ["body"]
            if exc.position is not None:
                location.append(exc.position)
            field = {"loc": location, "type": "json_invalid", "msg": str(exc)}
            message = f"the body is not valid JSON: {exc}"
            await error_response(422, message, fields=[field])(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _read(receive: Receive, headers: Headers, limit: int) -> bytes | None:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > limit:
                raise _too_large(limit)
            if not message.get("more_body", False):
                return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, then whatever the server sends next (a disconnect, eventually)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
