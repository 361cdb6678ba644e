"""The rollout engine: one release across services, each service through the numbered steps.

Per service, in dependency order (:meth:`Engine.run_service`):

1. read the service; roll back a rollout whose deployer is gone, or refuse one that is alive,
2. in one write: create the candidate, pin traffic to stable by name, tag the candidate so it
   can be probed at its own URL, and write the lease,
3. wait for the candidate's Ready condition (a failure or the timeout aborts: no traffic moved),
4. walk the strategy's steps: write the step's split, analyse (probes, transactions, before
   traffic the performance gate's load test where it is on and, where the candidate takes
   traffic, metrics), roll back on a failed verdict; where ``rollout.journey.before_traffic``
   is on, the API gateway's candidate must also pass the user's journey
   (:mod:`~..analysis.journey`) once its pre-traffic checks passed; then the bake,
5. make the candidate stable, the old stable revision kept tagged at 0 %.

While the rollout holds a service, every wait (the Ready wait, the rounds of analysis, the
bake, the journey's polls, the performance gate's load) renews its lease when due
(:mod:`~..lease`).

This is the only place where a verdict becomes a rollback, and where a later service's failure
restores the services already released. Whatever stops a service mid-way (a failed verdict, an
API error that outlived its retries, a credentials failure, a takeover) goes through the same
exit, :meth:`~..rollback.Rollbacks.unwind`, so every service ends on its previous stable
revision or released, and the error says which.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

from google.cloud import run_v2

from .. import _state as st
from .._cloudrun import CloudRunApi, ServicePath
from .._context import Released, RolloutContext
from .._errors import (
    ConfigError,
    CredentialsError,
    DeployError,
    OperationFailed,
    PermissionDenied,
    RolloutFailed,
)
from ..analysis import AnalysisRunner, LoadStats, Subject, Verdict, Window, load_evidence
from ..analysis.limits import RevisionStats
from ..candidate import Revisions
from ..journey import JOURNEY_SERVICE
from ..lease import Heartbeat
from ..ledger import DeploymentRecord, RevisionFigures, StepRecord
from ..plan import ReleasePlan, ServicePlan, TrafficSplit, TrafficTarget
from ..progress import Reporter
from ..recovery import Recovery
from ..rollback import Rollbacks, held_revisions
from ..strategies import PRE_TRAFFIC_FAILURE, Step, Strategy, strategy_for
from ..traffic import Hold, TrafficRouter
from ._conclusion import already_served, conclude
from ._records import Records

__all__ = ["JOURNEY_FAILURE", "Engine"]

JOURNEY_FAILURE = "candidate failed the user journey before taking traffic"


class Engine:
    """Runs rollouts; every part it drives is injected by the :class:`~.Deployer`."""

    def __init__(
        self,
        *,
        api: CloudRunApi,
        router: TrafficRouter,
        revisions: Revisions,
        analysis: AnalysisRunner,
        rollbacks: Rollbacks,
        recovery: Recovery,
        records: Records,
        reporter: Reporter,
        heartbeat: Heartbeat,
        owner: str,
        journey: AnalysisRunner | None = None,
    ) -> None:
        self._api = api
        self._journey = journey
        self._router = router
        self._revisions = revisions
        self._analysis = analysis
        self._rollbacks = rollbacks
        self._recovery = recovery
        self._records = records
        self._report = reporter
        self._heartbeat = heartbeat
        self._owner = owner

    async def deploy(self, plan: ReleasePlan) -> DeploymentRecord | None:
        """Roll ``plan`` out; on failure restore every service touched, then raise.

        None when every service already serves the release (a deploy run again after the one
        that released it died before it could say so): nothing is changed or recorded.
        """
        record = DeploymentRecord(
            id=uuid.uuid4().hex[:12],
            kind="rollout",
            environment=plan.environment,
            version=str(plan.version),
            commit=plan.commit,
            services=[s.key for s in plan.services],
            strategy=plan.policy.strategy,
            started_at=time.time(),
            images={s.key: s.image for s in plan.services},
        )
        self._report.event("plan", plan.describe(), rollout=record.id, environment=plan.environment)
        for override in plan.overrides:
            self._report.event("override", override, rollout=record.id)
        released: list[Released] = []
        touched: list[ServicePath] = []
        try:
            served = await already_served(self._api, plan)
            if served is not None:
                self._report.event(
                    "done",
                    f"release {plan.version} already serves every service: {served}; nothing to do",
                    outcome="unchanged",
                )
                return None
            for svc in plan.services:
                path = ServicePath(plan.project_id, plan.region, svc.name)
                released.append(await self.run_service(plan, svc, path, record, touched))
        except DeployError as exc:
            error = await conclude(
                self._rollbacks, plan, record, released=released, touched=touched, exc=exc
            )
            record.error = error.message
            record.ended_at = time.time()
            # Refusals before anything reached Cloud Run (bad input, credentials, permissions)
            # are not deployments.
            refusal = isinstance(exc, ConfigError | CredentialsError | PermissionDenied)
            if touched or not refusal:
                await self._records.append(record, _paths(plan))
            self._report.event(
                "done",
                f"release {plan.version} to {plan.environment}: {record.outcome}",
                outcome=record.outcome,
            )
            if error is exc:
                raise
            raise error from exc
        record.outcome = "succeeded"
        record.ended_at = time.time()
        await self._records.append(record, _paths(plan))
        self._report.event(
            "done",
            f"release {plan.version} is stable in {plan.environment} "
            f"({record.duration_seconds:.1f}s, {len(plan.services)} services)",
            outcome=record.outcome,
        )
        return record

    async def run_service(
        self,
        plan: ReleasePlan,
        svc: ServicePlan,
        path: ServicePath,
        record: DeploymentRecord,
        touched: list[ServicePath],
    ) -> Released:
        """Steps 1 to 5 for one service; raises after unwinding this service."""
        strategy = strategy_for(plan.policy.strategy)

        # 1. The service as it is, free of any rollout whose deployer is gone.
        service = await self._api.get_service(path)
        service = await self._recovery.resolve_interrupted(path, service, svc.key)
        stable = st.stable_revision(service)
        if stable is None:
            msg = f"{svc.key}: {path.service} has no serving revision to protect; deploy it with Terraform first"
            raise ConfigError(msg)
        # The probes' permission, asked before anything is written.
        await self._api.require(path, "run.routes.invoke")
        ctx = RolloutContext(
            plan=plan,
            svc=svc,
            path=path,
            stable=stable,
            candidate=await self._revisions.unique_name(path, svc, plan),
            held=held_revisions(service, stable),
            record=record,
        )
        state = st.RolloutState(
            id=record.id,
            version=ctx.version,
            commit=plan.commit,
            strategy=plan.policy.strategy,
            candidate=ctx.candidate,
            stable=stable,
            percent=0,
            owner=self._owner,
            heartbeat=time.time(),
            lease_seconds=plan.policy.creation_lease_seconds,
        )
        hold: Hold | None = None
        try:
            hold = await self._create(ctx, service, state, strategy.candidate_tag)
            touched.append(path)
            with self._heartbeat.keeping(hold):
                await self._walk(ctx, hold, strategy)
        except DeployError as exc:
            error, reached = await self._rollbacks.unwind(ctx, exc, held=hold is not None)
            if reached and path not in touched:
                touched.append(path)
            if isinstance(error, RolloutFailed) and error.first_failure_at is not None:
                record.time_to_rollback_seconds = time.monotonic() - error.first_failure_at
            if error is exc:
                raise
            raise error from exc
        self._report.event(
            "done",
            f"{svc.key}: {ctx.candidate} is stable at 100% ({strategy.previous_tag}: {stable})",
            service=svc.key,
            revision=ctx.candidate,
        )
        return Released(
            svc=svc, path=path, previous=stable, candidate=ctx.candidate, record_id=record.id
        )

    async def _create(
        self, ctx: RolloutContext, service: run_v2.Service, state: st.RolloutState, tag: str
    ) -> Hold:
        """2 and 3: the candidate at 0 %, tagged, the lease written; then Ready, or abort."""
        split = TrafficSplit((*ctx.pinned().targets, TrafficTarget(ctx.candidate, 0, tag)))
        try:
            service = await self._revisions.create(ctx, service, state, split)
        except OperationFailed as exc:
            # The operation fails when the candidate cannot serve: say why, if that is why.
            not_ready = await self._revisions.wait_ready(ctx)
            if not_ready is not None:
                raise self._rollbacks.aborted(ctx, not_ready) from exc
            raise
        hold = self._router.hold(
            ctx.path, service, state, lease_seconds=ctx.plan.policy.lease_seconds
        )
        with self._heartbeat.keeping(hold):
            not_ready = await self._revisions.wait_ready(ctx)
        if not_ready is not None:
            raise self._rollbacks.aborted(ctx, not_ready)
        return hold

    async def _walk(self, ctx: RolloutContext, hold: Hold, strategy: Strategy) -> None:
        """4 and 5: the strategy's steps (the journey after the pre-traffic checks, the bake
        last), then the candidate stable."""
        tag = strategy.candidate_tag
        url = st.tag_url(hold.service, tag)
        if url is None:
            raise self._rollbacks.failed(ctx, None, f"Cloud Run gave the '{tag}' tag no URL")
        audience = st.audience_of(hold.service)
        baseline_url = st.tag_url(hold.service, "stable") or ""  # for the performance gate
        moved = time.time()
        for step in strategy.steps(ctx):
            if step.split is not None:
                await hold.route(step.split, percent=step.percent)
                moved = time.time()
            if step.announce:
                self._report.event("traffic", step.announce, service=ctx.key, percent=step.percent)
            verdict = await self._analyse(
                ctx, step, url, audience, moved=moved, baseline_url=baseline_url
            )
            if not verdict.passed:
                raise self._rollbacks.failed(ctx, verdict, step.failure)
            # Once, after the candidate's own checks passed at 0 % (not after the load test).
            pre_traffic = step.split is None and step.failure == PRE_TRAFFIC_FAILURE
            if pre_traffic and self._journey is not None and ctx.key == JOURNEY_SERVICE:
                verdict = await self._analyse(
                    ctx, step, url, audience, moved=moved, runner=self._journey
                )
                if not verdict.passed:
                    raise self._rollbacks.failed(ctx, verdict, JOURNEY_FAILURE)
        entry = st.HistoryEntry(
            version=ctx.version, revision=ctx.candidate, outcome="succeeded", at=time.time()
        )
        await hold.release(strategy.promoted(ctx), history=entry)

    async def _analyse(
        self,
        ctx: RolloutContext,
        step: Step,
        url: str,
        audience: str,
        *,
        moved: float,
        runner: AnalysisRunner | None = None,
        baseline_url: str = "",
    ) -> Verdict:
        """Analyse one step of the candidate against stable, and record the step.

        ``moved`` is when traffic last changed: a bake holds until ``bake_seconds`` of traffic
        since then have been analysed (plus the metric lag, so that Monitoring has them).
        ``runner``: the journey's, which decides on one run (it has its own time bound).
        """
        started = time.time()
        policy = ctx.plan.policy
        metrics = policy.metrics if step.percent > 0 else None
        subject = Subject(
            service=ctx.svc,
            candidate=ctx.candidate,
            baseline=ctx.stable,
            url=url,
            audience=audience,
            percent=step.percent,
            project=ctx.plan.project_id,
            region=ctx.plan.region,
            metrics=metrics,
            load=policy.performance if step.analysis == "performance" else None,
            baseline_url=baseline_url,
        )
        baking = step.analysis == "bake"
        lag = policy.metrics.delay_seconds if policy.metrics is not None else 0.0
        if runner is None:
            window = Window(
                policy=policy,
                mode=step.analysis,
                gate=None if baking else metrics,
                hold_until=moved + policy.bake_seconds + lag if baking else 0.0,
            )
        else:
            once = replace(policy, probes_per_step=1, failure_threshold=1)
            window = Window(policy=once, mode="full")
        verdict = await (runner or self._analysis).analyse(subject, window)
        # The figures that tell the step's story: its load test's, else its metrics window's.
        evidence = load_evidence(verdict.measurements) or verdict.metric_evidence()
        kind = {"bake": "bake", "performance": "performance"}.get(step.analysis, "step")
        ctx.record.steps.append(
            StepRecord(
                service=ctx.key,
                percent=step.percent,
                started_at=started,
                duration_seconds=time.time() - started,
                rounds=len(verdict.measurements),
                failed_rounds=verdict.failed_rounds,
                kind=kind,
                candidate=_figures(evidence.candidate) if evidence else None,
                stable=_figures(evidence.baseline) if evidence else None,
                decided_by=verdict.decided_by,
            )
        )
        return verdict


def _figures(stats: RevisionStats | LoadStats) -> RevisionFigures:
    def ms(q: int) -> float | None:
        value = stats.latency_ms(q) if isinstance(stats, LoadStats) else stats.latency_ms(f"p{q}")
        return None if value is None else round(value, 1)

    return RevisionFigures(
        requests=stats.requests,
        error_ratio=round(stats.error_ratio, 5),
        p50_ms=ms(50),
        p95_ms=ms(95),
        p99_ms=ms(99),
    )


def _paths(plan: ReleasePlan) -> list[ServicePath]:
    return [ServicePath(plan.project_id, plan.region, s.name) for s in plan.services]
