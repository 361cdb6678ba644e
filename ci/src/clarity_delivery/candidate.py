"""The candidate revision: its name, its creation at 0 % and the wait for its Ready condition.

The candidate is made from the template Terraform wants (its ``clarity.dev/template``
annotation on the service: resources, env, probes, service account; the service's live
template where there is none) with the new image, ``CLARITY_VERSION`` and version labels,
under a name derived from version and commit that is unique among the service's revisions
(Flagger's workload controller, Argo's replica set). So a Terraform change to the template
reaches traffic with the next release, through the same steps and analysis. One write creates
it, pins traffic to the stable revision by name, tags the candidate so it has its own URL, and
writes the rollout lease. Whether a candidate that never becomes Ready aborts the rollout is
the engine's decision; this module only says so.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
from google.cloud import run_v2

from . import _state as st
from ._cloudrun import CloudRunApi, ServicePath
from ._context import RolloutContext
from .plan import ReleasePlan, ServicePlan, TrafficSplit, label_value, revision_name
from .progress import Reporter
from .traffic import TrafficChange

__all__ = ["Revisions", "candidate_template", "is_ready"]

_READY = "Ready"
_SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED
_FAILED = run_v2.Condition.State.CONDITION_FAILED
_POLL_SECONDS = 0.2


class Revisions:
    """Names, creates and waits for candidate revisions of Cloud Run services."""

    def __init__(
        self,
        api: CloudRunApi,
        reporter: Reporter,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._api = api
        self._report = reporter
        self._sleep = sleep

    async def unique_name(self, path: ServicePath, svc: ServicePlan, plan: ReleasePlan) -> str:
        """The plan's revision name, or ``-r2``, ``-r3``... when a retry already used it."""
        taken = {st.short_name(r.name) for r in await self._api.list_revisions(path)}
        attempt = 1
        name = svc.revision
        while name in taken:
            attempt += 1
            name = revision_name(svc.name, plan.version, plan.commit, attempt)
        return name

    async def create(
        self,
        ctx: RolloutContext,
        service: run_v2.Service,
        state: st.RolloutState,
        split: TrafficSplit,
    ) -> run_v2.Service:
        """Create the candidate, route ``split`` (stable pinned, the candidate tagged at 0 %)
        and write the lease, in one write.

        Raises :class:`~._errors.OperationFailed` when Cloud Run refuses the revision.
        """
        self._report.event(
            "step",
            f"{ctx.key}: creating revision {ctx.candidate} at 0% (stable is {ctx.stable})",
            service=ctx.key,
            revision=ctx.candidate,
            stable=ctx.stable,
        )
        base = st.desired_template(service) or service.template
        template = candidate_template(base, ctx.svc, ctx.candidate, ctx.plan)
        digest = st.template_digest(service)
        if digest:
            template.annotations[st.TEMPLATE_DIGEST_ANNOTATION] = digest
        change = TrafficChange(split, state.to_json(), template=template)
        return await self._api.update_service(
            ctx.path, service, change, timeout=ctx.plan.policy.ready_timeout_seconds + 30
        )

    async def wait_ready(self, ctx: RolloutContext) -> str | None:
        """Wait for the candidate's Ready condition: None once Ready, else why it never will be."""
        timeout = ctx.plan.policy.ready_timeout_seconds
        deadline = time.monotonic() + timeout
        while True:
            revision = await self._api.get_revision(ctx.path, ctx.candidate)
            ready = next((c for c in revision.conditions if c.type_ == _READY), None)
            if ready is not None and ready.state == _SUCCEEDED:
                self._report.event("ready", f"{ctx.key}: {ctx.candidate} is Ready", service=ctx.key)
                return None
            if ready is not None and ready.state == _FAILED:
                return ready.message or ready.reason.name
            if time.monotonic() > deadline:
                return f"not Ready after {timeout:g}s"
            await self._sleep(_POLL_SECONDS)


def is_ready(revision: run_v2.Revision) -> bool:
    """Whether the revision's Ready condition succeeded."""
    return any(c.type_ == _READY and c.state == _SUCCEEDED for c in revision.conditions)


def candidate_template(
    template: run_v2.RevisionTemplate, svc: ServicePlan, candidate: str, plan: ReleasePlan
) -> run_v2.RevisionTemplate:
    """``template`` (Terraform's) with the release's image, name, version and labels."""
    new: run_v2.RevisionTemplate = run_v2.RevisionTemplate.deserialize(
        run_v2.RevisionTemplate.serialize(template)
    )
    new.revision = candidate
    if not new.containers:
        new.containers = [run_v2.Container()]
    container = new.containers[0]
    container.image = svc.image
    env = [e for e in container.env if e.name != "CLARITY_VERSION"]
    env.append(run_v2.EnvVar(name="CLARITY_VERSION", value=str(plan.version)))
    container.env = env
    new.labels[st.VERSION_LABEL] = label_value(str(plan.version))
    new.annotations[st.VERSION_ANNOTATION] = str(plan.version)
    if plan.commit:
        new.labels[st.COMMIT_LABEL] = plan.commit[:12]
        new.annotations[st.COMMIT_ANNOTATION] = plan.commit
    return new
