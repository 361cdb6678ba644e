"""The engine double: Dagger's GraphQL endpoint on 127.0.0.1, backed by the model.

The real dagger-io client connects to it the way a module runtime connects to its
engine session: ``DAGGER_SESSION_PORT`` and ``DAGGER_SESSION_TOKEN`` (HTTP basic auth,
the token as user name), ``POST /query``, the schema fetched by introspection first.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from graphql import graphql_sync

from tests.doubles._http import JsonHandler
from tests.doubles.dagger_engine._api import Calls, build
from tests.doubles.dagger_engine._engine import Engine
from tests.doubles.dagger_engine._world import World

__all__ = ["EngineDouble"]


class EngineDouble:
    """Serves the model over HTTP from a background thread; ``stop()`` or ``with``."""

    def __init__(self, world: World | None = None) -> None:
        self.world = world or World()
        self.engine = Engine(self.world)
        self.calls = Calls()
        self.token = secrets.token_urlsafe(16)
        self.queries = 0
        self._introspection: dict[str, dict[str, Any]] = {}
        self._introspection_lock = threading.Lock()
        self._schema = build(self.engine, self.calls)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="engine-double", daemon=True
        )

    @property
    def port(self) -> int:
        """The session port."""
        return int(self._server.server_address[1])

    def start(self) -> EngineDouble:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> EngineDouble:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def execute(self, body: dict[str, Any]) -> dict[str, Any]:
        """Run one GraphQL request against the model."""
        self.queries += 1
        query = str(body.get("query", ""))
        if query.lstrip().startswith("query IntrospectionQuery"):
            # Every connection starts with it; the schema never changes.
            with self._introspection_lock:
                if query not in self._introspection:
                    self._introspection[query] = self._run(body)
                return self._introspection[query]
        return self._run(body)

    def _run(self, body: dict[str, Any]) -> dict[str, Any]:
        result = graphql_sync(
            self._schema,
            body.get("query", ""),
            variable_values=body.get("variables"),
            operation_name=body.get("operationName"),
        )
        response: dict[str, Any] = {"data": result.data}
        if result.errors:
            response["errors"] = [error.formatted for error in result.errors]
        return response

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"
            # Keep-alive with headers and body written separately: without this, Nagle's
            # algorithm and the client's delayed ACK add ~40 ms to every query.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 - the stdlib handler's name
                if self.path != "/query":
                    self.reply_json(404, {"message": f"no such endpoint {self.path}"})
                    return
                if not self._authorized():
                    self.reply_json(401, {"message": "unauthorized"})
                    return
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                self.reply_json(200, double.execute(body))

            def _authorized(self) -> bool:
                header = self.headers.get("authorization", "")
                scheme, _, value = header.partition(" ")
                if scheme.lower() != "basic":
                    return False
                user = base64.b64decode(value).decode().partition(":")[0]
                return secrets.compare_digest(user, double.token)

        return Handler
