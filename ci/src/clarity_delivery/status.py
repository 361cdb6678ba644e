"""Status and health of an environment: what serves, what is rolling out, whether it is healthy.

``status`` reports each service's stable revision, version, traffic and rollout state: for a
rollout in progress its owner, when its lease expires and what the next deploy and the next
rollback will do about it. It resolves a rollout whose deployer is gone (as every command that
meets one does). The health checks probe each service's own URL once, against whichever
revision serves it: the manual ``health-check`` and the verification after a rollback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import _state as st
from ._cloudrun import CloudRunApi, ServicePath
from ._errors import HealthCheckFailed
from .analysis import Prober, RoundResult, report_round
from .progress import Reporter
from .recovery import LeaseOutlook, Recovery, outlook
from .settings import EnvironmentSettings

__all__ = ["HealthChecks", "ServiceStatus", "read_status"]


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
        version = None
        if stable:
            version = (await api.get_revision(path, stable)).annotations.get(st.VERSION_ANNOTATION)
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
            )
        )
    return out


class HealthChecks:
    """Every configured check, once, against each service's own URL."""

    def __init__(self, api: CloudRunApi, prober: Prober, reporter: Reporter) -> None:
        self._api = api
        self._prober = prober
        self._report = reporter

    async def check(
        self, settings: EnvironmentSettings, base_urls: dict[str, str] | None = None
    ) -> list[RoundResult]:
        """Run the checks; raise HealthCheckFailed if any fails."""
        failures = await self.failures(settings, base_urls)
        if failures:
            raise HealthCheckFailed("health checks failed: " + "; ".join(failures))
        return []

    async def failures(
        self, settings: EnvironmentSettings, base_urls: dict[str, str] | None = None
    ) -> list[str]:
        """Run the checks; the failures as ``service: reason``."""
        failures: list[str] = []
        for key in settings.rollout_order():
            checks = settings.checks_for(key)
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
            report_round(self._report, result, service=key, percent=100, n=1, of=1)
            failures.extend(f"{key}: {f}" for f in result.failures())
        return failures
