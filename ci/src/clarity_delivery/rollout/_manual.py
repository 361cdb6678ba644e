"""Manual rollback: every service back to a named version (or ``previous``), then verified.

Every target is resolved before anything changes, so an unknown version changes nothing; then
each service gets 100 % on its target in one write, consumers first, and the health checks run.
A rollout in progress is taken over at once (its deployer stops at its next write), and a
service already serving its target at 100 % is left as it is: rolling back to what serves is
no rollback, and is not recorded as one.
"""

from __future__ import annotations

import time
import uuid

from google.cloud import run_v2

from .. import _state as st
from .._cloudrun import CloudRunApi, ServicePath
from .._errors import DeployError, HealthCheckFailed
from ..ledger import DeploymentRecord
from ..plan import TrafficSplit, parse_version
from ..progress import Reporter
from ..recovery import Recovery
from ..rollback import find_target
from ..settings import EnvironmentSettings
from ..status import HealthChecks
from ..traffic import TrafficRouter
from ._records import Records

__all__ = ["ManualRollback"]


class ManualRollback:
    """``clarity-deploy rollback --to VERSION|previous``."""

    def __init__(
        self,
        *,
        api: CloudRunApi,
        router: TrafficRouter,
        recovery: Recovery,
        health: HealthChecks,
        records: Records,
        reporter: Reporter,
    ) -> None:
        self._api = api
        self._router = router
        self._recovery = recovery
        self._health = health
        self._records = records
        self._report = reporter

    async def run(self, settings: EnvironmentSettings, to: str) -> DeploymentRecord | None:
        """Send 100 % of every service to the revision of version ``to`` (or ``previous``), then
        verify; None when every service already serves it (nothing changed, nothing recorded)."""
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
        targets = await self._targets(settings, to)
        paths = [p for _, p, _, _, _ in targets]
        moving = [t for t in targets if not _serves(t[4], t[2])]
        if not moving:
            served = ", ".join(f"{k}: {t}" for k, _, t, _, _ in targets)
            self._report.event("done", f"every service already serves {to} ({served})")
            return None
        self._report.event(
            "plan", "rollback of " + ", ".join(f"{k} → {t} ({v})" for k, _, t, v, _ in moving)
        )
        try:
            for key, path, target, version, service in moving:
                interrupted = self._recovery.take_over(service, key)
                now_serving = st.stable_revision(service)
                keep = {"previous": now_serving} if now_serving and now_serving != target else {}
                entry = st.HistoryEntry(
                    version=version, revision=target, outcome="restored", at=time.time()
                )
                split = TrafficSplit.single(target, keep=keep)
                history = (interrupted, entry) if interrupted else (entry,)
                await self._router.set_split(
                    path, service, split, state=None, history=history, takeover=True
                )
                self._report.event(
                    "traffic", f"{key}: 100% → {target} (version {version})", service=key
                )
            record.time_to_rollback_seconds = time.monotonic() - started
            failures = await self._health.failures(settings)
        except DeployError as exc:
            record.outcome, record.error, record.ended_at = "failed", exc.message, time.time()
            await self._records.append(record, paths)
            raise
        record.ended_at = time.time()
        if failures:
            record.outcome, record.error = "failed", "; ".join(failures)
            await self._records.append(record, paths)
            msg = f"rolled back to {to}, but health checks fail: {record.error}"
            raise HealthCheckFailed(msg)
        record.outcome = "succeeded"
        await self._records.append(record, paths)
        self._report.event(
            "done", f"rollback to {to} done in {record.duration_seconds:.1f}s; health checks pass"
        )
        return record

    async def _targets(
        self, settings: EnvironmentSettings, to: str
    ) -> list[tuple[str, ServicePath, str, str, run_v2.Service]]:
        """Per service, consumers first: key, path, target revision, its version, the service."""
        targets = []
        for key in reversed(settings.rollout_order()):
            path = ServicePath(settings.project_id, settings.region, settings.services[key].name)
            service = await self._api.get_service(path)
            state = st.RolloutState.from_service(service)
            # A rollout in progress protects its stable revision: that is what serves.
            current = state.stable if state is not None else st.stable_revision(service)
            target, version = find_target(
                service,
                await self._api.list_revisions(path),
                key=key,
                name=path.service,
                to=to,
                current=current or "",
            )
            targets.append((key, path, target, version, service))
        return targets


def _serves(service: run_v2.Service, revision: str) -> bool:
    """Whether ``revision`` alone serves ``service`` and no rollout is on it."""
    split = st.current_split(service)
    return (
        split is not None
        and split.percent_of(revision) == 100
        and st.RolloutState.from_service(service) is None
    )
