"""The one seam to the Cloud Run Admin API (v2, REST transport).

Everything the rollout does to Cloud Run goes through :class:`CloudRunApi`: it retries
transient failures with bounded backoff, waits for long-running operations with a short
polling interval, and maps google-api-core / google-auth / transport errors to the delivery
error tree where they enter. The sync GAPIC client is used from worker threads (the async
client only speaks gRPC; REST is what works behind proxies and against a local double).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio.to_thread
import google.auth.exceptions
import requests
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.api_core.client_options import ClientOptions
from google.api_core.future import polling
from google.auth.credentials import Credentials
from google.cloud import run_v2
from google.protobuf import field_mask_pb2

from ._auth import refresh_failure
from ._errors import (
    ConcurrentRollout,
    ConfigError,
    DeployError,
    PermissionDenied,
    ServiceUnreachable,
)
from .permissions import role_for

__all__ = ["CloudRunApi", "OperationFailed", "RetryPolicy", "ServicePath"]

T = TypeVar("T")

_TRANSIENT: tuple[type[BaseException], ...] = (
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

_PERMISSION = re.compile(r"(?:permission\s*'?|Permission ')([a-z]+\.[A-Za-z]+\.[A-Za-z]+)")


@dataclass(frozen=True)
class ServicePath:
    """The full resource name of a Cloud Run service."""

    project: str
    region: str
    service: str

    def __str__(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/services/{self.service}"

    def revision(self, name: str) -> str:
        """The full resource name of one of this service's revisions."""
        return f"{self}/revisions/{name}"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for transient API failures."""

    attempts: int = 5
    initial: float = 0.5
    maximum: float = 8.0
    multiplier: float = 2.0

    def delays(self) -> list[float]:
        """The sleeps between attempts (``attempts - 1`` of them)."""
        out, delay = [], self.initial
        for _ in range(self.attempts - 1):
            out.append(min(delay, self.maximum) * (0.8 + 0.4 * random.random()))  # noqa: S311  # nosec B311 - backoff jitter, not security
            delay *= self.multiplier
        return out


class CloudRunApi:
    """Get and update Cloud Run services and revisions, with retries and mapped errors."""

    def __init__(
        self,
        services: run_v2.ServicesClient,
        revisions: run_v2.RevisionsClient,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._services = services
        self._revisions = revisions
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    @classmethod
    def connect(
        cls,
        credentials: Credentials,
        *,
        endpoint: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> CloudRunApi:
        """Clients on the REST transport; ``endpoint`` overrides ``run.googleapis.com``."""
        options = ClientOptions(api_endpoint=endpoint) if endpoint else None
        services = run_v2.ServicesClient(
            transport="rest", credentials=credentials, client_options=options
        )
        revisions = run_v2.RevisionsClient(
            transport="rest", credentials=credentials, client_options=options
        )
        return cls(services, revisions, retry=retry)

    # ------------------------------------------------------------------ reads
    async def get_service(self, path: ServicePath) -> run_v2.Service:
        """The service as it is now (with its etag)."""

        def call() -> run_v2.Service:
            return self._services.get_service(name=str(path))

        return await self._run(call, f"read service {path.service}", path)

    async def list_revisions(self, path: ServicePath) -> list[run_v2.Revision]:
        """Every revision of the service, newest first."""

        def call() -> list[run_v2.Revision]:
            return list(self._revisions.list_revisions(parent=str(path)))

        revisions = await self._run(call, f"list revisions of {path.service}", path)
        return sorted(revisions, key=_created, reverse=True)

    async def get_revision(self, path: ServicePath, name: str) -> run_v2.Revision:
        """One revision, with its conditions."""

        def call() -> run_v2.Revision:
            return self._revisions.get_revision(name=path.revision(name))

        return await self._run(call, f"read revision {name}", path)

    async def require(self, path: ServicePath, permission: str) -> None:
        """PermissionDenied unless the caller holds ``permission`` on the service.

        Asked of Cloud Run itself (``testIamPermissions``, which any caller may call), so a
        permission the API calls never use, such as ``run.routes.invoke`` for the probes, is
        refused before anything changes instead of showing up as failed probes.
        """

        def call() -> list[str]:
            request = {"resource": str(path), "permissions": [permission]}
            answer = self._services.test_iam_permissions(request=request)
            return [str(p) for p in answer.permissions]

        if permission not in await self._run(call, f"check permissions on {path.service}", path):
            msg = (
                f"the deployer identity lacks permission {permission} on {path.service}, so Cloud Run "
                f"would refuse its probes. Grant it {role_for(permission)}; "
                "terraform/stack/run.tf grants it to the deployer."
            )
            raise PermissionDenied(msg)

    # ------------------------------------------------------------------ writes
    async def update_service(
        self,
        path: ServicePath,
        service: run_v2.Service,
        fields: list[str],
        *,
        timeout: float,
        applied: Callable[[run_v2.Service], bool],
    ) -> run_v2.Service:
        """Write ``fields`` of ``service`` guarded by its etag and wait for the operation.

        ``applied`` tells whether a service read back already carries this change: when a
        transient failure hides a write that did land, the retry meets our own new etag, and
        that must not be mistaken for another rollout's change.
        """
        request = run_v2.UpdateServiceRequest(
            service=service, update_mask=field_mask_pb2.FieldMask(paths=fields)
        )
        poll = gretry.Retry(
            predicate=polling.POLLING_PREDICATE,
            initial=0.1,
            maximum=1.0,
            multiplier=1.5,
            timeout=timeout,
        )
        attempts = 0

        def call() -> run_v2.Service:
            nonlocal attempts
            attempts += 1
            try:
                operation = self._services.update_service(request=request)
                result: run_v2.Service = operation.result(timeout=timeout, polling=poll)
            except gexc.Conflict:
                if attempts > 1:
                    current = self._services.get_service(name=str(path))
                    if applied(current):
                        return current
                raise
            return result

        return await self._run(call, f"update service {path.service}", path)

    async def delete_revision(self, path: ServicePath, name: str, *, timeout: float = 60.0) -> bool:
        """Delete one revision and wait for the operation: True once deleted, False when it
        was already gone (someone else's delete, or ours hidden by a transient failure)."""

        def call() -> bool:
            try:
                operation = self._revisions.delete_revision(name=path.revision(name))
                operation.result(timeout=timeout)
            except gexc.NotFound:
                return False
            return True

        return await self._run(call, f"delete revision {name}", path)

    # ------------------------------------------------------------------ plumbing
    async def _run(self, call: Callable[[], T], what: str, path: ServicePath) -> T:
        def with_retries() -> T:
            delays = self._retry.delays()
            while True:
                try:
                    return call()
                except _TRANSIENT as exc:
                    if not delays:
                        raise _map_error(exc, what, path) from exc
                    self._sleep(delays.pop(0))
                except Exception as exc:
                    raise _map_error(exc, what, path) from exc

        return await anyio.to_thread.run_sync(with_retries)


def _created(revision: run_v2.Revision) -> float:
    # proto-plus hands timestamps out as datetimes, although the stubs say Timestamp.
    created = revision.create_time
    return float(created.timestamp()) if created else 0.0  # type: ignore[attr-defined]


def _map_error(exc: BaseException, what: str, path: ServicePath) -> Exception:
    """Translate a third-party failure into the delivery error tree."""
    if isinstance(exc, DeployError):
        return exc
    detail = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, gexc.Forbidden):
        match = _PERMISSION.search(detail)
        permission = match.group(1) if match else None
        role = role_for(permission) if permission else "roles/run.developer (on the project)"
        missing = f"permission {permission}" if permission else "a permission"
        return PermissionDenied(
            f"could not {what}: the deployer identity lacks {missing} on project {path.project}. "
            f"Grant it {role}; terraform/stack/iam.tf grants the deployer what it needs. "
            f"API said: {detail}"
        )
    if isinstance(exc, google.auth.exceptions.RefreshError):
        return refresh_failure(exc, what)
    if isinstance(exc, gexc.Unauthorized):
        return refresh_failure(google.auth.exceptions.RefreshError(detail), what)
    if isinstance(exc, gexc.NotFound):
        return ConfigError(
            f"could not {what}: {path} does not exist. Services are created by Terraform "
            f"(make plan/apply for this environment) before the first deploy. API said: {detail}"
        )
    if isinstance(exc, gexc.AlreadyExists):
        return ConcurrentRollout(
            f"could not {what}: a revision of that name was just created by someone else "
            f"(another rollout of the same commit?). API said: {detail}"
        )
    if isinstance(exc, gexc.Conflict | gexc.PreconditionFailed):
        return ConcurrentRollout(
            f"could not {what}: another rollout changed the service {path.service} since we read it "
            "(etag mismatch). Its traffic was left as that rollout set it; run `clarity-deploy status` "
            f"and try again when it has finished. API said: {detail}"
        )
    if isinstance(exc, (_TRANSIENT, gexc.RetryError)):
        return ServiceUnreachable(
            f"could not {what}: the Cloud Run Admin API did not answer after retries ({detail}). "
            "Check the network and https://status.cloud.google.com, then retry."
        )
    if isinstance(exc, gexc.GoogleAPICallError):
        return OperationFailed(f"could not {what}: {detail}")
    if isinstance(exc, TimeoutError | gexc.DeadlineExceeded):
        return OperationFailed(f"could not {what}: the operation did not finish in time ({detail})")
    return DeployError(f"could not {what}: unexpected {type(exc).__name__}: {detail}")


class OperationFailed(DeployError):
    """An API operation finished with an error the caller interprets (e.g. a revision not Ready)."""
