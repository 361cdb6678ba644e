"""Rollouts, rollbacks and status: the :class:`Deployer` the CLI drives.

The Deployer wires the parts and decides nothing: Cloud Run is reached only through the
injected :class:`~.._cloudrun.CloudRunApi` and services only through the injected
:class:`~..analysis.Prober`, so tests run the same code against a local double of the Admin API
with real revision processes. Where each concern lives:

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
``rollout/_records``   the record of each rollout, in the ledger and on the services
=====================  =========================================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from .. import _state as st
from .._cloudrun import CloudRunApi, RetryNotice
from ..analysis import AnalysisRunner, HttpProbes, Prober, RoundResult
from ..candidate import Revisions
from ..lease import Heartbeat
from ..ledger import DeploymentRecord, Ledger
from ..plan import ReleasePlan
from ..progress import Reporter
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
    ) -> None:
        owner = owner or st.owner_id()
        router = CloudRunRouter(api)
        rollbacks = Rollbacks(api, router, reporter)
        heartbeat = Heartbeat(sleep)
        api.on_retry = lambda notice: _report_retry(reporter, notice)
        self._api = api
        self._recovery = Recovery(api, rollbacks, reporter, owner=owner)
        self._records = Records(api, reporter, ledger)
        self._health = HealthChecks(api, prober, reporter)
        self._engine = Engine(
            api=api,
            router=router,
            revisions=Revisions(api, reporter, sleep=heartbeat.sleep),
            analysis=AnalysisRunner([HttpProbes(prober)], reporter, sleep=heartbeat.sleep),
            rollbacks=rollbacks,
            recovery=self._recovery,
            records=self._records,
            reporter=reporter,
            heartbeat=heartbeat,
            owner=owner,
        )
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
        return await self._engine.deploy(plan)

    async def rollback(self, settings: EnvironmentSettings, to: str) -> DeploymentRecord | None:
        """Send 100 % of every service to the revision of version ``to`` (or ``previous``), then
        verify; None when every service already serves it (nothing to do)."""
        return await self._manual.run(settings, to)

    async def recorded(self, settings: EnvironmentSettings) -> list[DeploymentRecord]:
        """The rollouts and rollbacks recorded on the environment's services, oldest first."""
        return await self._records.recorded(settings)

    async def status(self, settings: EnvironmentSettings) -> list[ServiceStatus]:
        """Each service's stable revision, version, traffic and rollout state; resolves interrupted rollouts."""
        return await read_status(self._api, self._recovery, settings)

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
