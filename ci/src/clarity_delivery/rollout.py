"""Rollouts, rollbacks and status: the orchestration of one release across services.

The :class:`Deployer` talks to Cloud Run only through :class:`~._cloudrun.CloudRunApi` and
to services only through :class:`~.health.Prober`; both are injected, so tests run the
same code against a local double of the Admin API with real revision processes.

Per service, a rollout:

1. reads the service (and resolves an interrupted rollout left on it, or refuses if another
   rollout holds it),
2. pins traffic to the current stable revision and creates the candidate revision from the
   service's own template (new image, version labels) at 0 %, writing the rollout state,
3. waits for the candidate's Ready condition (a failure or timeout aborts: traffic untouched),
4. tags the candidate and checks through its tag URL that it answers as itself and is healthy,
5. canary: moves traffic step by step, analysing at each step; blue-green: analyses the
   ``green`` candidate at 0 %, then switches 100 % at once and analyses again,
6. retags the candidate ``stable`` and keeps the old revision tagged (``previous``/``blue``).

Any failure sends 100 % back to the previous stable revision, records the candidate as failed
in the service's history, and — when several services are released together — restores the
services that had already been rolled out too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

import anyio
from google.cloud import run_v2

from . import _state as st
from ._cloudrun import CloudRunApi, OperationFailed, ServicePath
from ._errors import (
    ConcurrentRollout,
    ConfigError,
    CredentialsError,
    DeployError,
    HealthCheckFailed,
    PermissionDenied,
    RollbackFailed,
    RolloutAborted,
    RolloutFailed,
    VersionNotFound,
)
from .health import Analysis, Prober, RoundResult
from .ledger import DeploymentRecord, Ledger, Outcome, StepRecord
from .plan import (
    ReleasePlan,
    ServicePlan,
    TrafficSplit,
    TrafficTarget,
    label_value,
    parse_version,
    revision_name,
)
from .progress import Reporter
from .settings import EnvironmentSettings, HealthCheck, RolloutPolicy

__all__ = ["Deployer", "ServiceStatus"]

_READY = "Ready"
_SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED
_FAILED = run_v2.Condition.State.CONDITION_FAILED


@dataclass(frozen=True, kw_only=True)
class ServiceStatus:
    """What ``status`` reports for one service."""

    key: str
    name: str
    stable: str | None
    version: str | None
    traffic: str
    rollout: st.RolloutState | None
    last: st.HistoryEntry | None
    resolved: str | None


@dataclass(frozen=True, kw_only=True)
class _Attempt:
    """The rollout of one service in progress: what a failure must restore and record."""

    path: ServicePath
    svc: ServicePlan
    stable: str
    candidate: str
    version: str
    record: DeploymentRecord


@dataclass
class _Done:
    """A service whose rollout finished, and what to restore if a later service fails."""

    plan: ServicePlan
    path: ServicePath
    previous: str


class Deployer:
    """Runs rollouts, rollbacks, status and health checks against one Cloud Run project."""

    def __init__(
        self,
        api: CloudRunApi,
        prober: Prober,
        reporter: Reporter,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        owner: str | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self._ledger = ledger
        self._api = api
        self._prober = prober
        self._report = reporter
        self._sleep = sleep
        self._owner = owner or st.owner_id()

    async def _append(self, record: DeploymentRecord, paths: list[ServicePath]) -> None:
        """Record a rollout or rollback that reached Cloud Run: in the ledger file and on the
        services it touched, so ``report --env`` works from anywhere (a CI container's files
        are gone when it ends)."""
        if self._ledger is not None:
            self._ledger.append(record)
        if record.outcome == "conflict":
            return  # another rollout owns those services now: writing to them would break it
        for path in paths:
            try:
                service = await self._api.get_service(path)
                service.annotations[st.LEDGER_ANNOTATION] = st.with_ledger(service, record)
                await self._api.update_service(
                    path,
                    service,
                    ["annotations"],
                    timeout=60,
                    applied=lambda s: any(r.id == record.id for r in st.ledger_of(s)),
                )
            except DeployError as exc:  # bookkeeping must not turn a result into another one
                self._report.event(
                    "error",
                    f"could not record {record.kind} {record.id} on {path.service}: {exc.message}",
                )

    # ================================================================== deploy
    async def deploy(self, plan: ReleasePlan) -> DeploymentRecord:
        """Roll ``plan`` out; on failure restore every service touched, then raise."""
        record = DeploymentRecord(
            id=uuid.uuid4().hex[:12],
            kind="rollout",
            environment=plan.environment,
            version=str(plan.version),
            commit=plan.commit,
            services=[s.key for s in plan.services],
            strategy=plan.policy.strategy,
            started_at=time.time(),
        )
        self._report.event("plan", plan.describe(), rollout=record.id, environment=plan.environment)
        done: list[_Done] = []
        try:
            for svc in plan.services:
                path = ServicePath(plan.project_id, plan.region, svc.name)
                previous = await self._rollout_service(plan, svc, path, record)
                done.append(_Done(svc, path, previous))
        except DeployError as exc:
            record.error = exc.message
            record.outcome = _outcome_of(exc)
            if done:
                started = time.monotonic()
                await self._restore_released(done, plan, reason=exc.message)
                record.time_to_rollback_seconds = (record.time_to_rollback_seconds or 0.0) + (
                    time.monotonic() - started
                )
                record.outcome = "rolled_back"
            record.ended_at = time.time()
            # Refusals (bad input, credentials, permissions) changed nothing: not deployments.
            if done or not isinstance(exc, ConfigError | CredentialsError | PermissionDenied):
                await self._append(record, _paths(plan))
            self._report.event(
                "done",
                f"release {plan.version} to {plan.environment}: {record.outcome}",
                outcome=record.outcome,
            )
            raise
        record.outcome = "succeeded"
        record.ended_at = time.time()
        await self._append(record, _paths(plan))
        self._report.event(
            "done",
            f"release {plan.version} is stable in {plan.environment} "
            f"({record.duration_seconds:.1f}s, {len(plan.services)} services)",
            outcome=record.outcome,
        )
        return record

    async def _rollout_service(
        self, plan: ReleasePlan, svc: ServicePlan, path: ServicePath, record: DeploymentRecord
    ) -> str:
        policy = plan.policy
        service = await self._api.get_service(path)
        service = await self._resolve_interrupted(path, service, svc.key)
        stable = st.stable_revision(service)
        if stable is None:
            msg = f"{svc.key}: {path.service} has no serving revision to protect; deploy it with Terraform first"
            raise ConfigError(msg)
        candidate = await self._unique_revision_name(path, svc, plan)
        ctx = _Attempt(
            path=path,
            svc=svc,
            stable=stable,
            candidate=candidate,
            version=str(plan.version),
            record=record,
        )
        keep = {
            tag: rev
            for tag, rev in st.tagged_revisions(service).items()
            if tag in ("previous", "blue") and rev != stable
        }
        # Revisions tagged for an instant switch back stay tagged (at 0 %) through every step.
        held = tuple(TrafficTarget(rev, 0, t) for t, rev in keep.items())
        state = st.RolloutState(
            id=record.id,
            version=str(plan.version),
            commit=plan.commit,
            strategy=policy.strategy,
            candidate=candidate,
            stable=stable,
            percent=0,
            owner=self._owner,
            heartbeat=time.time(),
            lease_seconds=policy.lease_seconds,
        )

        # 1. candidate revision at 0 %, traffic pinned to stable by name.
        self._report.event(
            "step",
            f"{svc.key}: creating revision {candidate} at 0% (stable is {stable})",
            service=svc.key,
            revision=candidate,
            stable=stable,
        )
        service.template = _candidate_template(service.template, svc, candidate, plan)
        pinned = TrafficSplit.single(stable, keep=keep)
        st.apply_split(service, pinned)
        service.annotations[st.ROLLOUT_ANNOTATION] = state.to_json()
        try:
            service = await self._api.update_service(
                path,
                service,
                ["template", "traffic", "annotations"],
                timeout=policy.ready_timeout_seconds + 30,
                applied=lambda s: s.template.revision == candidate,
            )
        except OperationFailed as exc:
            await self._abort(path, svc, candidate, str(plan.version), exc.message)
        await self._wait_ready(path, svc, candidate, str(plan.version), policy)

        # 2. tag the candidate and verify it answers as itself.
        tag = plan.candidate_tag
        tagged = TrafficSplit((*pinned.targets, TrafficTarget(candidate, 0, tag)))
        service = await self._write(path, service, tagged, state)
        url = st.tag_url(service, tag)
        if url is None:
            await self._fail(
                ctx,
                None,
                f"Cloud Run gave the '{tag}' tag no URL",
            )
        audience = str(service.uri)
        if policy.strategy == "blue-green":
            # Green is verified as thoroughly as a traffic step before the one switch.
            verify = await self._analyse(
                svc, url, audience, candidate, policy, percent=0, record=record
            )
            verified = not verify.failed
        else:
            verify = await self._analyse(
                svc, url, audience, candidate, policy, percent=0, record=record, until_healthy=True
            )
            verified = verify.rounds[-1].ok
        if not verified:
            await self._fail(ctx, verify, "candidate failed verification before taking traffic")

        # 3. traffic.
        if policy.strategy == "canary":
            for n, percent in enumerate(policy.steps, 1):
                step = TrafficSplit.canary(stable, candidate, percent, candidate_tag=tag)
                split = TrafficSplit((*step.targets, *held))
                state = _beat(state, percent)
                service = await self._write(path, service, split, state)
                self._report.event(
                    "traffic",
                    f"{svc.key}: step {n}/{len(policy.steps)}: {split.describe()}",
                    service=svc.key,
                    percent=percent,
                )
                analysis = await self._analyse(
                    svc, url, audience, candidate, policy, percent=percent, record=record
                )
                if analysis.failed:
                    await self._fail(
                        ctx,
                        analysis,
                        f"health analysis failed at {percent}%",
                    )
        else:
            switched = TrafficSplit(
                (
                    TrafficTarget(candidate, 100, tag),
                    TrafficTarget(stable, 0, "blue"),
                    *(h for h in held if h.tag != "blue"),
                )
            )
            state = _beat(state, 100)
            service = await self._write(path, service, switched, state)
            self._report.event(
                "traffic",
                f"{svc.key}: switched 100% to green {candidate}; blue {stable} kept at 0%",
                service=svc.key,
                percent=100,
            )
            analysis = await self._analyse(
                svc, url, audience, candidate, policy, percent=100, record=record
            )
            if analysis.failed:
                await self._fail(
                    ctx,
                    analysis,
                    "health analysis failed after the switch",
                )

        # 4. the candidate becomes stable.
        old_tag = "blue" if policy.strategy == "blue-green" else "previous"
        final = TrafficSplit(
            (TrafficTarget(candidate, 100, "stable"), TrafficTarget(stable, 0, old_tag))
        )
        entry = st.HistoryEntry(
            version=str(plan.version), revision=candidate, outcome="succeeded", at=time.time()
        )
        await self._write(path, service, final, None, history=entry)
        self._report.event(
            "done",
            f"{svc.key}: {candidate} is stable at 100% ({old_tag}: {stable})",
            service=svc.key,
            revision=candidate,
        )
        return stable

    # ------------------------------------------------------------------ steps
    async def _analyse(
        self,
        svc: ServicePlan,
        url: str,
        audience: str,
        candidate: str,
        policy: RolloutPolicy,
        *,
        percent: int,
        record: DeploymentRecord,
        until_healthy: bool = False,
    ) -> Analysis:
        """Probe rounds at the analysis interval until the step's verdict is known.

        ``until_healthy`` is the pre-traffic check: it stops at the first fully healthy round and
        allows up to ``probes_per_step`` rounds for it, so a cold first request (a fresh gRPC
        channel to Firestore, say) does not fail a good release; a broken one fails every round.
        """
        wanted = policy.probes_per_step
        analysis = Analysis(_patient(policy) if until_healthy else policy)
        started = time.time()
        while not analysis.done and not (
            until_healthy and analysis.rounds and analysis.rounds[-1].ok
        ):
            if analysis.rounds:
                await self._sleep(policy.analysis_interval_seconds)
            result = await self._prober.round(
                url, svc.checks, audience=audience, expect_revision=candidate
            )
            analysis.record(result)
            self._report_round(svc, percent, result, len(analysis.rounds), wanted)
        record.steps.append(
            StepRecord(
                service=svc.key,
                percent=percent,
                started_at=started,
                duration_seconds=time.time() - started,
                rounds=len(analysis.rounds),
                failed_rounds=analysis.failed_rounds,
            )
        )
        return analysis

    def _report_round(
        self, svc: ServicePlan, percent: int, result: RoundResult, n: int, of: int
    ) -> None:
        if result.ok:
            self._report.event(
                "probe",
                f"{svc.key} @{percent}%: round {n}/{of} healthy "
                f"({', '.join(r.describe() for r in result.results)})",
                service=svc.key,
                percent=percent,
                ok=True,
            )
        else:
            self._report.event(
                "probe-failed",
                f"{svc.key} @{percent}%: round {n}/{of} failed: {'; '.join(result.failures())}",
                service=svc.key,
                percent=percent,
                ok=False,
            )

    async def _wait_ready(
        self,
        path: ServicePath,
        svc: ServicePlan,
        candidate: str,
        version: str,
        policy: RolloutPolicy,
    ) -> None:
        deadline = time.monotonic() + policy.ready_timeout_seconds
        while True:
            revision = await self._api.get_revision(path, candidate)
            ready = next((c for c in revision.conditions if c.type_ == _READY), None)
            if ready is not None and ready.state == _SUCCEEDED:
                self._report.event("ready", f"{svc.key}: {candidate} is Ready", service=svc.key)
                return
            if ready is not None and ready.state == _FAILED:
                await self._abort(path, svc, candidate, version, ready.message or ready.reason.name)
            if time.monotonic() > deadline:
                await self._abort(
                    path,
                    svc,
                    candidate,
                    version,
                    f"not Ready after {policy.ready_timeout_seconds:g}s",
                )
            await self._sleep(0.2)

    async def _write(
        self,
        path: ServicePath,
        service: run_v2.Service,
        split: TrafficSplit,
        state: st.RolloutState | None,
        *,
        history: st.HistoryEntry | None = None,
    ) -> run_v2.Service:
        """One guarded write of traffic and rollout state (None clears it)."""
        st.apply_split(service, split)
        if state is None:
            service.annotations.pop(st.ROLLOUT_ANNOTATION, None)
        else:
            service.annotations[st.ROLLOUT_ANNOTATION] = state.to_json()
        if history is not None:
            service.annotations[st.HISTORY_ANNOTATION] = st.with_history(service, history)
        return await self._api.update_service(
            path,
            service,
            ["traffic", "annotations"],
            timeout=120,
            applied=lambda s: (
                st.same_split(s, split)
                and s.annotations.get(st.ROLLOUT_ANNOTATION)
                == service.annotations.get(st.ROLLOUT_ANNOTATION)
            ),
        )

    # ------------------------------------------------------------------ failure paths
    async def _abort(
        self, path: ServicePath, svc: ServicePlan, candidate: str, version: str, reason: str
    ) -> None:
        """The candidate never became Ready: clear our state, record it, raise RolloutAborted."""
        self._report.event(
            "error", f"{svc.key}: {candidate} did not become Ready: {reason}", service=svc.key
        )
        service = await self._api.get_service(path)
        stable = st.stable_revision(service)
        split = st.current_split(service)
        if split is not None and stable is not None:
            entry = st.HistoryEntry(
                version=version, revision=candidate, outcome="aborted", at=time.time()
            )
            await self._write(path, service, split, None, history=entry)
        msg = (
            f"{svc.key}: candidate revision {candidate} never became Ready ({reason}). Traffic was not "
            f"touched: {stable} still serves 100%. Check the revision's logs in Cloud Logging."
        )
        raise RolloutAborted(msg)

    async def _fail(self, ctx: _Attempt, analysis: Analysis | None, what: str) -> NoReturn:
        """Health failed: 100 % back to stable, candidate recorded failed, raise RolloutFailed."""
        path, svc, stable, candidate, version, record = (
            ctx.path,
            ctx.svc,
            ctx.stable,
            ctx.candidate,
            ctx.version,
            ctx.record,
        )
        reasons = "; ".join(analysis.reasons()) if analysis else what
        self._report.event(
            "rollback", f"{svc.key}: {what} ({reasons}); rolling back to {stable}", service=svc.key
        )
        await self._restore(path, stable, candidate, version, outcome="rolled_back")
        if analysis is not None and analysis.first_failure_at is not None:
            record.time_to_rollback_seconds = time.monotonic() - analysis.first_failure_at
        self._report.event("rollback", f"{svc.key}: {stable} serves 100% again", service=svc.key)
        msg = (
            f"{svc.key}: {what}: {reasons}. Traffic is back on {stable} at 100% and {candidate} is "
            "recorded as failed. Fix the release and deploy a new version."
        )
        raise RolloutFailed(msg)

    async def _restore(
        self, path: ServicePath, stable: str, failed: str, version: str, *, outcome: str
    ) -> None:
        """Send 100 % to ``stable`` in one write; anything going wrong here is RollbackFailed."""
        try:
            service = await self._api.get_service(path)
            keep = {
                t: r
                for t, r in st.tagged_revisions(service).items()
                if t in ("previous", "blue") and r != stable
            }
            split = TrafficSplit.single(stable, keep=keep)
            entry = st.HistoryEntry(
                version=version, revision=failed, outcome=outcome, at=time.time()
            )
            await self._write(path, service, split, None, history=entry)
        except DeployError as exc:
            msg = (
                f"could not restore traffic of {path.service} to {stable}: {exc.message}. Restore it by hand: "
                f"scripts/rollback.sh <env> previous, or gcloud run services update-traffic {path.service} "
                f"--to-revisions={stable}=100 --region {path.region} --project {path.project}"
            )
            raise RollbackFailed(msg) from exc

    async def _restore_released(self, done: list[_Done], plan: ReleasePlan, *, reason: str) -> None:
        """A later service failed: restore the ones already released, last first."""
        for item in reversed(done):
            self._report.event(
                "rollback",
                f"{item.plan.key}: restoring {item.previous} because a later service failed",
                service=item.plan.key,
            )
            await self._restore(
                item.path,
                item.previous,
                item.plan.revision,
                str(plan.version),
                outcome="rolled_back",
            )
        self._report.event("rollback", f"restored {', '.join(d.plan.key for d in done)} ({reason})")

    async def _resolve_interrupted(
        self, path: ServicePath, service: run_v2.Service, key: str
    ) -> run_v2.Service:
        """Refuse while another rollout holds the service; roll back one whose deployer is gone."""
        state = st.RolloutState.from_service(service)
        if state is None:
            return service
        if state.owner != self._owner and not state.abandoned(time.time()):
            msg = (
                f"{key}: another rollout (version {state.version}, id {state.id}, by {state.owner}) is in "
                f"progress on {path.service} at {state.percent}%. Its traffic was left alone; wait for it to "
                "finish, or run `clarity-deploy status` once its lease "
                f"({state.lease_seconds:.0f}s without progress) has run out to resolve it."
            )
            raise ConcurrentRollout(msg)
        self._report.event(
            "resolve",
            f"{key}: found an interrupted rollout of {state.version} "
            f"(id {state.id}, by {state.owner}, at {state.percent}%); rolling back to {state.stable}",
            service=key,
            rollout=state.id,
        )
        await self._restore(
            path, state.stable, state.candidate, state.version, outcome="interrupted"
        )
        return await self._api.get_service(path)

    async def _unique_revision_name(
        self, path: ServicePath, svc: ServicePlan, plan: ReleasePlan
    ) -> str:
        taken = {st.short_name(r.name) for r in await self._api.list_revisions(path)}
        attempt = 1
        name = svc.revision
        while name in taken:
            attempt += 1
            name = revision_name(svc.name, plan.version, plan.commit, attempt)
        return name

    # ================================================================== rollback
    async def rollback(self, settings: EnvironmentSettings, to: str) -> DeploymentRecord:
        """Send 100 % of every service to the revision of version ``to`` (or ``previous``), then verify."""
        if to != "previous":
            to = str(parse_version(to))
        record = DeploymentRecord(
            id=uuid.uuid4().hex[:12],
            kind="rollback",
            environment=settings.environment,
            version=to,
            commit="",
            services=list(settings.rollout_order()),
            strategy="rollback",
            started_at=time.time(),
        )
        started = time.monotonic()
        order = tuple(reversed(settings.rollout_order()))  # consumers first
        # Resolve every target before changing anything: a missing version changes nothing.
        targets: list[tuple[str, ServicePath, str, str]] = []
        for key in order:
            svc = settings.services[key]
            path = ServicePath(settings.project_id, settings.region, svc.name)
            service = await self._resolve_interrupted(path, await self._api.get_service(path), key)
            current = st.stable_revision(service) or ""
            target, version = await self._find_target(path, service, key, to, current)
            targets.append((key, path, target, version))
        self._report.event(
            "plan", "rollback of " + ", ".join(f"{k} → {t} ({v})" for k, _, t, v in targets)
        )
        try:
            for key, path, target, version in targets:
                service = await self._api.get_service(path)
                now_serving = st.stable_revision(service)
                keep = {"previous": now_serving} if now_serving and now_serving != target else {}
                entry = st.HistoryEntry(
                    version=version, revision=target, outcome="restored", at=time.time()
                )
                await self._write(
                    path, service, TrafficSplit.single(target, keep=keep), None, history=entry
                )
                self._report.event(
                    "traffic", f"{key}: 100% → {target} (version {version})", service=key
                )
            record.time_to_rollback_seconds = time.monotonic() - started
            failures = await self._verify_stable(settings)
        except DeployError as exc:
            record.outcome, record.error, record.ended_at = "failed", exc.message, time.time()
            await self._append(record, [p for _, p, _, _ in targets])
            raise
        record.ended_at = time.time()
        if failures:
            record.outcome, record.error = "failed", "; ".join(failures)
            await self._append(record, [p for _, p, _, _ in targets])
            msg = f"rolled back to {to}, but health checks fail: {record.error}"
            raise HealthCheckFailed(msg)
        record.outcome = "succeeded"
        await self._append(record, [p for _, p, _, _ in targets])
        self._report.event(
            "done", f"rollback to {to} done in {record.duration_seconds:.1f}s; health checks pass"
        )
        return record

    async def _find_target(
        self, path: ServicePath, service: run_v2.Service, key: str, to: str, current: str
    ) -> tuple[str, str]:
        revisions = await self._api.list_revisions(path)
        failed = {
            h.revision for h in st.history_of(service) if h.outcome not in {"succeeded", "restored"}
        }
        ready = [r for r in revisions if _is_ready(r)]
        if to == "previous":
            history = [h for h in st.history_of(service) if h.outcome in ("succeeded", "restored")]
            names = {st.short_name(r.name): r for r in ready}
            for entry in reversed(history):
                if entry.revision != current and entry.revision in names:
                    return entry.revision, entry.version
            tags = st.tagged_revisions(service)
            for tag in ("previous", "blue"):
                if tags.get(tag) and tags[tag] != current and tags[tag] in names:
                    rev = names[tags[tag]]
                    return tags[tag], rev.annotations.get(st.VERSION_ANNOTATION, "unknown")
            msg = f"{key}: no previous healthy revision to roll back to (current is {current})"
            raise VersionNotFound(msg)
        matching = [
            r
            for r in ready
            if r.annotations.get(st.VERSION_ANNOTATION) == to
            and st.short_name(r.name) not in failed
        ]
        if not matching:
            known = sorted({r.annotations.get(st.VERSION_ANNOTATION, "") for r in ready} - {""})
            msg = (
                f"{key}: no Ready revision of {path.service} carries version {to} "
                f"(versions available: {', '.join(known) or 'none'}). Nothing was changed."
            )
            raise VersionNotFound(msg)
        return st.short_name(matching[0].name), to

    async def recorded(self, settings: EnvironmentSettings) -> list[DeploymentRecord]:
        """The rollouts and rollbacks recorded on the environment's services, oldest first."""
        records: dict[str, DeploymentRecord] = {}
        for key in settings.rollout_order():
            path = ServicePath(settings.project_id, settings.region, settings.services[key].name)
            for record in st.ledger_of(await self._api.get_service(path)):
                records[record.id] = record
        return sorted(records.values(), key=lambda r: r.started_at)

    # ================================================================== status / health
    async def status(self, settings: EnvironmentSettings) -> list[ServiceStatus]:
        """Each service's stable revision, version, traffic and rollout state; resolves interrupted rollouts."""
        out = []
        for key in settings.rollout_order():
            svc = settings.services[key]
            path = ServicePath(settings.project_id, settings.region, svc.name)
            service = await self._api.get_service(path)
            state = st.RolloutState.from_service(service)
            resolved = None
            if state is not None and (state.owner == self._owner or state.abandoned(time.time())):
                service = await self._resolve_interrupted(path, service, key)
                resolved = f"rolled back interrupted rollout {state.id} of {state.version}"
                state = None
            stable = st.stable_revision(service)
            version = None
            if stable:
                version = (await self._api.get_revision(path, stable)).annotations.get(
                    st.VERSION_ANNOTATION
                )
            split = st.current_split(service)
            history = st.history_of(service)
            out.append(
                ServiceStatus(
                    key=key,
                    name=svc.name,
                    stable=stable,
                    version=version,
                    traffic=split.describe() if split else "no traffic",
                    rollout=state,
                    last=history[-1] if history else None,
                    resolved=resolved,
                )
            )
        return out

    async def health_check(
        self, settings: EnvironmentSettings, base_urls: dict[str, str] | None = None
    ) -> list[RoundResult]:
        """Run every configured check once against each service's URL; raise if any fails."""
        failures = await self._verify_stable(settings, base_urls)
        if failures:
            raise HealthCheckFailed("health checks failed: " + "; ".join(failures))
        return []

    async def _verify_stable(
        self, settings: EnvironmentSettings, base_urls: dict[str, str] | None = None
    ) -> list[str]:
        failures: list[str] = []
        for key in settings.rollout_order():
            checks: tuple[HealthCheck, ...] = settings.checks_for(key)
            if not checks:
                continue
            url = (base_urls or {}).get(key)
            audience = url
            if url is None:
                path = ServicePath(
                    settings.project_id, settings.region, settings.services[key].name
                )
                service = await self._api.get_service(path)
                url = audience = str(service.uri)
            result = await self._prober.round(url, checks, audience=audience or url)
            self._report_round(
                ServicePlan(
                    key=key, name=settings.services[key].name, image="", revision="", checks=checks
                ),
                100,
                result,
                1,
                1,
            )
            failures.extend(f"{key}: {f}" for f in result.failures())
        return failures


