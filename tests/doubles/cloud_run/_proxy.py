"""The service and tag URLs: local reverse proxies in front of the revision processes.

A service URL splits requests across revisions by percent with smooth weighted round robin
(deterministic: over any window of 100 requests each revision gets its percent, and the
picks interleave instead of arriving in blocks). A tag URL always reaches its revision.

Whatever else should happen per request (authentication, recording, metrics) is a guard or
an observer (:mod:`._proxy_hooks`) handed to the proxy, not code in here.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from .._http import SHUTDOWN_POLL_SECONDS, Server
from ._proxy_auth import is_bearer, token_audience
from ._proxy_hooks import ProxiedRequest, ProxyGuard, ProxyObserver, ProxyRecord

__all__ = ["Backend", "TrafficProxy", "WeightedRoundRobin"]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


@dataclass(frozen=True)
class Backend:
    """Where a request goes: a revision and the port its process listens on."""

    revision: str
    port: int


class WeightedRoundRobin:
    """Smooth weighted round robin (as nginx does it) over revisions weighted by percent."""

    def __init__(self, weights: Sequence[tuple[Backend, int]]) -> None:
        self._entries = [(backend, weight) for backend, weight in weights if weight > 0]
        self._current = [0] * len(self._entries)
        self._total = sum(weight for _, weight in self._entries)
        self._lock = threading.Lock()

    def pick(self) -> Backend | None:
        with self._lock:
            if not self._entries:
                return None
            best = 0
            for index, (_, weight) in enumerate(self._entries):
                self._current[index] += weight
                if self._current[index] > self._current[best]:
                    best = index
            self._current[best] -= self._total
            return self._entries[best][0]


class TrafficProxy:
    """An HTTP server on its own port that forwards each request to a chosen revision."""

    def __init__(
        self,
        *,
        service: str,
        tag: str | None,
        port: int,
        guards: Sequence[ProxyGuard],
        observers: Sequence[ProxyObserver],
    ) -> None:
        self.service = service
        self.tag = tag
        self._guards = tuple(guards)
        self._observers = tuple(observers)
        self._route: Callable[[], Backend | None] = lambda: None
        self._server = Server(("127.0.0.1", port), self._handler())
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name=f"cloud-run-proxy-{service}-{tag or 'service'}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def route_to(self, route: Callable[[], Backend | None]) -> None:
        """Send the following requests where ``route`` says (None answers 404)."""
        self._route = route

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy._forward(self)

            def do_POST(self) -> None:
                proxy._forward(self)

            def do_PUT(self) -> None:
                proxy._forward(self)

            def do_PATCH(self) -> None:
                proxy._forward(self)

            def do_DELETE(self) -> None:
                proxy._forward(self)

            def do_HEAD(self) -> None:
                proxy._forward(self)

            def do_OPTIONS(self) -> None:
                proxy._forward(self)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        return Handler

    def _forward(self, request: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        authorization = request.headers.get("Authorization", "")
        authorized = is_bearer(authorization)
        audience = token_audience(authorization) if authorized else None
        backend: Backend | None = None
        answer = self._refusal(request)
        if answer is None:
            backend = self._route()
            if backend is None:
                answer = _text(404, "Not Found: no revision serves this URL.")
            else:
                answer = _relay(request, backend)
        status, headers, payload = answer
        record = ProxyRecord(
            service=self.service,
            tag=self.tag,
            revision=backend.revision if backend else None,
            method=request.command,
            path=request.path,
            status=status,
            authorized=authorized,
            audience=audience,
            at=time.time(),
            duration=time.monotonic() - arrived,
        )
        # Observed before answering, so a client that got the answer also sees the record.
        for observer in self._observers:
            observer.served(record)
        request.send_response(status)
        for key, value in headers:
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload)

    def _refusal(self, request: BaseHTTPRequestHandler) -> _Answer | None:
        """The first guard's refusal, rendered; None if every guard admits the request."""
        incoming = ProxiedRequest(
            service=self.service,
            tag=self.tag,
            url=self.url,
            method=request.command,
            path=request.path,
            headers=request.headers,
        )
        for guard in self._guards:
            refusal = guard.admit(incoming)
            if refusal is not None:
                return _text(refusal.status, refusal.text)
        return None


_Answer = tuple[int, list[tuple[str, str]], bytes]


def _text(status: int, text: str) -> _Answer:
    return status, [("Content-Type", "text/plain; charset=utf-8")], text.encode()


def _relay(request: BaseHTTPRequestHandler, backend: Backend) -> _Answer:
    length = int(request.headers.get("Content-Length") or 0)
    body = request.rfile.read(length) if length else None
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    connection = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=30)
    try:
        connection.request(request.command, request.path, body=body, headers=headers)
        upstream = connection.getresponse()
        payload = upstream.read()
    except OSError:
        return _text(
            503,
            "Service Unavailable: the request failed because the connection to the instance "
            f"of revision {backend.revision} had an error.",
        )
    finally:
        connection.close()
    kept = [
        (key, value)
        for key, value in upstream.getheaders()
        if key.lower() not in _HOP_BY_HOP and key.lower() not in {"server", "date"}
    ]
    return upstream.status, kept, payload
