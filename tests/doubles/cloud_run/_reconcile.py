"""The control plane: one worker per service reconciles its operations in order.

Like the real one, each operation waits the operation delay, then for every revision its
traffic names (and the new one) to be Ready or failed; then it either switches the proxies
and finishes with the service, or finishes with the error the real API reports and leaves
the effective traffic alone. A revision that traffic or a tag reaches again after it scaled
to zero gets an instance before the switch; one that nothing reaches any more scales to zero
after it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ._errors import ApiError
from ._operations import Operation, OperationStore
from ._revisions import Revisions
from ._routing import Router, resolve_targets
from ._state import (
    FAILED,
    SUCCEEDED,
    ServicePb,
    ServiceRecord,
    State,
    Target,
    condition,
    new_etag,
    parent_of,
    short_name,
)

__all__ = ["Job", "Reconciler"]


@dataclass(frozen=True)
class Job:
    """One accepted write waiting for its service's worker."""

    operation: Operation
    generation: int
    targets: tuple[Target, ...]
    new_revision: str | None
    delay: float
    forced_error: ApiError | None = None


class Reconciler:
    """Queues operations per service and runs each service's worker thread."""

    def __init__(
        self, state: State, operations: OperationStore, router: Router, revisions: Revisions
    ) -> None:
        self._state = state
        self._operations = operations
        self._router = router
        self._revisions = revisions

    def fail_next_operation(self, service_name: str, error: ApiError) -> None:
        """The operation of the next write to ``service_name`` finishes with ``error``.

        The write itself is accepted (the service keeps what was asked for), the effective
        traffic stays as it was: what an operation that fails on the server side leaves.
        """
        with self._state.lock:
            svc = self._state.services.get(service_name)
            if svc is not None:
                svc.failing_operations.append(error)

    def enqueue(self, svc: ServiceRecord, new_revision: str | None) -> Operation:
        """The operation of the write just applied to ``svc``; the caller holds the lock."""
        snapshot = ServicePb()
        snapshot.CopyFrom(svc.pb)
        operation = self._operations.start(parent_of(svc.pb.name), snapshot)
        settings = self._state.settings
        svc.jobs.put(
            Job(
                operation=operation,
                generation=svc.pb.generation,
                targets=resolve_targets(svc, svc.pb.traffic),
                new_revision=new_revision,
                delay=settings.operation_delay + settings.extra_delay,
                forced_error=svc.failing_operations.pop(0) if svc.failing_operations else None,
            )
        )
        return operation

    def start(self, svc: ServiceRecord) -> None:
        svc.worker = threading.Thread(
            target=self._work, args=(svc,), name=f"reconcile-{short_name(svc.pb.name)}", daemon=True
        )
        svc.worker.start()

    @staticmethod
    def stop(svc: ServiceRecord) -> None:
        """End the service's worker after the job it is on (queued jobs fail as stopping)."""
        svc.jobs.put(None)
        if svc.worker is not None:
            svc.worker.join(timeout=10)

    def _work(self, svc: ServiceRecord) -> None:
        while True:
            job = svc.jobs.get()
            if job is None or self._state.stopping.is_set():
                if job is not None:
                    job.operation.finish(
                        error=ApiError(503, "UNAVAILABLE", "The Cloud Run double is stopping.")
                    )
                return
            try:
                self._reconcile(svc, job)
            except Exception as error:  # an operation must always finish
                job.operation.finish(error=ApiError(500, "INTERNAL", f"double bug: {error!r}"))

    def _reconcile(self, svc: ServiceRecord, job: Job) -> None:
        state = self._state
        if state.stopping.wait(job.delay):
            job.operation.finish(
                error=ApiError(503, "UNAVAILABLE", "The Cloud Run double stopped.")
            )
            return
        with state.lock:
            waiting = [
                svc.revisions[t.revision] for t in job.targets if t.revision in svc.revisions
            ]
            if job.new_revision and job.new_revision in svc.revisions:
                waiting.append(svc.revisions[job.new_revision])
        deadline = time.monotonic() + state.settings.ready_timeout + 5
        for revision in waiting:
            while not revision.settled.wait(0.1):
                if state.stopping.is_set() or time.monotonic() > deadline:
                    break
        with state.lock:
            reached = {t.revision for t in job.targets if t.percent or t.tag}
            cold = [svc.revisions[name] for name in reached if name in svc.revisions]
        for revision in cold:
            self._revisions.scale_from_zero(svc, revision)
        with state.lock:
            error = job.forced_error or route_error(svc, job)
            pb = svc.pb
            latest = job.generation >= pb.generation
            idle = []
            if error is None:
                self._router.apply(svc, job.targets)
                idle = self._revisions.take_idle(svc)
            ready = [r for r in svc.revisions.values() if r.state == "ready"]
            if ready:
                pb.latest_ready_revision = ready[-1].pb.name
            if latest:
                pb.observed_generation = job.generation
                pb.reconciling = False
                del pb.conditions[:]
                if error is None:
                    pb.terminal_condition.CopyFrom(condition("Ready", SUCCEEDED))
                    pb.conditions.append(condition("RoutesReady", SUCCEEDED))
                    pb.conditions.append(condition("ConfigurationsReady", SUCCEEDED))
                else:
                    pb.terminal_condition.CopyFrom(condition("Ready", FAILED, error.message))
                    pb.conditions.append(condition("RoutesReady", FAILED, error.message))
            pb.etag = new_etag()
            result = ServicePb()
            result.CopyFrom(pb)
            if state.settings.restamp_etag:
                # Status settles a moment after the operation: the etag it returned is stale.
                pb.etag = new_etag()
        if error is None:
            job.operation.finish(response=result)
        else:
            job.operation.finish(error=error)
        for revision in idle:
            self._revisions.scale_to_zero(revision)


def route_error(svc: ServiceRecord, job: Job) -> ApiError | None:
    """Why ``job``'s traffic cannot be routed (the error the real API reports), or None."""
    checks = [t.revision for t in job.targets]
    if job.new_revision:
        checks.append(job.new_revision)
    for name in checks:
        revision = svc.revisions.get(name)
        if revision is None:
            return ApiError(
                500,
                "INTERNAL",
                f"Revision '{name}' does not exist or is deleted. Update all traffic to "
                "route to currently available revisions.",
            )
        if revision.state != "ready":
            reason = revision.failure or "It did not become ready in time."
            return ApiError(
                400,
                "FAILED_PRECONDITION",
                f"Revision '{name}' is not ready and cannot serve traffic. {reason}",
            )
    return None
