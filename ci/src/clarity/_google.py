"""Google access tokens for Artifact Registry, minted from a credentials Secret.

The Secret's plaintext (a service-account key or a workload-identity credential
configuration) is parsed here, in the module's own process: it never reaches argv, an
environment variable or a log line. The token becomes a new ``dagger.Secret``.
"""

from __future__ import annotations

import base64
import json
from typing import Final

import google.auth
import google.auth.exceptions
import google.auth.transport
import google.auth.transport.requests
from clarity_delivery import CredentialsError as DeliveryCredentialsError
from clarity_delivery import credentials_from_info

from clarity._errors import CredentialsError

__all__ = ["REGISTRY_USERNAME", "access_token", "docker_config"]

REGISTRY_USERNAME: Final = "oauth2accesstoken"
_SCOPES: Final = ("https://www.googleapis.com/auth/cloud-platform",)
_HOW_TO_FIX: Final = (
    "pass a service-account key or a workload-identity credential configuration, "
    "e.g. --credentials file:./key.json or --credentials env:GOOGLE_CREDENTIALS"
)


def access_token(
    credentials_json: str, *, request: google.auth.transport.Request | None = None
) -> str:
    """Exchange Google credentials (JSON text) for an OAuth2 access token."""
    try:
        info = json.loads(credentials_json)
    except json.JSONDecodeError:
        msg = f"the credentials Secret is not JSON: {_HOW_TO_FIX}"
        raise CredentialsError(msg) from None
    if not isinstance(info, dict) or "type" not in info:
        msg = f"the credentials Secret is not a Google credentials file: {_HOW_TO_FIX}"
        raise CredentialsError(msg)
    try:
        credentials = credentials_from_info(info, where="the credentials Secret")
    except DeliveryCredentialsError as exc:
        msg = f"unusable Google credentials: {exc.message}. {_HOW_TO_FIX}"
        raise CredentialsError(msg) from None
    try:
        credentials.refresh(request or google.auth.transport.requests.Request())
    except google.auth.exceptions.GoogleAuthError as exc:
        msg = f"Google refused the credentials: {exc}. Check the key is active and not expired"
        raise CredentialsError(msg) from None
    token = credentials.token
    if not isinstance(token, str) or not token:
        msg = "Google returned no access token for the credentials"
        raise CredentialsError(msg)
    return token


def docker_config(host: str, token: str) -> str:
    """A Docker ``config.json`` authenticating ``host`` with an access token (for cosign)."""
    auth = base64.b64encode(f"{REGISTRY_USERNAME}:{token}".encode()).decode()
    return json.dumps({"auths": {host: {"auth": auth}}})
