"""The token endpoints google-auth calls, answering as Google's do and checking IAM first.

* ``POST /token``: OAuth 2.0 JWT-bearer grant of a service-account key file: an access token,
  or an ID token when the assertion carries ``target_audience`` (the key holder may always
  mint its own, as with Google); or the refresh-token grant of an ``authorized_user`` file
  (what ``gcloud auth application-default login`` writes): an access token of that user.
* ``POST /v1/token``: the Security Token Service's token exchange for workload identity
  federation: a GitHub Actions OIDC token for a federated access token, refused unless the
  provider's attribute condition holds (``repository_id``, ``repository_owner_id``).
* ``POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken`` and ``:generateIdToken``
  (IAM Service Account Credentials API): the caller's access token must stand for a member
  with ``iam.serviceAccounts.getAccessToken`` / ``iam.serviceAccounts.getOpenIdToken`` on
  EMAIL, or the answer is 403 ``PERMISSION_DENIED`` with an ``ErrorInfo``, as Google's.
* ``GET /github-actions/token?audience=``: what GitHub's ``ACTIONS_ID_TOKEN_REQUEST_URL``
  serves a job (``{"value": <JWT>}``), for the credential file's ``credential_source.url``.
* the metadata server of a Google compute instance running as a service account: its access
  tokens and ID tokens (:meth:`IdentityEndpoints.metadata_token`, ``metadata_id_token``).

References: https://cloud.google.com/iam/docs/reference/credentials/rest,
https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token,
https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ._policy import IamPolicy, service_account_resource
from ._tokens import GITHUB_ISSUER, InvalidToken, TokenAuthority

__all__ = ["Answer", "IdentityEndpoints", "WorkloadIdentityProvider", "parse_json"]

_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_REFRESH = "refresh_token"
_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
_GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class WorkloadIdentityProvider:
    """A workload identity pool provider for GitHub Actions, as terraform/modules/github-oidc makes it."""

    pool: str  # projects/NUMBER/locations/global/workloadIdentityPools/POOL
    provider_id: str
    repository_id: str
    owner_id: str

    @property
    def name(self) -> str:
        return f"{self.pool}/providers/{self.provider_id}"

    @property
    def audience(self) -> str:
        """The ``audience`` of a credentials file (what STS receives)."""
        return f"//iam.googleapis.com/{self.name}"

    @property
    def token_audience(self) -> str:
        """The ``aud`` google-github-actions/auth asks GitHub to put in its token."""
        return f"https://iam.googleapis.com/{self.name}"

    def members(self, claims: Mapping[str, Any]) -> frozenset[str]:
        """The principal and principal sets the provider's attribute mapping gives a token."""
        base = f"iam.googleapis.com/{self.pool}"
        repository_id, ref = claims["repository_id"], claims["ref"]
        return frozenset(
            {
                f"principal://{base}/subject/{claims['sub']}",
                f"principalSet://{base}/attribute.repository_ref/{repository_id}@{ref}",
                f"principalSet://{base}/attribute.repository_id/{repository_id}",
                f"principalSet://{base}/*",
            }
        )