def _paths(plan: ReleasePlan) -> list[ServicePath]:
    return [ServicePath(plan.project_id, plan.region, s.name) for s in plan.services]


def _candidate_template(
    template: run_v2.RevisionTemplate, svc: ServicePlan, candidate: str, plan: ReleasePlan
) -> run_v2.RevisionTemplate:
    """The service's own template (Terraform's settings) with the new image, name and labels."""
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


def _beat(state: st.RolloutState, percent: int) -> st.RolloutState:
    return st.RolloutState(**{**state.__dict__, "percent": percent, "heartbeat": time.time()})


def _patient(policy: RolloutPolicy) -> RolloutPolicy:
    """The policy of a pre-traffic check: only a run of all-failed rounds decides."""
    return RolloutPolicy(**{**policy.__dict__, "failure_threshold": policy.probes_per_step})


def _is_ready(revision: run_v2.Revision) -> bool:
    return any(c.type_ == _READY and c.state == _SUCCEEDED for c in revision.conditions)


def _outcome_of(exc: DeployError) -> Outcome:
    if isinstance(exc, RolloutAborted):
        return "aborted"
    if isinstance(exc, RolloutFailed):
        return "rolled_back"
    if isinstance(exc, ConcurrentRollout):
        return "conflict"
    return "failed"
