"""The HTTP face of the double: the Cloud Run Admin API v2 REST routes the client library uses.

Paths, verbs and query parameters are the ones in ``google.cloud.run_v2``'s REST transports
(``services/*/transports/rest_base.py``) and its operations client (``path_prefix="v2"``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .._http import SHUTDOWN_POLL_SECONDS, Server
from ._errors import ApiError

__all__ = ["Answer", "ApiRecord", "ApiServer", "NoAnswer", "Request", "Route", "route_request"]

_LOC = r"^/v2/(?P<parent>projects/[^/]+/locations/[^/]+)"


@dataclass(frozen=True)
class Request:
    """One API call as the double's policies and handlers see it."""

    rpc: str
    http_method: str
    path: str
    query: dict[str, str]
    body: bytes
    params: dict[str, str]
    headers: Message[str, str]

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in {"true", "1"}

    @property
    def line(self) -> str:
        """``"<HTTP method> <path>"``, what ``fail_next`` patterns are searched in."""
        return f"{self.http_method} {self.path}"

    @property
    def resource(self) -> str:
        """The full name of the resource the call is about (service, revision, operation
        or, for list and create calls, the location)."""
        parent = self.params["parent"]
        if "service" in self.params:
            name = f"{parent}/services/{self.params['service']}"
            if "revision" in self.params:
                name += f"/revisions/{self.params['revision']}"
            return name
        if "operation" in self.params:
            return f"{parent}/operations/{self.params['operation']}"
        return parent


@dataclass(frozen=True)
class Route:
    """An RPC: its HTTP rule, the IAM permission it needs and the resource it names."""

    rpc: str
    http_method: str
    pattern: re.Pattern[str]
    permission: str


ROUTES: tuple[Route, ...] = tuple(
    Route(rpc, method, re.compile(_LOC + suffix + "$"), permission)
    for rpc, method, suffix, permission in (
        ("CreateService", "POST", "/services", "run.services.create"),
        ("ListServices", "GET", "/services", "run.services.list"),
        ("GetService", "GET", "/services/(?P<service>[^/:]+)", "run.services.get"),
        ("UpdateService", "PATCH", "/services/(?P<service>[^/:]+)", "run.services.update"),
        ("DeleteService", "DELETE", "/services/(?P<service>[^/:]+)", "run.services.delete"),
        # Any authenticated caller may ask which of some permissions it holds.
        ("TestIamPermissions", "POST", "/services/(?P<service>[^/:]+):testIamPermissions", ""),
        (
            "ListRevisions",
            "GET",
            "/services/(?P<service>[^/:]+)/revisions",
            "run.revisions.list",
        ),
        (
            "GetRevision",
            "GET",
            "/services/(?P<service>[^/:]+)/revisions/(?P<revision>[^/:]+)",
            "run.revisions.get",
        ),
        (
            "DeleteRevision",
            "DELETE",
            "/services/(?P<service>[^/:]+)/revisions/(?P<revision>[^/:]+)",
            "run.revisions.delete",
        ),
        ("ListOperations", "GET", "/operations", "run.operations.list"),
        ("GetOperation", "GET", "/operations/(?P<operation>[^/:]+)", "run.operations.get"),
        ("WaitOperation", "POST", "/operations/(?P<operation>[^/:]+):wait", "run.operations.get"),
        (
            "DeleteOperation",
            "DELETE",
            "/operations/(?P<operation>[^/:]+)",
            "run.operations.delete",
        ),
    )
)


def route_request(
    http_method: str, raw_path: str, body: bytes, headers: Message[str, str]
) -> tuple[Route, Request]:
    """Match an HTTP request to an RPC, or raise the 404 a Google API front end gives."""
    split = urlsplit(raw_path)
    path = unquote(split.path)
    query = {key: values[-1] for key, values in parse_qs(split.query).items()}
    for route in ROUTES:
        if route.http_method != http_method:
            continue
        match = route.pattern.match(path)
        if match:
            params = {key: value for key, value in match.groupdict().items() if value is not None}
            return route, Request(route.rpc, http_method, path, query, body, params, headers)
    msg = f"The requested URL {path} was not found on this server (method {http_method})."
    raise ApiError(404, "NOT_FOUND", msg)


@dataclass(frozen=True)
class Answer:
    """What a call is answered with: an HTTP status and the JSON body."""

    status: int
    payload: dict[str, Any]

    @classmethod
    def of(cls, error: ApiError) -> Answer:
        return cls(error.http_status, error.body())


class NoAnswer(Exception):
    """Close the connection without answering: what a caller sees when an answer is lost."""


@dataclass(frozen=True)
class ApiRecord:
    """One call the double answered, for introspection in tests."""

    rpc: str | None
    http_method: str
    path: str
    query: dict[str, str]
    status: int
    """The HTTP status answered; 0 when the connection was closed without an answer."""
    at: float
    body: bytes = b""  # the request body as sent


Dispatcher = Callable[[Route, Request], Answer]


class ApiServer:
    """A threaded HTTP server that turns requests into RPC calls on the double."""

    def __init__(
        self, *, port: int, dispatch: Dispatcher, record: Callable[[ApiRecord], None]
    ) -> None:
        self._dispatch = dispatch
        self._record = record
        self._server = Server(("127.0.0.1", port), self._handler())
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name="cloud-run-api",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._serve(self)

            def do_POST(self) -> None:
                server._serve(self)

            def do_PATCH(self) -> None:
                server._serve(self)

            def do_DELETE(self) -> None:
                server._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        rpc: str | None = None
        split = urlsplit(request.path)
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        try:
            route, call = route_request(request.command, request.path, body, request.headers)
            rpc = route.rpc
            answer = self._dispatch(route, call)
        except ApiError as error:
            answer = Answer.of(error)
        except NoAnswer:
            self._record(
                ApiRecord(rpc, request.command, unquote(split.path), query, 0, time.time())
            )
            request.close_connection = True  # the caller reads an empty reply: answer lost
            return
        except Exception as error:  # a bug in the double must answer, not hang
            answer = Answer.of(ApiError(500, "INTERNAL", f"Cloud Run double bug: {error!r}"))
        status, payload = answer.status, answer.payload
        # Recorded before answering, so a test that got the answer also sees the record.
        self._record(
            ApiRecord(
                rpc, request.command, unquote(split.path), query, status, time.time(), body=body
            )
        )
        data = json.dumps(payload).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=UTF-8")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
