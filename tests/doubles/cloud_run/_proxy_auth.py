"""Authentication at the service and tag URLs: the guard ``require_auth`` turns on.

The double checks only that a bearer token is present, never its signature; the ``aud``
claim is read for the proxy records.
"""

from __future__ import annotations

import base64
import binascii
import json

from ._proxy_hooks import ProxiedRequest, Refusal

__all__ = ["BearerRequired", "is_bearer", "token_audience"]


def is_bearer(authorization: str) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <something>``."""
    return authorization.startswith("Bearer ") and bool(authorization[7:].strip())


def token_audience(authorization: str) -> str | None:
    """The ``aud`` claim of a bearer JWT, read without verifying anything; None otherwise."""
    token = authorization.removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    audience = claims.get("aud") if isinstance(claims, dict) else None
    return audience if isinstance(audience, str) else None


class BearerRequired:
    """403 without an ``Authorization`` header, 401 if it is not a bearer token."""

    def admit(self, request: ProxiedRequest) -> Refusal | None:
        authorization = request.headers.get("Authorization", "")
        if not authorization:
            return Refusal(403, "Forbidden: Your client does not have permission to get URL.")
        if not is_bearer(authorization):
            return Refusal(401, "Unauthorized: the Authorization header is not a bearer token.")
        return None
