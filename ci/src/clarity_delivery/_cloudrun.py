"""The one seam to the Cloud Run Admin API (v2, REST transport).

Everything the rollout does to Cloud Run goes through :class:`CloudRunApi`. Every call is
retried here when it fails transiently (each retry reported, see :mod:`._retrying`) and its
errors are mapped where they enter (:mod:`._apierrors`). A write is one
:class:`ServiceChange` applied under the service's etag (AIP-154) and followed to the end of
its long-running operation (AIP-151, ``WaitOperation``), with three rules that keep a single
fault from turning into a false result:

- a write whose answer was lost is recognised when its retry meets our own new etag: the
  service is read again once Cloud Run has finished reconciling it, and the write counts as
  applied only if it is there *and* Cloud Run applied it (``terminalCondition``);
- an etag that moved without anyone touching what the change is about (Cloud Run settling the
  service's status after an operation, Terraform changing a label) is not a conflict: the
  change is applied again on the fresh service, under its etag;
- an operation that finished with an error failed for good (``INTERNAL`` "Revision … does not
  exist" included): it is never retried and never reported as applied.

The sync GAPIC client is used from worker threads (the async client only speaks gRPC; REST is
what works behind proxies and against a local double).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import anyio.from_thread
import anyio.to_thread
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import Credentials
from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2, field_mask_pb2
from google.rpc import code_pb2

from ._apierrors import TRANSIENT, describe, map_error, status_of
from ._errors import ConcurrentRollout, OperationFailed, PermissionDenied
from ._retrying import Attempts, RetryNotice, RetryPolicy
from .permissions import role_for

__all__ = ["CloudRunApi", "RetryNotice", "RetryPolicy", "ServiceChange", "ServicePath"]

T = TypeVar("T")

_CALL_TIMEOUT = 30.0  # seconds one HTTP call may take
_WAIT_SLICE = 30.0  # seconds one WaitOperation may block (it may return sooner: best effort)
_REBASES = 3  # etag moves survived per write before it counts as a conflict
_SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED


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


class ServiceChange(Protocol):
    """One write to a service: which fields it sets, and how to tell where it stands."""

    @property
    def fields(self) -> Sequence[str]:
        """The update mask."""
        ...

    def apply(self, service: run_v2.Service) -> run_v2.Service:
        """A copy of ``service`` with this change made (``service`` carries the etag to use)."""
        ...

    def landed(self, service: run_v2.Service) -> bool:
        """Whether ``service`` (read back) already carries this change."""
        ...

    def conflict(self, base: run_v2.Service, fresh: run_v2.Service) -> str | None:
        """Why ``fresh`` may not be written over (None: only fields nobody here owns moved)."""
        ...


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
        self.on_retry: Callable[[RetryNotice], None] | None = None
        """Told of every retry, on the event loop's thread (the Deployer reports them)."""

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
        return await anyio.to_thread.run_sync(self._read_service, path)

    async def list_revisions(self, path: ServicePath) -> list[run_v2.Revision]:
        """Every revision of the service, newest first."""

        def call() -> list[run_v2.Revision]:
            pager = self._revisions.list_revisions(
                parent=str(path), retry=None, timeout=_CALL_TIMEOUT
            )
            return list(pager)

        revisions = await anyio.to_thread.run_sync(
            self._call, call, f"list revisions of {path.service}", path
        )
        return sorted(revisions, key=_created, reverse=True)

    async def get_revision(self, path: ServicePath, name: str) -> run_v2.Revision:
        """One revision, with its conditions."""

        def call() -> run_v2.Revision:
            return self._revisions.get_revision(
                name=path.revision(name), retry=None, timeout=_CALL_TIMEOUT
            )

        return await anyio.to_thread.run_sync(self._call, call, f"read revision {name}", path)

    async def require(self, path: ServicePath, permission: str) -> None:
        """PermissionDenied unless the caller holds ``permission`` on the service.

        Asked of Cloud Run itself (``testIamPermissions``, which any caller may call), so a
        permission the API calls never use, such as ``run.routes.invoke`` for the probes, is
        refused before anything changes instead of showing up as failed probes.
        """

        def call() -> list[str]:
            request = {"resource": str(path), "permissions": [permission]}
            answer = self._services.test_iam_permissions(
                request=request, retry=None, timeout=_CALL_TIMEOUT
            )
            return [str(p) for p in answer.permissions]

        what = f"check permissions on {path.service}"
        if permission not in await anyio.to_thread.run_sync(self._call, call, what, path):
            msg = (
                f"the deployer identity lacks permission {permission} on {path.service}, so Cloud Run "
                "would refuse its probes"
            )
            raise PermissionDenied(
                msg,
                advice=f"Grant it {role_for(permission)}; terraform/stack/run.tf grants it to the "
                "deployer.",
            )

    # ------------------------------------------------------------------ writes
    async def update_service(
        self, path: ServicePath, base: run_v2.Service, change: ServiceChange, *, timeout: float
    ) -> run_v2.Service:
        """Write ``change`` onto ``base`` under its etag; the service once Cloud Run applied it.

        Raises :class:`~._errors.ConcurrentRollout` when someone changed what the change is
        about, :class:`~._errors.OperationFailed` when Cloud Run could not apply it, and the
        mapped error of anything else.
        """
        return await anyio.to_thread.run_sync(self._update, path, base, change, timeout)

    def _update(
        self, path: ServicePath, base: run_v2.Service, change: ServiceChange, timeout: float
    ) -> run_v2.Service:
        what = f"update service {path.service}"
        deadline = time.monotonic() + timeout
        body = change.apply(base)
        attempts = self._attempts(what)
        rebased = 0
        while True:
            request = run_v2.UpdateServiceRequest(
                service=body, update_mask=field_mask_pb2.FieldMask(paths=list(change.fields))
            )
            try:
                operation = self._services.update_service(
                    request=request, retry=None, timeout=_CALL_TIMEOUT
                )
            except gexc.Conflict as exc:
                if status_of(exc) == "ALREADY_EXISTS":
                    raise map_error(exc, what, path.service, path.project) from exc
                fresh = self._settled(path, deadline)
                if change.landed(fresh):
                    return _applied(fresh, what)
                reason = change.conflict(base, fresh)
                if reason is None and rebased < _REBASES:
                    base, body, rebased = fresh, change.apply(fresh), rebased + 1
                    continue
                msg = f"could not {what}: {reason or 'its etag kept moving'}"
                raise ConcurrentRollout(
                    msg, advice="Run `clarity-deploy status` to see who holds it."
                ) from exc
            except TRANSIENT as exc:
                if attempts.retry_after(describe(exc)):
                    continue
                raise map_error(
                    exc, what, path.service, path.project, attempts=attempts.made
                ) from exc
            except Exception as exc:
                raise map_error(exc, what, path.service, path.project) from exc
            return self._finished(operation.operation, path, what, deadline)

    # ------------------------------------------------------------------ operations
    def _finished(
        self, operation: operations_pb2.Operation, path: ServicePath, what: str, deadline: float
    ) -> run_v2.Service:
        """Follow an operation to its end: the service it returned, or OperationFailed."""
        waiting = True  # WaitOperation until the server says it has no such method
        delay = 0.25
        while not operation.done:
            left = deadline - time.monotonic()
            if left <= 0:
                msg = f"could not {what}: Cloud Run had not applied it after the wait ended"
                raise OperationFailed(msg)
            if waiting:
                try:
                    operation = self._call(self._wait_call(operation.name, left), what, path)
                    continue
                except OperationFailed as exc:
                    if not isinstance(exc.__cause__, gexc.MethodNotImplemented):
                        raise
                    waiting = False
            self._sleep(min(delay, left))
            delay = min(delay * 1.5, 2.0)
            operation = self._call(self._get_call(operation.name), what, path)
        if operation.HasField("error"):
            code = code_pb2.Code.Name(operation.error.code)
            msg = f"could not {what}: Cloud Run could not apply it ({code}: {operation.error.message})"
            raise OperationFailed(msg)
        service: run_v2.Service = run_v2.Service.deserialize(operation.response.value)
        return service

    def _wait_call(self, name: str, left: float) -> Callable[[], operations_pb2.Operation]:
        seconds = min(left, _WAIT_SLICE)
        duration = duration_pb2.Duration(seconds=int(seconds), nanos=int(seconds % 1 * 1e9))

        def call() -> operations_pb2.Operation:
            request = operations_pb2.WaitOperationRequest(name=name, timeout=duration)
            result: operations_pb2.Operation = self._services.wait_operation(
                request=request, retry=None, timeout=seconds + _CALL_TIMEOUT
            )
            return result

        return call

    def _get_call(self, name: str) -> Callable[[], operations_pb2.Operation]:
        def call() -> operations_pb2.Operation:
            request = operations_pb2.GetOperationRequest(name=name)
            result: operations_pb2.Operation = self._services.get_operation(
                request=request, retry=None, timeout=_CALL_TIMEOUT
            )
            return result

        return call

    def _settled(self, path: ServicePath, deadline: float) -> run_v2.Service:
        """The service once Cloud Run stopped reconciling it (or as it is at the deadline)."""
        delay = 0.1
        while True:
            service = self._read_service(path)
            left = deadline - time.monotonic()
            if not service.reconciling or left <= 0:
                return service
            self._sleep(min(delay, left))
            delay = min(delay * 1.5, 2.0)

    async def delete_revision(self, path: ServicePath, name: str, *, timeout: float = 60.0) -> bool:
        """Delete one revision and wait for the operation: True once deleted, False when it
        was already gone (someone else's delete, or ours hidden by a transient failure)."""

        def call() -> bool:
            try:
                operation = self._revisions.delete_revision(
                    name=path.revision(name), retry=None, timeout=_CALL_TIMEOUT
                )
                operation.result(timeout=timeout)
            except gexc.NotFound:
                return False
            return True

        return await anyio.to_thread.run_sync(self._call, call, f"delete revision {name}", path)

    # ------------------------------------------------------------------ plumbing
    def _read_service(self, path: ServicePath) -> run_v2.Service:
        def call() -> run_v2.Service:
            return self._services.get_service(name=str(path), retry=None, timeout=_CALL_TIMEOUT)

        return self._call(call, f"read service {path.service}", path)

    def _call(self, call: Callable[[], T], what: str, path: ServicePath) -> T:
        """``call()``, retried while it fails transiently; its errors mapped."""
        attempts = self._attempts(what)
        while True:
            try:
                return call()
            except TRANSIENT as exc:
                if not attempts.retry_after(describe(exc)):
                    raise map_error(
                        exc, what, path.service, path.project, attempts=attempts.made
                    ) from exc
            except Exception as exc:
                raise map_error(exc, what, path.service, path.project) from exc

    def _attempts(self, what: str) -> Attempts:
        return Attempts(what, self._retry, sleep=self._sleep, notify=self._notify)

    def _notify(self, notice: RetryNotice) -> None:
        if self.on_retry is not None:
            anyio.from_thread.run_sync(self.on_retry, notice)


def _applied(service: run_v2.Service, what: str) -> run_v2.Service:
    """``service`` (settled, carrying our write) if Cloud Run applied the write."""
    if service.reconciling:
        msg = f"could not {what}: Cloud Run was still applying it when the wait ended"
        raise OperationFailed(msg)
    condition = service.terminal_condition
    if condition.type_ and condition.state != _SUCCEEDED:
        msg = f"could not {what}: Cloud Run could not apply it ({condition.message or condition.state.name})"
        raise OperationFailed(msg)
    return service


def _created(revision: run_v2.Revision) -> float:
    # proto-plus hands timestamps out as datetimes, although the stubs say Timestamp.
    created = revision.create_time
    return float(created.timestamp()) if created else 0.0  # type: ignore[attr-defined]
