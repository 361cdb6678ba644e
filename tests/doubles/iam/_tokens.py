"""The tokens the local identity endpoints issue, and how the other doubles check them.

Three kinds, as Google issues them:

* *access tokens*, opaque strings standing for a set of IAM members (the service account, or
  the federated identity's principal and principal sets), valid for an hour;
* *ID tokens*, RS256 JWTs signed with this authority's key (``iss`` accounts.google.com,
  ``aud``, ``email``, ``exp``), which the Cloud Run double verifies on every request to a
  service or tag URL;
* *subject tokens* of a workload identity provider (GitHub Actions' OIDC token), signed with a
  second key that only the local STS trusts.

Service-account keys (the key files tests write) are kept per account, so an assertion signed
with another key is refused, as Google refuses it.
"""

from __future__ import annotations

import functools
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, exceptions, jwt

__all__ = ["GITHUB_ISSUER", "GOOGLE_ISSUER", "InvalidToken", "KeyPair", "TokenAuthority"]

GOOGLE_ISSUER = "https://accounts.google.com"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_LIFETIME = 3600


class InvalidToken(ValueError):
    """A token this authority did not issue, or one that expired."""


@dataclass(frozen=True)
class KeyPair:
    """An RSA key: the PKCS#8 private key, its public key and a key id."""

    key_id: str
    private_pem: str
    public_pem: str

    @classmethod
    def generate(cls, key_id: str) -> KeyPair:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        return cls(key_id, private, public)

    @functools.cached_property
    def _signer(self) -> crypt.RSASigner:
        # Parsing the PEM checks the RSA key, which costs more than signing: once per key.
        signer: crypt.RSASigner = crypt.RSASigner.from_string(self.private_pem, key_id=self.key_id)
        return signer

    def sign(self, claims: Mapping[str, Any]) -> str:
        token: bytes = jwt.encode(self._signer, dict(claims))
        return token.decode()

    def verify(self, token: str, *, audience: str | list[str] | None = None) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, certs={self.key_id: self.public_pem}, audience=audience
            )
        except (ValueError, exceptions.GoogleAuthError) as exc:
            raise InvalidToken(str(exc)) from None
        return claims


class TokenAuthority:
    """Issues and checks access tokens, ID tokens and GitHub subject tokens; thread-safe."""

    def __init__(self) -> None:
        self.google = KeyPair.generate(secrets.token_hex(8))
        self.github = KeyPair.generate("github-" + secrets.token_hex(4))
        self._account_keys: dict[str, KeyPair] = {}
        self._access: dict[str, tuple[frozenset[str], float]] = {}
        self._lock = threading.Lock()
        self.id_tokens: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ access tokens
    def issue_access_token(self, members: Iterable[str]) -> tuple[str, int]:
        """A new opaque access token standing for ``members``; the token and its lifetime."""
        token = "ya29.local-" + secrets.token_urlsafe(24)
        with self._lock:
            self._access[token] = (frozenset(members), time.time() + _LIFETIME)
        return token, _LIFETIME

    def members_of(self, authorization: str) -> frozenset[str]:
        """The members an ``Authorization: Bearer`` access token stands for."""
        token = authorization.removeprefix("Bearer ").strip()
        if token.count(".") == 2:
            # A self-signed JWT: what Google's client libraries send for a key file instead of
            # an access token (``always_use_jwt_access``), signed with the account's own key.
            claims = self.verify_assertion(token, audiences=None)
            return frozenset({f"serviceAccount:{claims['iss']}"})
        with self._lock:
            found = self._access.get(token)
        if found is None or found[1] < time.time():
            msg = "the access token is unknown or expired"
            raise InvalidToken(msg)
        return found[0]

    # ------------------------------------------------------------------ ID tokens
    def mint_id_token(self, email: str, audience: str, *, lifetime: int = _LIFETIME) -> str:
        """An ID token for ``email`` with ``aud`` ``audience``, signed by this authority."""
        now = int(time.time())
        claims = {
            "iss": GOOGLE_ISSUER,
            "aud": audience,
            "azp": email,
            "email": email,
            "email_verified": True,
            "sub": email,
            "iat": now,
            "exp": now + lifetime,
        }
        with self._lock:
            self.id_tokens.append({"email": email, "audience": audience})
        return self.google.sign(claims)

    def verify_id_token(self, token: str) -> dict[str, Any]:
        """The claims of an ID token this authority signed and that has not expired."""
        claims = self.google.verify(token)
        if claims.get("iss") != GOOGLE_ISSUER:
            msg = f"the token's issuer is {claims.get('iss')!r}, not {GOOGLE_ISSUER}"
            raise InvalidToken(msg)
        return claims

    # ------------------------------------------------------------------ keys of accounts
    def account_key(self, email: str) -> KeyPair:
        """The key of ``email``'s key file (made on first use)."""
        with self._lock:
            if email not in self._account_keys:
                self._account_keys[email] = KeyPair.generate(secrets.token_hex(8))
            return self._account_keys[email]

    def verify_assertion(self, assertion: str, audiences: list[str] | None) -> dict[str, Any]:
        """The claims of a JWT signed with the key of the account it names (``iss``)."""
        try:
            issuer = jwt.decode(assertion, verify=False).get("iss", "")
        except ValueError as exc:
            raise InvalidToken(str(exc)) from None
        with self._lock:
            key = self._account_keys.get(str(issuer))
        if key is None:
            msg = f"no key was issued for {issuer!r}"
            raise InvalidToken(msg)
        return key.verify(assertion, audience=audiences)

    # ------------------------------------------------------------------ GitHub's OIDC tokens
    def github_token(self, *, audience: str, repository_id: str, owner_id: str, ref: str) -> str:
        """An OIDC token as GitHub Actions hands a job, for the workload identity provider."""
        now = int(time.time())
        return self.github.sign(
            {
                "iss": GITHUB_ISSUER,
                "aud": audience,
                "sub": f"repo:clarity/backend:ref:{ref}",
                "repository_id": repository_id,
                "repository_owner_id": owner_id,
                "ref": ref,
                "iat": now,
                "exp": now + _LIFETIME,
            }
        )
