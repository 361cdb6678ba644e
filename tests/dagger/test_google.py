"""Access tokens from a credentials Secret: a real exchange against a local OAuth2 endpoint."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from clarity._errors import CredentialsError
from clarity._google import REGISTRY_USERNAME, access_token, docker_config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

pytestmark = pytest.mark.dagger


class TokenEndpoint(BaseHTTPRequestHandler):
    """Google's OAuth2 token endpoint, enough of it for the JWT-bearer grant."""

    grants: list[dict[str, str]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        form = dict(urllib.parse.parse_qsl(body))
        self.grants.append(form)
        reply: dict[str, Any] = (
            {"access_token": "ya29.local-token", "expires_in": 3600, "token_type": "Bearer"}
            if self.status == 200
            else {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        )
        payload = json.dumps(reply).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def endpoint() -> Iterator[tuple[str, type[TokenEndpoint]]]:
    handler = type("Handler", (TokenEndpoint,), {"grants": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def service_account(token_uri: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "clarity-loop-dev",
            "private_key_id": "0123456789abcdef",
            "private_key": pem,
            "client_email": "deployer@clarity-loop-dev.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": token_uri,
        }
    )


def _claims(assertion: str) -> dict[str, Any]:
    payload = assertion.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def test_a_service_account_key_is_exchanged_for_an_access_token(
    endpoint: tuple[str, type[TokenEndpoint]],
) -> None:
    url, handler = endpoint
    assert access_token(service_account(url)) == "ya29.local-token"
    (grant,) = handler.grants
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = _claims(grant["assertion"])
    # The JWT audience is Google's token URI; the request itself went to ours.
    assert claims["aud"] == "https://oauth2.googleapis.com/token"
    assert claims["iss"] == "deployer@clarity-loop-dev.iam.gserviceaccount.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"


def test_a_refused_key_says_so_without_echoing_the_key(
    endpoint: tuple[str, type[TokenEndpoint]],
) -> None:
    url, handler = endpoint
    handler.status = 400
    key = service_account(url)
    with pytest.raises(CredentialsError, match="Google refused the credentials") as caught:
        access_token(key)
    assert "PRIVATE KEY" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "is not JSON"),
        ("[1, 2]", "not a Google credentials file"),
        ('{"client_email": "x"}', "not a Google credentials file"),
        ('{"type": "service_account"}', "unusable Google credentials"),
        ('{"type": "gdch_service_account"}', "has type 'gdch_service_account'; supported"),
        ('{"type": "external_account"}', "unusable Google credentials"),
    ],
)
def test_unusable_secrets_are_explained(text: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        access_token(text)


def test_docker_config_authenticates_the_registry_host() -> None:
    config = json.loads(docker_config("us-central1-docker.pkg.dev", "ya29.token"))
    auth = config["auths"]["us-central1-docker.pkg.dev"]["auth"]
    assert base64.b64decode(auth).decode() == f"{REGISTRY_USERNAME}:ya29.token"
