"""Status and health of an environment: what serves, what is rolling out, whether it is healthy.

``status`` reports each service's stable revision, version, traffic and rollout state (for a
rollout in progress its owner, when its lease expires and what the next deploy and the next
rollback will do about it), the revisions Cloud Run keeps warm instances for
(``scalingStatus.desiredMinInstanceCount``, what the minimum instances bill while idle), and
resolves a rollout whose deployer is gone (as every command that meets one does), with the
current health verdict of each stable revision: its health checks (read-only ``GET``s) and,
where metric analysis is on, its real traffic in the latest metrics window against the absolute
limits. The health checks probe each service's own URL once, against whichever revision serves
it: the manual ``health-check`` (which also sends the business transactions and reads the
metrics, and names the rollback command when anything fails) and the verification after a
rollback.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass

from . import _state as st
from ._cloudrun import CloudRunApi, ServicePath
from ._errors import DeployError, HealthCheckFailed
from .analysis import MonitoringApi, Prober, RoundResult, judge, report_round
from .progress import Reporter
from .recovery import LeaseOutlook, Recovery, outlook
from .settings import EnvironmentSettings

__all__ = ["HealthChecks", "HealthVerdict", "ServiceStatus", "read_status"]


@dataclass(frozen=True, kw_only=True)
class HealthVerdict:
    """Whether the revision that serves a service is healthy now, and the evidence."""

    healthy: bool
    problems: tuple[str, ...] = ()
    checks: str = ""
    metrics: str | None = None

    def describe(self) -> str:
        """``healthy (checks pass; metrics 0.1% 5xx, ...)`` or ``UNHEALTHY: ...``."""
        evidence = "; ".join(x for x in (self.checks, self.metrics) if x)
        if self.healthy:
            return f"healthy ({evidence})"
        return "UNHEALTHY: " + "; ".join(self.problems)


@dataclass(frozen=True, kw_only=True)
class ServiceStatus:
    """What ``status`` reports for one service."""

    key: str
    name: str
    stable: str | None
    version: str | None
    traffic: str
    rollout: st.RolloutState | None
    lease: LeaseOutlook | None
    last: st.HistoryEntry | None
    resolved: str | None
    warm: Mapping[str, int]
    """Revision → instances kept warm (billed while idle); revisions with none left out."""
    min_instances: int
    """The service-level minimum, shared by the revisions that serve traffic."""
    uri: str = ""
    health: HealthVerdict | None = None


async def read_status(
    api: CloudRunApi, recovery: Recovery, settings: EnvironmentSettings
) -> list[ServiceStatus]:
    """Each service's stable revision, version, traffic and rollout state; resolves interrupted rollouts."""
    out = []
    for key in settings.rollout_order():
        svc = settings.services[key]
        path = ServicePath(settings.project_id, settings.region, svc.name)
        service = await api.get_service(path)
        state = st.RolloutState.from_service(service)
        resolved = None
        if state is not None and recovery.resolvable(state):
            service = await recovery.resolve_interrupted(path, service, key)
            resolved = f"rolled back interrupted rollout {state.id} of {state.version}"
            state = None
        stable = st.stable_revision(service)
        revisions = {st.short_name(r.name): r for r in await api.list_revisions(path)}
        version = None
        if stable:
            known = revisions.get(stable) or await api.get_revision(path, stable)
            version = known.annotations.get(st.VERSION_ANNOTATION)
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
                lease=outlook(state, time.time()) if state is not None else None,
                last=history[-1] if history else None,
                resolved=resolved,
                uri=str(service.uri),
                warm={
                    name: r.scaling_status.desired_min_instance_count
                    for name, r in revisions.items()
                    if r.scaling_status.desired_min_instance_count
                },
                min_instances=service.scaling.min_instance_count,
            )
        )
    return out