@dataclass
class IdentityEndpoints:
    """The handlers; ``policy`` may be swapped at any time (a test removing a grant)."""

    authority: TokenAuthority
    token_uri: Callable[[], str]
    policy: IamPolicy | None = None
    providers: list[WorkloadIdentityProvider] = field(default_factory=list)
    github_request_tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    """An ``authorized_user`` file's refresh token → the IAM member it stands for."""
    issued: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ OAuth 2.0
    def oauth_token(self, form: Mapping[str, str]) -> Answer:
        if form.get("grant_type") == _REFRESH:
            return self._refresh(form)
        if form.get("grant_type") != _JWT_BEARER:
            return _oauth_error(
                "unsupported_grant_type", "grant_type must be jwt-bearer or refresh_token"
            )
        try:
            # Google's ID-token grant is signed for Google's own token endpoint whatever
            # token_uri says; access-token grants use token_uri. Accept both, as Google does.
            claims = self.authority.verify_assertion(
                form.get("assertion", ""), [self.token_uri(), _GOOGLE_TOKEN_URI]
            )
        except InvalidToken as exc:
            return _oauth_error("invalid_grant", f"Invalid JWT Signature: {exc}")
        email = str(claims["iss"])
        audience = claims.get("target_audience")
        self._record({"sub": email, "audience": audience, "via": "key"})
        if audience:
            return 200, {"id_token": self.authority.mint_id_token(email, str(audience))}
        token, lifetime = self.authority.issue_access_token({f"serviceAccount:{email}"})
        return 200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    def _refresh(self, form: Mapping[str, str]) -> Answer:
        member = self.refresh_tokens.get(form.get("refresh_token", ""))
        if member is None:
            return _oauth_error("invalid_grant", "Token has been expired or revoked.")
        self._record({"sub": member, "audience": None, "via": "refresh_token"})
        token, lifetime = self.authority.issue_access_token({member})
        return 200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    # ------------------------------------------------------------------ STS
    def sts_token(self, form: Mapping[str, str]) -> Answer:
        if form.get("grant_type") != _TOKEN_EXCHANGE:
            return _oauth_error("unsupported_grant_type", "grant_type must be token-exchange")
        provider = next((p for p in self.providers if p.audience == form.get("audience")), None)
        if provider is None:
            return _oauth_error(
                "invalid_target", "The target service indicated by the audience is invalid."
            )
        try:
            claims = self.authority.github.verify(
                form.get("subject_token", ""), audience=provider.token_audience
            )
        except InvalidToken as exc:
            return _oauth_error("invalid_grant", f"Unable to verify the ID token: {exc}")
        if claims.get("iss") != GITHUB_ISSUER or (
            claims.get("repository_id"),
            claims.get("repository_owner_id"),
        ) != (provider.repository_id, provider.owner_id):
            return _oauth_error(
                "unauthorized_client",
                "The given credential is rejected by the attribute condition.",
            )
        token, lifetime = self.authority.issue_access_token(provider.members(claims))
        return 200, {
            "access_token": token,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": lifetime,
        }

    # ------------------------------------------------------------------ IAM Credentials
    def generate_access_token(
        self, email: str, authorization: str, body: Mapping[str, Any]
    ) -> Answer:
        denied = self._authorize(authorization, "iam.serviceAccounts.getAccessToken", email, body)
        if denied is not None:
            return denied
        token, lifetime = self.authority.issue_access_token({f"serviceAccount:{email}"})
        expires = datetime.now(UTC) + timedelta(seconds=lifetime)
        return 200, {"accessToken": token, "expireTime": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def generate_id_token(self, email: str, authorization: str, body: Mapping[str, Any]) -> Answer:
        denied = self._authorize(authorization, "iam.serviceAccounts.getOpenIdToken", email, body)
        if denied is not None:
            return denied
        audience = str(body.get("audience") or "")
        if not audience:
            return _google_error(400, "INVALID_ARGUMENT", "audience is required")
        self._record({"sub": email, "audience": audience, "via": "generateIdToken"})
        return 200, {"token": self.authority.mint_id_token(email, audience)}

    # ------------------------------------------------------------------ metadata server
    def metadata_token(self, email: str) -> Answer:
        """An access token of the instance's service account ``email``."""
        self._record({"sub": email, "audience": None, "via": "metadata"})
        token, lifetime = self.authority.issue_access_token({f"serviceAccount:{email}"})
        return 200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    def metadata_id_token(self, email: str, audience: str) -> tuple[int, str]:
        """An ID token of the instance's service account (no IAM check: its own identity)."""
        if not audience:
            return 400, "non-empty audience parameter required"
        self._record({"sub": email, "audience": audience, "via": "metadata"})
        return 200, self.authority.mint_id_token(email, audience)

    # ------------------------------------------------------------------ GitHub
    def github_token(self, authorization: str, audience: str) -> Answer:
        claims = self.github_request_tokens.get(authorization.removeprefix("Bearer ").strip())
        if claims is None:
            return 401, {"message": "Bad credentials"}
        return 200, {"value": self.authority.github_token(audience=audience, **claims)}

    # ------------------------------------------------------------------ plumbing
    def _authorize(
        self, authorization: str, permission: str, email: str, body: Mapping[str, Any]
    ) -> Answer | None:
        if body.get("delegates"):
            return _google_error(400, "INVALID_ARGUMENT", "the double does not chain delegates")
        try:
            members = self.authority.members_of(authorization)
        except InvalidToken:
            return _google_error(
                401, "UNAUTHENTICATED", "Request had invalid authentication credentials."
            )
        resource = service_account_resource(email)
        if self.policy is not None and not self.policy.allows(members, permission, resource):
            return _google_error(
                403,
                "PERMISSION_DENIED",
                f"Permission '{permission}' denied on resource (or it may not exist).",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "IAM_PERMISSION_DENIED",
                        "domain": "iam.googleapis.com",
                        "metadata": {"permission": permission},
                    }
                ],
            )
        return None

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.issued.append(entry)


def _oauth_error(error: str, description: str) -> Answer:
    return 400, {"error": error, "error_description": description}


def _google_error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> Answer:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return code, {"error": error}


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object body, or an empty one."""
    data = json.loads(body or b"{}")
    return data if isinstance(data, dict) else {}
