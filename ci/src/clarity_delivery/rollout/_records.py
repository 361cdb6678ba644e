"""Where a rollout's or rollback's record is kept: the ledger file, Cloud Logging and the
services it touched.

A CI container's files are gone when it ends, so every record that reached Cloud Run is also
written on each service it touched, where ``report --env`` reads it back from anywhere, and as
one entry in Cloud Logging, which Terraform's log-based metrics and alerts read
(:mod:`~..deployment_log`). Each write is bookkeeping: a failure is reported, never raised.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.cloud import run_v2

from .. import _state as st
from .._cloudrun import CloudRunApi, ServicePath
from .._errors import DeployError
from ..deployment_log import DeploymentLog
from ..ledger import DeploymentRecord, Ledger
from ..progress import Reporter
from ..settings import EnvironmentSettings
from ..traffic import copy_of

__all__ = ["LedgerChange", "Records"]

_WRITE_TIMEOUT = 60.0


class LedgerChange:
    """Append one record to the ledger annotation of a service (bounded, one entry per id)."""

    fields: Sequence[str] = ("annotations",)

    def __init__(self, record: DeploymentRecord) -> None:
        self._record = record

    def apply(self, service: run_v2.Service) -> run_v2.Service:
        """``service`` with the record appended to its ledger."""
        new = copy_of(service)
        new.annotations[st.LEDGER_ANNOTATION] = st.with_ledger(service, self._record)
        return new

    def landed(self, service: run_v2.Service) -> bool:
        """Whether the record is on ``service``."""
        return any(r.id == self._record.id for r in st.ledger_of(service))

    def conflict(self, base: run_v2.Service, fresh: run_v2.Service) -> str | None:
        """A rollout took the service meanwhile: leave it to that rollout."""
        if base.annotations.get(st.ROLLOUT_ANNOTATION) != fresh.annotations.get(
            st.ROLLOUT_ANNOTATION
        ):
            return f"a rollout holds {st.short_name(fresh.name)} now"
        return None


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
                holder = st.RolloutState.from_service(service)
                if holder is not None and holder.id != record.id:
                    continue  # another rollout owns it now: writing to it would break that one
                await self._api.update_service(
                    path, service, LedgerChange(record), timeout=_WRITE_TIMEOUT
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