class HealthChecks:
    """Every configured check, once, against each service's own URL; and its metrics."""

    def __init__(
        self,
        api: CloudRunApi,
        prober: Prober,
        reporter: Reporter,
        *,
        monitoring: MonitoringApi | None = None,
    ) -> None:
        self._api = api
        self._prober = prober
        self._report = reporter
        self._monitoring = monitoring

    async def check(
        self, settings: EnvironmentSettings, base_urls: dict[str, str] | None = None
    ) -> list[RoundResult]:
        """Checks, transactions and (with API access) metrics; HealthCheckFailed naming the
        rollback command if any fails."""
        failures = await self.failures(settings, base_urls, transactions=True)
        if base_urls is None and settings.rollout.metrics is not None and self._monitoring:
            for status in await read_status_quietly(self._api, settings):
                if status.stable:
                    verdict = await self._metrics_verdict(settings, status.key, status.stable)
                    failures.extend(f"{status.key}: {p}" for p in verdict[1])
        if failures:
            env = settings.environment
            msg = (
                "health checks failed: " + "; ".join(failures) + ". To return to the previous "
                f"release: clarity-deploy rollback --env {env} --to previous "
                f"(or scripts/rollback.sh {env} previous)"
            )
            raise HealthCheckFailed(msg)
        return []

    async def failures(
        self,
        settings: EnvironmentSettings,
        base_urls: dict[str, str] | None = None,
        *,
        transactions: bool = False,
    ) -> list[str]:
        """Run the checks (and the transactions if asked); the failures as ``service: reason``."""
        failures: list[str] = []
        for key in settings.rollout_order():
            checks = settings.checks_for(key)
            sent = settings.transactions_for(key) if transactions else ()
            if not checks and not sent:
                continue
            url = (base_urls or {}).get(key)
            audience = url
            if url is None:
                path = ServicePath(
                    settings.project_id, settings.region, settings.services[key].name
                )
                service = await self._api.get_service(path)
                await self._api.require(path, "run.routes.invoke")
                url, audience = str(service.uri), st.audience_of(service)
            result = await self._prober.round(
                url, checks, audience=audience or url, transactions=sent
            )
            report_round(self._report, result, service=key, percent=100, n=1, of=1)
            failures.extend(f"{key}: {f}" for f in result.failures())
        return failures

    async def verdicts(
        self, settings: EnvironmentSettings, statuses: list[ServiceStatus]
    ) -> list[ServiceStatus]:
        """``statuses`` with the health verdict of each stable revision (reads only)."""
        out = []
        for status in statuses:
            if status.stable is None or not status.uri:
                out.append(status)
                continue
            problems: list[str] = []
            checks = settings.checks_for(status.key)
            text = "no health checks configured"
            if checks:
                result = await self._prober.round(status.uri, checks, audience=status.uri)
                problems.extend(result.failures())
                text = "checks pass" if result.ok else "checks fail"
            metrics, metric_problems = await self._metrics_verdict(
                settings, status.key, status.stable
            )
            problems.extend(metric_problems)
            health = HealthVerdict(
                healthy=not problems, problems=tuple(problems), checks=text, metrics=metrics
            )
            out.append(dataclasses.replace(status, health=health))
        return out

    async def _metrics_verdict(
        self, settings: EnvironmentSettings, key: str, revision: str
    ) -> tuple[str | None, list[str]]:
        """The latest metrics window of ``revision`` against the absolute limits."""
        limits = settings.rollout.metrics
        if limits is None or self._monitoring is None:
            return None, []
        end = time.time() - limits.delay_seconds
        try:
            stats = await self._monitoring.window(
                project=settings.project_id,
                location=settings.region,
                service=settings.services[key].name,
                revisions=(revision,),
                start=end - limits.window_seconds,
                end=end,
            )
        except DeployError as exc:
            return f"metrics could not be read: {exc.message}", []
        judgement = judge(stats[revision], None, limits)
        text = f"metrics {stats[revision].describe()} over {limits.window_seconds:g}s"
        if judgement.phase == "inconclusive":
            text += f" (too few requests to judge, fewer than {limits.min_requests})"
        if judgement.phase == "failed":
            return text, list(judgement.reasons)
        return text, []


async def read_status_quietly(
    api: CloudRunApi, settings: EnvironmentSettings
) -> list[ServiceStatus]:
    """Each service's stable revision, without resolving anything (for health checks)."""
    out = []
    for key in settings.rollout_order():
        svc = settings.services[key]
        service = await api.get_service(ServicePath(settings.project_id, settings.region, svc.name))
        out.append(
            ServiceStatus(
                key=key,
                name=svc.name,
                stable=st.stable_revision(service),
                version=None,
                traffic="",
                rollout=None,
                lease=None,
                last=None,
                resolved=None,
                warm={},
                min_instances=service.scaling.min_instance_count,
                uri=str(service.uri),
            )
        )
    return out
