"""What the stdlib-server doubles share: a quiet handler that answers JSON."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["SHUTDOWN_POLL_SECONDS", "JsonHandler", "Server"]

SHUTDOWN_POLL_SECONDS = 0.05
"""``serve_forever``'s poll interval: ``shutdown()`` waits for the loop's next poll, half a
second by default, and a test's Cloud Run double stops a server per service and tag URL."""


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that answers JSON and logs nothing."""

    def reply_json(self, status: int, payload: object) -> None:
        """Send ``payload`` as the JSON body of a ``status`` response."""
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - silence
        return


class Server(ThreadingHTTPServer):
    """A threaded server whose listen backlog holds a burst: the stdlib's 5 made connects time
    out on a loaded machine while a load test and the probes arrived at once (Cloud Run's front
    end does not drop connections)."""

    request_queue_size = 128
    daemon_threads = True
