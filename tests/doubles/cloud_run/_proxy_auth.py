"""Authentication at the service and tag URLs: the guards ``require_auth`` turns on.

Without an identity the double only checks that a bearer token is present
(:class:`BearerRequired`). With one (:class:`VerifiedIdToken`) it does what Cloud Run's front
end does for a service that is not public
(https://cloud.google.com/run/docs/authenticating/service-to-service,
https://cloud.google.com/run/docs/configuring/custom-audiences):

* no ``Authorization`` header: 403, unless ``allUsers`` may invoke the service;
* a bearer token that is not an ID token the local token endpoint signed, or that expired: 401;
* an ``aud`` that is neither the service's URL nor one of its ``customAudiences`` (on the
  service URL and on every tag URL alike): 401;
* a genuine token whose ``email`` lacks ``run.routes.invoke`` on the service: 403.

The ``aud`` claim is also read, unverified, for the proxy records.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

from ._iam import Identity
from ._proxy_hooks import ProxiedRequest, Refusal

__all__ = ["BearerRequired", "ServiceFacts", "VerifiedIdToken", "is_bearer", "token_audience"]

_NO_PERMISSION = Refusal(403, "Forbidden: Your client does not have permission to get URL.")

# Service id → its full name and the audiences its tokens may carry.
ServiceFacts = Callable[[str], tuple[str, frozenset[str]]]


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
            return _NO_PERMISSION
        if not is_bearer(authorization):
            return Refusal(401, "Unauthorized: the Authorization header is not a bearer token.")
        return None


class VerifiedIdToken:
    """Cloud Run's check of an ID token: signature, expiry, audience, then IAM."""

    def __init__(self, identity: Identity, facts: ServiceFacts) -> None:
        self._identity = identity
        self._facts = facts

    def admit(self, request: ProxiedRequest) -> Refusal | None:
        resource, audiences = self._facts(request.service)
        authorization = request.headers.get("Authorization", "")
        if not authorization:
            public = self._identity.allows({"allUsers"}, "run.routes.invoke", resource)
            return None if public else _NO_PERMISSION
        if not is_bearer(authorization):
            return Refusal(401, "Unauthorized: the Authorization header is not a bearer token.")
        try:
            claims = self._identity.verify_id_token(authorization[7:].strip())
        except ValueError as exc:
            return Refusal(401, f"Unauthorized: the ID token could not be verified ({exc}).")
        audience = claims.get("aud")
        if audience not in audiences:
            return Refusal(
                401,
                f"Unauthorized: the token's audience {audience!r} is neither the service's "
                "URL nor one of its custom audiences.",
            )
        members = {f"serviceAccount:{claims.get('email')}", "allAuthenticatedUsers", "allUsers"}
        if not self._identity.allows(members, "run.routes.invoke", resource):
            return _NO_PERMISSION
        return None
