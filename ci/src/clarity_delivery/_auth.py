"""Google credentials and the ID tokens that health probes present to Cloud Run.

Cloud Run services that do not allow unauthenticated access need an OIDC *ID token* whose
audience is the service URL or one of the service's custom audiences. A service-account key
or the metadata server can mint one directly; user, impersonated and workload identity
federation credentials cannot, so for those the deployer service account's ID token comes from
the IAM Service Account Credentials API (``generateIdToken``), called with the credentials'
own access token. In CI that caller *is* the deployer (federation impersonates it), so the
deployer needs ``iam.serviceAccounts.getOpenIdToken`` on itself:
``roles/iam.serviceAccountOpenIdTokenCreator``, which terraform/stack/iam.tf grants it.

The IAM Credentials endpoint is ``https://iamcredentials.googleapis.com`` unless
``CLARITY_IAM_CREDENTIALS_ENDPOINT`` (or ``--iam-endpoint``) names another, such as a Private
Service Connect endpoint.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import google.auth
import google.auth.exceptions
import requests
from google.auth import compute_engine, identity_pool, impersonated_credentials, jwt
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account

from ._errors import CredentialsError, DeployError, PermissionDenied, ServiceUnreachable
from .permissions import role_for

__all__ = [
    "GoogleIdTokens",
    "IdTokenSource",
    "credentials_from_info",
    "load_credentials",
    "refresh_failure",
]

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
IMPERSONATE_ENV = "CLARITY_DEPLOYER_SERVICE_ACCOUNT"
IAM_ENDPOINT_ENV = "CLARITY_IAM_CREDENTIALS_ENDPOINT"
IAM_CREDENTIALS = "https://iamcredentials.googleapis.com"
_PERMISSION = re.compile(r"Permission\W+([a-z]+\.[A-Za-z]+\.[A-Za-z]+)")


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
        iam_endpoint: str | None = None,
        request_factory: Callable[[], Request] = Request,
    ) -> None:
        self._credentials = credentials
        self._impersonate = impersonate or os.environ.get(IMPERSONATE_ENV) or None
        self._iam_endpoint = (
            iam_endpoint or os.environ.get(IAM_ENDPOINT_ENV) or IAM_CREDENTIALS
        ).rstrip("/")
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
        direct = self._direct_credentials(audience)
        if direct is None:
            return self._generate_id_token(self._target(), audience)
        try:
            direct.refresh(self._request_factory())
        except google.auth.exceptions.GoogleAuthError as exc:
            raise refresh_failure(exc, f"mint an ID token for {audience}") from None
        token = direct.token
        if not isinstance(token, str) or not token:
            msg = f"the credentials returned no ID token for {audience}"
            raise CredentialsError(msg)
        expiry = direct.expiry.timestamp() if direct.expiry else time.time() + 300
        return token, expiry

    def _direct_credentials(self, audience: str) -> Credentials | None:
        """Credentials that mint their own ID token (a key, the metadata server), else None."""
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
        return None

    def _target(self) -> str:
        """The service account whose ID tokens the probes present."""
        target = self._impersonate or getattr(self._credentials, "service_account_email", None)
        if not target or target == "default":
            msg = (
                "these credentials cannot mint ID tokens for health probes and no service account to "
                f"impersonate is known: set {IMPERSONATE_ENV} to the deployer service account's email"
            )
            raise CredentialsError(msg)
        return str(target)

    def _generate_id_token(self, target: str, audience: str) -> tuple[str, float]:
        """``generateIdToken`` for ``target``, called with the credentials' access token."""
        url = f"{self._iam_endpoint}/v1/projects/-/serviceAccounts/{target}:generateIdToken"
        what = f"mint an ID token for {audience} as {target}"
        # The session makes (and on close() closes) its own transport for refreshing the token.
        session = AuthorizedSession(self._credentials)
        try:
            response = session.post(
                url, json={"audience": audience, "includeEmail": True}, timeout=30
            )
        except google.auth.exceptions.GoogleAuthError as exc:
            raise refresh_failure(exc, what) from None
        except requests.RequestException as exc:
            msg = f"could not {what}: the IAM Credentials API at {self._iam_endpoint} did not answer ({exc})"
            raise ServiceUnreachable(msg) from None
        finally:
            session.close()
        if response.status_code == 403:
            permission = "iam.serviceAccounts.getOpenIdToken"
            msg = (
                f"could not {what}: the deployer identity lacks permission {permission} on {target}. "
                f"Grant it {role_for(permission)}; terraform/stack/iam.tf does. "
                f"API said: {_message_of(response)}"
            )
            raise PermissionDenied(msg)
        if response.status_code != 200:
            msg = f"could not {what}: the IAM Credentials API answered {response.status_code}: {_message_of(response)}"
            raise CredentialsError(msg)
        try:
            token = str(response.json()["token"])
            expiry = float(jwt.decode(token, verify=False)["exp"])
        except (KeyError, ValueError) as exc:
            msg = f"could not {what}: the IAM Credentials API returned no ID token ({exc})"
            raise CredentialsError(msg) from None
        return token, expiry


def refresh_failure(exc: google.auth.exceptions.GoogleAuthError, what: str) -> DeployError:
    """A failed credential refresh as the delivery error it is.

    A refusal that names a permission (the impersonation of the deployer, an ID token) is a
    :class:`PermissionDenied` that says which role grants it; anything else means the
    credentials themselves are unusable: :class:`CredentialsError`.
    """
    detail = str(exc)
    match = _PERMISSION.search(detail)
    if match is not None:
        permission = match.group(1)
        return PermissionDenied(
            f"could not {what}: the deployer identity lacks permission {permission}. "
            f"Grant it {role_for(permission)}. Google said: {detail}"
        )
    return CredentialsError(
        f"could not {what}: the credentials were rejected or could not be refreshed ({detail}). "
        "Check GOOGLE_APPLICATION_CREDENTIALS / workload identity federation."
    )


def _message_of(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
