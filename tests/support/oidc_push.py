"""The OIDC token a push subscription carries, for the Pub/Sub emulator's pushes.

Terraform's push subscriptions (terraform/modules/pubsub) have an ``oidc_token``: Pub/Sub
signs an ID token of the push service account (``clarity-pubsub-push``) for the subscription's
audience (the service's URL) and sends it as ``Authorization: Bearer``; Cloud Run's front end
verifies it and that the account may invoke the service (``run.routes.invoke``, which
terraform/stack/run.tf grants it). The emulator keeps a subscription's push endpoint but signs
no token, so a service that requires authentication, as the Cloud Run double's do, refuses
its pushes.

:class:`OidcPush` stands where Pub/Sub's signing happens: the emulator pushes to it, and it
forwards each push unchanged to the service's URL with an ID token of the push account minted
by the tests' token authority. The double then verifies that token (signature, expiry,
audience) and IAM as strictly as any other caller's; nothing behind the front end is reached
any other way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

__all__ = ["OidcPush"]

_FORWARDED = ("content-type", "user-agent")


class OidcPush:
    """Forwards every POST to ``target`` (a service URL) with ``Authorization: Bearer`` of
    ``token()``, an ID token of the push account for the subscription's audience."""

    def __init__(self, target: str, token: Callable[[], str]) -> None:
        self.target = target.rstrip("/")
        self._token = token
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The push endpoint's base URL to give the emulator's subscription."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OidcPush:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k: v for k, v in self.headers.items() if k.lower() in _FORWARDED}
                headers["Authorization"] = f"Bearer {relay._token()}"
                try:
                    answer = httpx.post(
                        relay.target + self.path, content=body, headers=headers, timeout=30
                    )
                    status, content = answer.status_code, answer.content
                except httpx.HTTPError as exc:  # the service is down: the push fails, as on GCP
                    status, content = 502, str(exc).encode()
                self.send_response(status)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - silence
                return

        return Handler
