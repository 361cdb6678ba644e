"""Revision clean-up: delete the revisions nothing needs any more, and nothing else.

Every release leaves a revision behind, and failed candidates too. A revision of a service is
**pruned** when all of these hold (:func:`prunable`, pure):

* it is not among the service's newest ``keep`` revisions (by creation time);
* no traffic target names it, at any percent or by a tag, in the service's desired traffic or
  in what Cloud Run reports serving (``trafficStatuses``), so the stable revision and the ones
  held for an instant switch back (``previous``, ``blue``) stay;
* it is not the service's latest created or latest ready revision;
* no rollout in progress names it: the lease on the service (``clarity.dev/rollout``) protects
  its candidate and the stable revision it will restore.

Revisions are listed *before* the service is read: a rollout writes its lease in the same
update that creates its candidate, so any candidate in the list is named by the lease the
service then carries (or, once the rollout ended, by its traffic). The service is read again
right before each delete, and Cloud Run itself refuses to delete a revision that serves. A
revision already gone counts as done. ``rollback --to VERSION`` can only reach the versions
still kept, which is what ``keep`` trades off.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from google.cloud import run_v2

from . import _state as st
from ._cloudrun import CloudRunApi, ServicePath
from ._errors import OperationFailed
from .progress import Reporter
from .settings import EnvironmentSettings

__all__ = ["PruneReport", "Pruned", "Pruner", "protected_revisions", "prunable"]


@dataclass(frozen=True, kw_only=True)
class Pruned:
    """A revision deleted (or, in a dry run, to be deleted), or one Cloud Run kept."""

    service: str
    revision: str
    version: str
    created: float
    skipped: str = ""
    """Why it was not deleted after all; empty when it was."""


@dataclass(kw_only=True)
class PruneReport:
    """What one clean-up did to an environment."""

    environment: str
    keep: int
    dry_run: bool
    revisions: list[Pruned] = field(default_factory=list)

    @property
    def deleted(self) -> list[Pruned]:
        """The revisions deleted (in a dry run: those that would be)."""
        return [r for r in self.revisions if not r.skipped]


def protected_revisions(service: run_v2.Service) -> set[str]:
    """Every revision of ``service`` that traffic, a tag, Cloud Run or a rollout needs."""
    names = {t.revision for t in service.traffic if t.revision}
    names |= {t.revision for t in service.traffic_statuses if t.revision}
    names |= set(st.tagged_revisions(service).values())
    for latest in (service.latest_created_revision, service.latest_ready_revision):
        if latest:
            names.add(st.short_name(latest))
    stable = st.stable_revision(service)
    if stable:
        names.add(stable)
    state = st.RolloutState.from_service(service)
    if state is not None:
        names |= {state.candidate, state.stable}
    return names


def prunable(
    service: run_v2.Service, revisions: Iterable[run_v2.Revision], *, keep: int
) -> list[run_v2.Revision]:
    """The revisions to delete, oldest last: past the newest ``keep``, needed by nothing."""
    protected = protected_revisions(service)
    newest_first = sorted(revisions, key=_created, reverse=True)
    return [r for r in newest_first[keep:] if st.short_name(r.name) not in protected]


class Pruner:
    """Deletes each service's prunable revisions (``clarity-deploy prune``)."""

    def __init__(self, api: CloudRunApi, reporter: Reporter) -> None:
        self._api = api
        self._report = reporter

    async def prune(
        self,
        settings: EnvironmentSettings,
        *,
        keep: int,
        dry_run: bool = False,
        services: Sequence[str] = (),
    ) -> PruneReport:
        """Clean up ``services`` (default: all) of the environment, consumers first."""
        report = PruneReport(environment=settings.environment, keep=keep, dry_run=dry_run)
        for key in reversed(settings.rollout_order()):
            if services and key not in services:
                continue
            path = ServicePath(settings.project_id, settings.region, settings.services[key].name)
            listed = await self._api.list_revisions(path)
            service = await self._api.get_service(path)
            for revision in prunable(service, listed, keep=keep):
                report.revisions.append(await self._delete(key, path, revision, dry_run=dry_run))
        what = "would delete" if dry_run else "deleted"
        self._report.event(
            "prune",
            f"revision clean-up of {settings.environment} (keeping the newest {keep}): "
            f"{what} {len(report.deleted)}",
            deleted=[r.revision for r in report.deleted],
            dry_run=dry_run,
        )
        return report

    async def _delete(
        self, key: str, path: ServicePath, revision: run_v2.Revision, *, dry_run: bool
    ) -> Pruned:
        name = st.short_name(revision.name)
        pruned = Pruned(
            service=key,
            revision=name,
            version=revision.annotations.get(st.VERSION_ANNOTATION, "unknown"),
            created=_created(revision),
        )
        if dry_run:
            self._report.event("prune", f"{key}: would delete {name} ({pruned.version})")
            return pruned
        if name in protected_revisions(await self._api.get_service(path)):
            return self._skip(
                pruned, "a rollout or its traffic has taken it up since it was listed"
            )
        try:
            await self._api.delete_revision(path, name)
        except OperationFailed as exc:  # Cloud Run refused (it serves): keep going
            return self._skip(pruned, exc.message)
        self._report.event("prune", f"{key}: deleted {name} ({pruned.version})", service=key)
        return pruned

    def _skip(self, pruned: Pruned, why: str) -> Pruned:
        self._report.event("prune", f"{pruned.service}: kept {pruned.revision}: {why}")
        return Pruned(**{**pruned.__dict__, "skipped": why})


def _created(revision: run_v2.Revision) -> float:
    # proto-plus hands timestamps out as datetimes, although the stubs say Timestamp.
    created = revision.create_time
    return float(created.timestamp()) if created else 0.0  # type: ignore[attr-defined]
