"""The metadata server of a revision's instances: ID tokens of its runtime service account.

On Cloud Run, code in a container gets tokens of the revision's service account from the
metadata server (``GET /computeMetadata/v1/instance/service-accounts/default/identity?audience=``
with ``Metadata-Flavor: Google``; https://cloud.google.com/run/docs/container-contract#metadata-server).
With an identity, the double runs one such server per runtime account and gives each revision
``GCE_METADATA_HOST`` pointing at its account's server, so one service calling another proves
the same IAM (``run.routes.invoke``) the real platform would demand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["MetadataServers"]

_IDENTITY = "/computeMetadata/v1/instance/service-accounts/default/identity"
_EMAIL = "/computeMetadata/v1/instance/service-accounts/default/email"

Mint = Callable[[str, str], str]  # (service account email, audience) → ID token


class MetadataServers:
    """One metadata server per runtime service account, made on first use."""

    def __init__(self, mint: Mint) -> None:
        self._mint = mint
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._lock = threading.Lock()

    def env_for(self, account: str) -> dict[str, str]:
        """The environment that points a revision running as ``account`` at its server."""
        if not account:
            return {}
        with self._lock:
            server = self._servers.get(account)
            if server is None:
                server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(account))
                server.daemon_threads = True
                threading.Thread(
                    target=server.serve_forever, name=f"metadata-{account}", daemon=True
                ).start()
                self._servers[account] = server
        return {"GCE_METADATA_HOST": f"127.0.0.1:{server.server_address[1]}"}

    def stop(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.shutdown()
            server.server_close()

    def _handler(self, account: str) -> type[BaseHTTPRequestHandler]:
        mint = self._mint

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                split = urlsplit(self.path)
                if self.headers.get("Metadata-Flavor") != "Google":
                    self._reply(403, "Missing required header: Metadata-Flavor")
                elif split.path == _EMAIL:
                    self._reply(200, account)
                elif split.path == _IDENTITY:
                    audience = parse_qs(split.query).get("audience", [""])[0]
                    if audience:
                        self._reply(200, mint(account, audience))
                    else:
                        self._reply(400, "non-empty audience parameter required")
                else:
                    self._reply(404, "Not Found")

            def _reply(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Metadata-Flavor", "Google")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        return Handler
