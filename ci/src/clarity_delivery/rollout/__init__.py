"""Rollouts, rollbacks and status: the :class:`Deployer` the CLI drives.

The Deployer wires the parts and decides nothing: Cloud Run is reached only through the
injected :class:`~.._cloudrun.CloudRunApi`, services only through the injected
:class:`~..analysis.Prober` and Cloud Monitoring only through the injected
:class:`~..analysis.MonitoringApi`, so tests run the same code against local doubles of the
Admin API and of Monitoring, with real revision processes. Where each concern lives:

=====================  =========================================================
``rollout/_engine``    the numbered steps of a rollout, across services
``strategies/``        canary and blue-green: the splits to walk, how each is analysed
``candidate``          the candidate revision: name, creation, Ready wait
``traffic``            etag-guarded traffic writes, verified; a rollout's hold on a service
``lease``              the heartbeat: the lease renewed while a rollout waits
``analysis/``          providers measure, a pure verdict judges, a runner loops
``rollback``           restore, unwind, restore the released; rollback targets
``recovery``           rollouts left behind by a deployer that is gone (the lease)
``status``             status of services, health checks of what serves
``rollout/_manual``    ``rollback --to VERSION|previous``
``rollout/_records``   the record of each rollout: ledger, Cloud Logging, services
``prune``              revision clean-up: what no traffic, tag or rollout needs
=====================  =========================================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from .. import _state as st
from .._analysis_settings import MIN_MONITORING_WINDOW
from .._cloudrun import CloudRunApi, RetryNotice
from .._errors import ConfigError
from ..analysis import (
    AnalysisRunner,
    HttpProbes,
    LoadComparison,
    MetricProvider,
    MonitoringApi,
    Prober,
    RequestMetrics,
    RoundResult,
)
from ..analysis.journey import JourneyProbe
from ..candidate import Revisions
from ..deployment_log import DeploymentLog
from ..lease import Heartbeat
from ..ledger import DeploymentRecord, Ledger
from ..plan import ReleasePlan
from ..progress import Reporter
from ..prune import Pruner, PruneReport
from ..recovery import Recovery
from ..rollback import Rollbacks
from ..settings import EnvironmentSettings
from ..status import HealthChecks, ServiceStatus, read_status
from ..traffic import CloudRunRouter
from ._engine import Engine
from ._manual import ManualRollback
from ._records import Records

__all__ = ["Deployer", "ServiceStatus"]


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
        monitoring: MonitoringApi | None = None,
        journey: JourneyProbe | None = None,
        log: DeploymentLog | None = None,
    ) -> None:
        """``journey``: the user's journey, run once on the API gateway's candidate before it
        takes traffic (``rollout.journey.before_traffic``); None leaves it out. Its polls, like
        every wait of a rollout, renew the rollout's lease."""
        owner = owner or st.owner_id()
        router = CloudRunRouter(api)
        rollbacks = Rollbacks(api, router, reporter)
        heartbeat = Heartbeat(sleep)
        api.on_retry = lambda notice: _report_retry(reporter, notice)
        self._api = api
        self._monitoring = monitoring
        self._recovery = Recovery(api, rollbacks, reporter, owner=owner)
        self._records = Records(api, reporter, ledger, log)
        self._health = HealthChecks(api, prober, reporter, monitoring=monitoring)
        providers: list[MetricProvider] = [
            HttpProbes(prober),
            LoadComparison(prober.tokens, transport=prober.transport, wait=heartbeat.sleep),
        ]
        if monitoring is not None:
            providers.append(RequestMetrics(monitoring))
        self._engine = Engine(
            api=api,
            router=router,
            revisions=Revisions(api, reporter, sleep=heartbeat.sleep),
            analysis=AnalysisRunner(providers, reporter, sleep=heartbeat.sleep),
            rollbacks=rollbacks,
            recovery=self._recovery,
            records=self._records,
            reporter=reporter,
            heartbeat=heartbeat,
            owner=owner,
            journey=(
                AnalysisRunner([journey.waiting_with(heartbeat.sleep)], reporter, sleep=sleep)
                if journey
                else None
            ),
        )
        self._pruner = Pruner(api, reporter)
        self._manual = ManualRollback(
            api=api,
            router=router,
            recovery=self._recovery,
            health=self._health,
            records=self._records,
            reporter=reporter,
        )

    async def deploy(self, plan: ReleasePlan) -> DeploymentRecord | None:
        """Roll ``plan`` out; on failure restore every service touched, then raise; None when
        every service already serves it."""
        await self._check_metrics(plan)
        return await self._engine.deploy(plan)

    async def _check_metrics(self, plan: ReleasePlan) -> None:
        """Refuse before anything changes when metric analysis cannot work as configured."""
        metrics = plan.policy.metrics
        if metrics is None:
            return
        if self._monitoring is None:
            msg = f"{plan.environment} turns metric analysis on, but no Cloud Monitoring client was given"
            raise ConfigError(msg)
        if self._monitoring.default_endpoint and metrics.window_seconds < MIN_MONITORING_WINDOW:
            msg = (
                f"{plan.environment}: rollout.metric_analysis.window_seconds is {metrics.window_seconds:g}, "
                f"but Cloud Monitoring aligns at least {MIN_MONITORING_WINDOW:g}s: raise it to 60 or more "
                "(shorter windows only work against a local Monitoring double, --monitoring-endpoint)"
            )
            raise ConfigError(msg)
        await self._monitoring.check_access(plan.project_id)

    async def rollback(self, settings: EnvironmentSettings, to: str) -> DeploymentRecord | None:
        """Send 100 % of every service to the revision of version ``to`` (or ``previous``), then
        verify; None when every service already serves it (nothing to do)."""
        return await self._manual.run(settings, to)

    async def prune(
        self,
        settings: EnvironmentSettings,
        *,
        keep: int,
        dry_run: bool = False,
        services: tuple[str, ...] = (),
    ) -> PruneReport:
        """Delete the revisions no traffic, tag or rollout needs, past each service's newest
        ``keep`` (``services``: only these)."""
        return await self._pruner.prune(settings, keep=keep, dry_run=dry_run, services=services)

    async def recorded(self, settings: EnvironmentSettings) -> list[DeploymentRecord]:
        """The rollouts and rollbacks recorded on the environment's services, oldest first."""
        return await self._records.recorded(settings)

    async def status(self, settings: EnvironmentSettings) -> list[ServiceStatus]:
        """Each service's stable revision, version, traffic, rollout state and health verdict;
        resolves interrupted rollouts."""
        statuses = await read_status(self._api, self._recovery, settings)
        return await self._health.verdicts(settings, statuses)

    async def health_check(
        self, settings: EnvironmentSettings, base_urls: dict[str, str] | None = None
    ) -> list[RoundResult]:
        """Run every configured check once against each service's URL; raise if any fails."""
        return await self._health.check(settings, base_urls)


def _report_retry(reporter: Reporter, notice: RetryNotice) -> None:
    reporter.event(
        "retry",
        notice.describe(),
        attempt=notice.attempt,
        attempts=notice.attempts,
        wait_seconds=round(notice.wait_seconds, 3),
        error=notice.error,
    )
