"""Google credentials and the ID tokens that health probes present to Cloud Run.

Cloud Run services that do not allow unauthenticated access need an OIDC *ID token* whose
audience is the service URL. A service-account key or the metadata server can mint one
directly; user and workload-identity-federation credentials cannot, so for those we
impersonate the deployer service account (which needs ``roles/iam.serviceAccountTokenCreator``
on itself for the caller).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import google.auth
import google.auth.exceptions
from google.auth import compute_engine, identity_pool, impersonated_credentials
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account

from ._errors import CredentialsError

__all__ = ["GoogleIdTokens", "IdTokenSource", "credentials_from_info", "load_credentials"]

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
IMPERSONATE_ENV = "CLARITY_DEPLOYER_SERVICE_ACCOUNT"


class IdTokenSource(Protocol):
    """Mints an ID token for an audience (a Cloud Run service URL)."""

    def token(self, audience: str) -> str:
        """A valid ID token for ``audience``."""
        ...


def load_credentials(credentials_file: Path | None = None) -> Credentials:
    """Credentials from ``credentials_file`` or Application Default Credentials.

    A file is loaded with the loader for its declared ``type`` (service account key,
    workload identity federation, authorized user, impersonated service account), never
    with google-auth's generic loader. A missing or malformed file, or no ADC at all, is a
    :class:`CredentialsError` that says how to provide them.
    """
    if credentials_file is None:
        try:
            creds, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
        except google.auth.exceptions.DefaultCredentialsError as exc:
            msg = (
                f"no usable Google credentials ({exc}). Set GOOGLE_APPLICATION_CREDENTIALS to a "
                "credentials file (in CI: the file google-github-actions/auth writes for workload "
                "identity federation), or run `gcloud auth application-default login`."
            )
            raise CredentialsError(msg) from None
        return creds
    try:
        info = json.loads(credentials_file.read_text())
    except FileNotFoundError:
        msg = f"credentials file {credentials_file} does not exist"
        raise CredentialsError(msg) from None
    except (OSError, ValueError) as exc:
        msg = f"credentials file {credentials_file} is not readable JSON: {exc}"
        raise CredentialsError(msg) from None
    return credentials_from_info(info, where=f"credentials file {credentials_file}")


def credentials_from_info(info: object, *, where: str = "the credentials") -> Credentials:
    """Credentials from parsed JSON, by the loader for its declared ``type``.

    Shared by :func:`load_credentials` and the Dagger module (which gets the JSON as a Secret);
    an unknown type or a malformed document is a :class:`CredentialsError` naming ``where``.
    """
    kind = info.get("type") if isinstance(info, dict) else None
    loader = _LOADERS.get(str(kind))
    if loader is None or not isinstance(info, dict):
        msg = f"{where} has type {kind!r}; supported: {', '.join(_LOADERS)}"
        raise CredentialsError(msg)
    try:
        return loader(info)
    except (ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
        msg = f"{where} ({kind}) is malformed: {exc}"
        raise CredentialsError(msg) from None


_LOADERS: dict[str, Callable[[dict[str, Any]], Credentials]] = {
    "service_account": lambda info: service_account.Credentials.from_service_account_info(
        info, scopes=[CLOUD_PLATFORM]
    ),
    "external_account": lambda info: identity_pool.Credentials.from_info(
        info, scopes=[CLOUD_PLATFORM]
    ),
    "authorized_user": lambda info: oauth2_credentials.Credentials.from_authorized_user_info(
        info, scopes=[CLOUD_PLATFORM]
    ),
    "impersonated_service_account": lambda info: (
        impersonated_credentials.Credentials.from_impersonated_service_account_info(
            info, scopes=[CLOUD_PLATFORM]
        )
    ),
}


class GoogleIdTokens:
    """ID tokens from the deployer's credentials, cached per audience until shortly before expiry."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        impersonate: str | None = None,
        request_factory: Callable[[], Request] = Request,
    ) -> None:
        self._credentials = credentials
        self._impersonate = impersonate or os.environ.get(IMPERSONATE_ENV) or None
        self._request_factory = request_factory
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(self, audience: str) -> str:
        """A cached or freshly minted ID token for ``audience``."""
        with self._lock:
            cached = self._cache.get(audience)
            if cached is not None and cached[1] - 60 > time.time():
                return cached[0]
            token, expiry = self._mint(audience)
            self._cache[audience] = (token, expiry)
            return token

    def _mint(self, audience: str) -> tuple[str, float]:
        id_creds = self._id_token_credentials(audience)
        try:
            id_creds.refresh(self._request_factory())
        except google.auth.exceptions.GoogleAuthError as exc:
            msg = (
                f"could not mint an ID token for {audience}: {exc}. The deployer identity needs "
                "roles/iam.serviceAccountTokenCreator on the account it impersonates, or use a "
                "service-account credential."
            )
            raise CredentialsError(msg) from None
        token = id_creds.token
        if not isinstance(token, str) or not token:
            msg = f"the credentials returned no ID token for {audience}"
            raise CredentialsError(msg)
        expiry = id_creds.expiry.timestamp() if id_creds.expiry else time.time() + 300
        return token, expiry

    def _id_token_credentials(self, audience: str) -> Credentials:
        creds = self._credentials
        if isinstance(creds, service_account.Credentials) and not self._impersonate:
            return service_account.IDTokenCredentials(
                signer=creds.signer,
                service_account_email=creds.service_account_email,
                token_uri=creds._token_uri,
                target_audience=audience,
            )
        if isinstance(creds, compute_engine.Credentials) and not self._impersonate:
            return compute_engine.IDTokenCredentials(
                self._request_factory(), audience, use_metadata_identity_endpoint=True
            )
        target = self._impersonate or getattr(creds, "service_account_email", None)
        if not target or target == "default":
            msg = (
                "these credentials cannot mint ID tokens for health probes and no service account to "
                f"impersonate is known: set {IMPERSONATE_ENV} to the deployer service account's email"
            )
            raise CredentialsError(msg)
        source = impersonated_credentials.Credentials(
            source_credentials=creds, target_principal=target, target_scopes=[CLOUD_PLATFORM]
        )
        return impersonated_credentials.IDTokenCredentials(
            source, target_audience=audience, include_email=True
        )
