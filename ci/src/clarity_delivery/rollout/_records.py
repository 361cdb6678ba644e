"""Where a rollout's or rollback's record is kept: the ledger file, Cloud Logging and the
services it touched.

A CI container's files are gone when it ends, so every record that reached Cloud Run is also
written on each service it touched, where ``report --env`` reads it back from anywhere, and as
one entry in Cloud Logging, which Terraform's log-based metrics and alerts read
(:mod:`~..deployment_log`). Each write is bookkeeping: a failure is reported, never raised.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import _state as st
from .._cloudrun import CloudRunApi, ServicePath
from .._errors import DeployError
from ..deployment_log import DeploymentLog
from ..ledger import DeploymentRecord, Ledger
from ..progress import Reporter
from ..settings import EnvironmentSettings

__all__ = ["Records"]

_WRITE_TIMEOUT = 60.0


class Records:
    """Appends records to the ledger and the services, and reads them back from the services."""

    def __init__(
        self,
        api: CloudRunApi,
        reporter: Reporter,
        ledger: Ledger | None,
        log: DeploymentLog | None = None,
    ) -> None:
        self._api = api
        self._report = reporter
        self._ledger = ledger
        self._log = log

    async def append(self, record: DeploymentRecord, paths: Sequence[ServicePath]) -> None:
        """Record a rollout or rollback that reached Cloud Run; bookkeeping never raises."""
        if self._ledger is not None:
            self._ledger.append(record)
        if self._log is not None and paths:
            try:
                await self._log.write(record, paths[0].project)
            except DeployError as exc:  # the entry is bookkeeping: the result stands
                self._report.event(
                    "error",
                    f"could not log {record.kind} {record.id} to Cloud Logging: {exc.message}",
                    exit_code=exc.exit_code,
                )
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
                    timeout=_WRITE_TIMEOUT,
                    applied=lambda s: any(r.id == record.id for r in st.ledger_of(s)),
                )
            except DeployError as exc:  # bookkeeping must not turn a result into another one
                self._report.event(
                    "error",
                    f"could not record {record.kind} {record.id} on {path.service}: {exc.message}",
                )

    async def recorded(self, settings: EnvironmentSettings) -> list[DeploymentRecord]:
        """The rollouts and rollbacks recorded on the environment's services, oldest first."""
        records: dict[str, DeploymentRecord] = {}
        for key in settings.rollout_order():
            path = ServicePath(settings.project_id, settings.region, settings.services[key].name)
            for record in st.ledger_of(await self._api.get_service(path)):
                records[record.id] = record
        return sorted(records.values(), key=lambda r: r.started_at)
