"""Where google-api-core, google-auth and transport errors enter the delivery error tree.

What is transient (retried with backoff: 429, 5xx, no answer at all) and what each other
failure means for a deployer: a permission and the role that grants it, rejected credentials,
a missing service, a concurrent writer, or a revision name taken. Over REST both ``ABORTED``
(etag mismatch, AIP-154) and ``ALREADY_EXISTS`` (revision name) arrive as HTTP 409, so the
error body's ``status`` tells them apart.
"""

from __future__ import annotations

import re
from typing import Any

import google.auth.exceptions
import requests
from google.api_core import exceptions as gexc

from ._auth import refresh_failure
from ._errors import (
    ConcurrentRollout,
    ConfigError,
    CredentialsError,
    DeployError,
    OperationFailed,
    PermissionDenied,
    RevisionNameTaken,
    ServiceUnreachable,
)
from .permissions import role_for

__all__ = ["TRANSIENT", "describe", "map_client_error", "map_error", "status_of"]

TRANSIENT: tuple[type[BaseException], ...] = (
    gexc.TooManyRequests,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    gexc.Unknown,
    requests.ConnectionError,
    requests.Timeout,
    google.auth.exceptions.TransportError,
)
"""Failures of one call that the same call may not meet again: retried, each retry reported."""

_PERMISSION = re.compile(r"(?:permission\s*'?|Permission ')([a-z]+\.[A-Za-z]+\.[A-Za-z]+)")


def status_of(exc: BaseException) -> str | None:
    """The canonical status name in a REST error's body (``ABORTED``, ``ALREADY_EXISTS``...)."""
    response: Any = getattr(exc, "response", None)
    try:
        status = response.json()["error"]["status"]
    except (AttributeError, ValueError, KeyError, TypeError):
        return None
    return status if isinstance(status, str) else None


def describe(exc: BaseException) -> str:
    """A short account of one failed call, for retry events: ``503 The service is unavailable``."""
    if isinstance(exc, gexc.GoogleAPICallError):
        code = f"{exc.code} " if exc.code else ""
        text = exc.message or type(exc).__name__
        return f"{code}{text.rsplit(': ', 1)[-1]}"[:200]
    return f"{type(exc).__name__}: {exc}"[:200]


def map_error(
    exc: BaseException, what: str, service: str, project: str, *, attempts: int = 1
) -> DeployError:
    """Translate a third-party failure of ``what`` (on ``service`` in ``project``)."""
    if isinstance(exc, DeployError):
        return exc
    detail = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, gexc.Forbidden):
        match = _PERMISSION.search(detail)
        permission = match.group(1) if match else None
        role = role_for(permission) if permission else "roles/run.developer (on the project)"
        missing = f"permission {permission}" if permission else "a permission"
        return PermissionDenied(
            f"could not {what}: the deployer identity lacks {missing} on project {project} "
            f"(API said: {detail})",
            advice=f"Grant it {role}; terraform/stack/iam.tf grants the deployer what it needs.",
        )
    if isinstance(exc, google.auth.exceptions.RefreshError):
        return refresh_failure(exc, what)
    if isinstance(exc, gexc.Unauthorized):
        return refresh_failure(google.auth.exceptions.RefreshError(detail), what)
    if isinstance(exc, gexc.NotFound):
        return ConfigError(
            f"could not {what}: {service} does not exist in project {project} (API said: {detail})",
            advice="Services are created by Terraform (make plan/apply for this environment) "
            "before the first deploy.",
        )
    if isinstance(exc, gexc.Conflict) and status_of(exc) == "ALREADY_EXISTS":
        return RevisionNameTaken(
            f"could not {what}: a revision of that name already exists with a different "
            f"configuration (API said: {detail})",
            advice="Another deploy of the same version and commit made it: deploy again (a new "
            "revision name is chosen) or release a new version.",
        )
    if isinstance(exc, gexc.Conflict | gexc.PreconditionFailed):
        return ConcurrentRollout(
            f"could not {what}: another client changed {service} since it was read "
            f"(etag mismatch; API said: {detail})",
            advice="Run `clarity-deploy status` and try again when that change has finished.",
        )
    if isinstance(exc, (*TRANSIENT, gexc.RetryError)):
        tries = f"{attempts} attempts" if attempts > 1 else "one attempt"
        return ServiceUnreachable(
            f"could not {what}: the Cloud Run Admin API did not answer after {tries} "
            f"({describe(exc)})",
            advice="Check the network and https://status.cloud.google.com, then retry.",
        )
    if isinstance(exc, TimeoutError | gexc.DeadlineExceeded):
        return OperationFailed(f"could not {what}: it did not finish in time ({detail})")
    if isinstance(exc, gexc.GoogleAPICallError):
        return OperationFailed(f"could not {what}: {detail}")
    return DeployError(f"could not {what}: unexpected {type(exc).__name__}: {detail}")


def map_client_error(
    exc: BaseException, *, what: str, api: str, project: str, permission: str
) -> DeployError:
    """Translate a failure of a gRPC client call (Cloud Monitoring, Cloud Logging) of ``what``,
    which needs ``permission`` on ``project``; ``api`` names the service in the message."""
    if isinstance(exc, DeployError):
        return exc
    detail = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, gexc.PermissionDenied | gexc.Forbidden):
        return PermissionDenied(
            f"could not {what}: the deployer identity lacks permission {permission} on project "
            f"{project} (API said: {detail})",
            advice=f"Grant it {role_for(permission)}; terraform/stack/iam.tf gives the deployer "
            "that role.",
        )
    if isinstance(
        exc, gexc.Unauthenticated | gexc.Unauthorized | google.auth.exceptions.RefreshError
    ):
        return CredentialsError(
            f"could not {what}: the credentials were rejected or could not be refreshed ({detail})"
        )
    if isinstance(
        exc,
        gexc.ServiceUnavailable
        | gexc.DeadlineExceeded
        | gexc.RetryError
        | google.auth.exceptions.TransportError,
    ):
        return ServiceUnreachable(f"could not {what}: {api} did not answer ({detail})")
    return DeployError(f"could not {what}: {type(exc).__name__}: {detail}")
