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
``traffic``            etag-guarded traffic writes, verified
``analysis/``          providers measure, a pure verdict judges, a runner loops
``rollback``           restore, abort, fail, restore the released; rollback targets
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
from .._cloudrun import CloudRunApi
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
from ..candidate import Revisions
from ..deployment_log import DeploymentLog
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
        journey: MetricProvider | None = None,
        log: DeploymentLog | None = None,
    ) -> None:
        """``journey``: the user's journey, run once on the API gateway's candidate before it
        takes traffic (``rollout.journey.before_traffic``); None leaves it out."""
        owner = owner or st.owner_id()
        router = CloudRunRouter(api)
        rollbacks = Rollbacks(api, router, reporter)
        self._api = api
        self._monitoring = monitoring
        self._recovery = Recovery(api, rollbacks, reporter, owner=owner)
        self._records = Records(api, reporter, ledger, log)
        self._health = HealthChecks(api, prober, reporter, monitoring=monitoring)
        providers: list[MetricProvider] = [
            HttpProbes(prober),
            LoadComparison(prober.tokens, transport=prober.transport),
        ]
        if monitoring is not None:
            providers.append(RequestMetrics(monitoring))
        self._engine = Engine(
            api=api,
            router=router,
            revisions=Revisions(api, reporter, sleep=sleep),
            analysis=AnalysisRunner(providers, reporter, sleep=sleep),
            rollbacks=rollbacks,
            recovery=self._recovery,
            records=self._records,
            reporter=reporter,
            owner=owner,
            journey=AnalysisRunner([journey], reporter, sleep=sleep) if journey else None,
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

    async def deploy(self, plan: ReleasePlan) -> DeploymentRecord:
        """Roll ``plan`` out; on failure restore every service touched, then raise."""
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

    async def rollback(self, settings: EnvironmentSettings, to: str) -> DeploymentRecord:
        """Send 100 % of every service to the revision of version ``to`` (or ``previous``), then verify."""
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
