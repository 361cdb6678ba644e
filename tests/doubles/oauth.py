"""A local OAuth 2.0 token endpoint for service-account credentials.

google-auth's service-account credentials sign a JWT assertion with the key from the
credentials file and POST it to that file's ``token_uri``. Pointing ``token_uri`` here lets the
delivery library run its production credential code unchanged: access tokens for the Admin
API, and ID tokens (``target_audience`` in the assertion) for health probes. The endpoint
verifies each assertion's signature with the key it issued, so a wrong or tampered key fails
as it would against Google.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from tests.doubles._http import JsonHandler

__all__ = ["TokenEndpoint"]

_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


class TokenEndpoint:
    """Serves ``POST /token`` on 127.0.0.1 and writes credential files that point at it."""

    def __init__(self, email: str = "deployer@clarity-test.iam.gserviceaccount.com") -> None:
        self.email = email
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        self._signer = crypt.RSASigner.from_string(self._private_pem, key_id="local")
        self.issued: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def token_uri(self) -> str:
        """Where credential files send their assertions."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def start(self) -> TokenEndpoint:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (if started) and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def write_credentials(self, path: Path) -> Path:
        """A service-account credentials file (mode 0600) whose token_uri is this endpoint."""
        info = {
            "type": "service_account",
            "project_id": "clarity-test",
            "private_key_id": "local",
            "private_key": self._private_pem,
            "client_email": self.email,
            "client_id": "1",
            "token_uri": self.token_uri,
        }
        path.touch(mode=0o600)
        path.write_text(json.dumps(info))
        return path

    def id_tokens_for(self, audience: str) -> int:
        """How many ID tokens were issued for ``audience``."""
        with self._lock:
            return sum(1 for i in self.issued if i.get("audience") == audience)

    def _issue(self, assertion: str) -> dict[str, Any]:
        # Google's ID-token grant signs the assertion for Google's own token endpoint whatever
        # token_uri says; access-token grants use token_uri. Accept both, as Google does.
        claims = jwt.decode(
            assertion, certs=self._public_pem, audience=[self.token_uri, _GOOGLE_TOKEN_URI]
        )
        now = int(time.time())
        audience = claims.get("target_audience")
        with self._lock:
            self.issued.append({"sub": claims.get("iss"), "audience": audience})
        if audience:
            token = jwt.encode(
                self._signer,
                {
                    "iss": "https://accounts.google.com",
                    "aud": audience,
                    "email": claims["iss"],
                    "sub": claims["iss"],
                    "iat": now,
                    "exp": now + 3600,
                },
            ).decode()
            return {"id_token": token}
        return {
            "access_token": f"local-access-{now}-{len(self.issued)}",
            "expires_in": 3600,
            "token_type": "Bearer",
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib handler's name
                length = int(self.headers.get("content-length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                try:
                    if form.get("grant_type", [""])[0] != _JWT_BEARER:
                        raise ValueError("unsupported grant_type")  # noqa: TRY301, EM101
                    body, status = endpoint._issue(form["assertion"][0]), 200
                except (ValueError, KeyError) as exc:
                    body, status = {"error": "invalid_grant", "error_description": str(exc)}, 400
                self.reply_json(status, body)

        return Handler
