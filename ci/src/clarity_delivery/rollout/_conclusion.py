"""How a release ends when it does not complete, and whether there is anything to release.

:func:`conclude` is the last step of a failed release: the service it stopped in has been
unwound already (:meth:`~..rollback.Rollbacks.unwind`); the services released before it are
restored, and the error to raise says, in one line, what production looks like now and what to
do. :func:`already_served` tells a deploy run again after one that released everything died
before it could say so: then there is nothing to do.
"""

from __future__ import annotations

import re
import time

from .. import _state as st
from .._cloudrun import CloudRunApi, ServicePath
from .._context import Released
from .._errors import (
    ConcurrentRollout,
    DeployError,
    RollbackFailed,
    RolloutAborted,
    RolloutFailed,
)
from ..ledger import DeploymentRecord, Outcome
from ..plan import ReleasePlan
from ..rollback import Rollbacks

__all__ = ["already_served", "conclude", "outcome_of"]


async def already_served(api: CloudRunApi, plan: ReleasePlan) -> str | None:
    """Which revision serves each service, if every one is a revision of this release
    (named for its version and commit) alone at 100 %, made from the service's current
    template and from the template Terraform wants now, with no rollout on it; else None.

    A Terraform change of the template (its ``clarity.dev/template`` annotation) reaches
    production only through a release: a redeploy after one is a rollout, not a no-op."""
    serving = []
    for svc in plan.services:
        service = await api.get_service(ServicePath(plan.project_id, plan.region, svc.name))
        split = st.current_split(service)
        stable = st.stable_revision(service)
        if (
            st.RolloutState.from_service(service) is not None
            or stable is None
            or service.template.revision != stable  # the template changed since
            or service.template.annotations.get(st.TEMPLATE_DIGEST_ANNOTATION, "")
            != st.template_digest(service)  # Terraform wants another template since
            or split is None
            or split.percent_of(stable) != 100
            or not re.fullmatch(re.escape(svc.revision) + r"(-r\d+)?", stable)
        ):
            return None
        serving.append(f"{svc.key}: {stable}")
    return ", ".join(serving)


async def conclude(
    rollbacks: Rollbacks,
    plan: ReleasePlan,
    record: DeploymentRecord,
    *,
    released: list[Released],
    touched: list[ServicePath],
    exc: DeployError,
) -> DeployError:
    """After ``exc`` stopped the release (the service it stopped in already unwound): restore
    the services it had released; the error to raise, saying what production looks like."""
    record.outcome = outcome_of(exc)
    states: list[str] = []
    failures: list[RollbackFailed] = [exc] if isinstance(exc, RollbackFailed) else []
    if released:
        started = time.monotonic()
        states, failed = await rollbacks.restore_released(
            released, str(plan.version), reason=exc.cause
        )
        failures += failed
        record.time_to_rollback_seconds = (record.time_to_rollback_seconds or 0.0) + (
            time.monotonic() - started
        )
        if not isinstance(exc, ConcurrentRollout | RollbackFailed):
            record.outcome = "rolled_back"
    error = exc
    if failures and failures != [exc]:
        causes = [exc.cause, *(f.cause for f in failures if f is not exc)]
        error = RollbackFailed("; then ".join(causes), advice=" ".join(f.advice for f in failures))
        record.outcome = "failed"
    reached = {p.service for p in touched}
    pending = plan.services[len(released) :]
    later = [
        f"{s.name} was not touched"
        for n, s in enumerate(pending)
        if s.name not in reached and not (n == 0 and exc.state)  # the first one says itself
    ]
    if not released and not reached and not exc.state:
        later = ["nothing was changed"]
    error.state = "; ".join(s for s in [*states, exc.state, *later] if s)
    if not isinstance(error, RollbackFailed | RolloutFailed | RolloutAborted):
        status = f"`clarity-deploy status --env {plan.environment}`"
        advice = error.advice.replace("`clarity-deploy status`", status)
        if status not in advice:
            advice = f"{advice} {status} shows what serves."
        error.advice = advice.strip()
    return error


def outcome_of(exc: DeployError) -> Outcome:
    """The record's outcome of a release that ``exc`` stopped."""
    if isinstance(exc, RolloutAborted):
        return "aborted"
    if isinstance(exc, RolloutFailed):
        return "rolled_back"
    if isinstance(exc, ConcurrentRollout):
        return "conflict"
    return "failed"
