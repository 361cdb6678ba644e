"""A tiny HTTP app that honours the backend's revision contract, for the double's own tests.

It starts in a few tens of milliseconds (standard library only) and behaves like the
backend apps as far as delivery is concerned:

* ``GET /health`` (and any path ending in ``health``) answers
  ``{"status": "ok", "service": K_SERVICE, "version": ..., "revision": K_REVISION}``;
* ``GET /env/NAME`` answers ``{"name": NAME, "value": <its value or "">}``;
* any other path answers ``{"revision": K_REVISION, "path": ...}`` so tests can see which
  revision served a request;
* ``POST`` to any path answers like ``GET`` (after reading the body), so load can include
  writes;
* ``CLARITY_FAULT`` switches faults on, with the backend's own grammar
  (:mod:`clarity_common.faults`, which uses only the standard library): ``crash-on-start``
  exits with status 1 before listening, ``health-500`` fails every health request,
  ``health-500-after=N`` fails health requests after the first ``N``; ``ingest-500`` fails
  ``POST /v1/healthkit/samples``, ``error-rate=F`` fails that fraction of the non-health
  requests, ``latency=MS`` delays every answer.

Run it as ``python fixture_app.py`` with ``PORT`` set (``--port`` overrides it) and the
backend's ``src`` on ``PYTHONPATH`` (the double gives every revision that).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from clarity_common.faults import Fault, is_health_path, parse_fault

__all__ = ["main"]


class _Faults:
    """The parsed fault and the per-process request counters it needs."""

    def __init__(self, spec: str) -> None:
        try:
            self.fault: Fault = parse_fault(spec)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
        self._health = itertools.count(1)
        self._other = itertools.count(1)
        self._lock = threading.Lock()

    def health_ok(self) -> bool:
        with self._lock:
            number = next(self._health)
        return not self.fault.health_fails(number)

    def request_fails(self, method: str, path: str) -> bool:
        with self._lock:
            number = next(self._other)
        return self.fault.request_fails(method, path, number)


def _handler(faults: _Faults) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            revision = os.environ.get("K_REVISION", "")
            if faults.fault.added_latency_seconds:
                time.sleep(faults.fault.added_latency_seconds)
            if not is_health_path(path) and faults.request_fails(self.command, path):
                self._reply(500, {"detail": f"CLARITY_FAULT={faults.fault}", "revision": revision})
            elif path.rstrip("/").endswith("health"):
                ok = faults.health_ok()
                body = {
                    "status": "ok" if ok else "error",
                    "service": os.environ.get("K_SERVICE", ""),
                    "version": os.environ.get("CLARITY_VERSION", "0.0.0"),
                    "revision": revision,
                }
                self._reply(200 if ok else 500, body)
            elif path.startswith("/env/"):
                name = path.removeprefix("/env/")
                self._reply(200, {"name": name, "value": os.environ.get(name, "")})
            else:
                self._reply(200, {"revision": revision, "path": path})

        def _reply(self, status: int, body: dict[str, str]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return Handler


def main(argv: list[str] | None = None) -> int:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args(argv)
    faults = _Faults(os.environ.get("CLARITY_FAULT", ""))
    if faults.fault.crashes_on_start:
        sys.stderr.write("CLARITY_FAULT=crash-on-start: exiting before listening\n")
        return 1
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(faults))
    server.daemon_threads = True
    sys.stderr.write(f"fixture app {os.environ.get('K_REVISION', '')} on port {args.port}\n")
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
