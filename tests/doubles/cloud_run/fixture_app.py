"""A tiny HTTP app that honours the backend's revision contract, for the double's own tests.

It starts in a few tens of milliseconds (standard library only) and behaves like the
backend apps as far as delivery is concerned:

* ``GET /health`` (and any path ending in ``health``) answers
  ``{"status": "ok", "service": K_SERVICE, "version": ..., "revision": K_REVISION}``;
* ``GET /env/NAME`` answers ``{"name": NAME, "value": <its value or "">}``;
* any other path answers ``{"revision": K_REVISION, "path": ...}`` so tests can see which
  revision served a request;
* ``CLARITY_FAULT`` switches faults on: ``crash-on-start`` exits with status 1 before
  listening, ``health-500`` fails every health request, ``health-500-after=N`` fails
  health requests after the first ``N``.

Run it as ``python fixture_app.py`` with ``PORT`` set (``--port`` overrides it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["main"]


class _Faults:
    def __init__(self, spec: str) -> None:
        self.crash_on_start = spec == "crash-on-start"
        self.health_fails_after: int | None = None
        if spec == "health-500":
            self.health_fails_after = 0
        elif spec.startswith("health-500-after="):
            self.health_fails_after = int(spec.removeprefix("health-500-after="))
        elif spec and not self.crash_on_start:
            msg = (
                f"unknown CLARITY_FAULT {spec!r}: "
                "use crash-on-start, health-500 or health-500-after=N"
            )
            raise SystemExit(msg)
        self._health_served = 0
        self._lock = threading.Lock()

    def health_ok(self) -> bool:
        with self._lock:
            self._health_served += 1
            served = self._health_served
        return self.health_fails_after is None or served <= self.health_fails_after


def _handler(faults: _Faults) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            revision = os.environ.get("K_REVISION", "")
            if path.rstrip("/").endswith("health"):
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
    if faults.crash_on_start:
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
