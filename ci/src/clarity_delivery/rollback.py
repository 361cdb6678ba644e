"""Rolling back: every way traffic goes back to a known-good revision, and finding that revision.

- :meth:`Rollbacks.restore` is the single 100 % write back to stable; anything going wrong
  there is :class:`~._errors.RollbackFailed` (a person must act, and the message says how).
- :meth:`Rollbacks.abort`: the candidate never became Ready; traffic was never touched.
- :meth:`Rollbacks.fail`: the analysis failed; restore, record the candidate as failed.
- :meth:`Rollbacks.restore_released`: a later service failed; restore the ones released.
- :func:`find_target` (pure): which revision ``rollback --to VERSION|previous`` means.

The revision kept tagged at 0 % (``previous``/``blue``) is what makes each of these one write
(Argo's fast rollback).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NoReturn

from google.cloud import run_v2

from . import _state as st
from ._cloudrun import CloudRunApi, ServicePath
from ._context import Released, RolloutContext
from ._errors import DeployError, RollbackFailed, RolloutAborted, RolloutFailed, VersionNotFound
from .analysis import Verdict
from .candidate import is_ready
from .plan import TrafficSplit
from .progress import Reporter
from .traffic import TrafficRouter

__all__ = ["Rollbacks", "find_target", "held_revisions"]

_GOOD = frozenset({"succeeded", "restored"})


class Rollbacks:
    """Automatic rollbacks of a rollout in progress."""

    def __init__(self, api: CloudRunApi, router: TrafficRouter, reporter: Reporter) -> None:
        self._api = api
        self._router = router
        self._report = reporter

    async def restore(
        self, path: ServicePath, stable: str, failed: str, version: str, *, outcome: str
    ) -> None:
        """Send 100 % to ``stable`` in one write; anything going wrong here is RollbackFailed."""
        try:
            service = await self._api.get_service(path)
            split = TrafficSplit.single(stable, keep=held_revisions(service, stable))
            entry = st.HistoryEntry(
                version=version, revision=failed, outcome=outcome, at=time.time()
            )
            await self._router.set_split(path, service, split, state=None, history=entry)
        except DeployError as exc:
            msg = (
                f"could not restore traffic of {path.service} to {stable}: {exc.message}. Restore it by hand: "
                f"scripts/rollback.sh <env> previous, or gcloud run services update-traffic {path.service} "
                f"--to-revisions={stable}=100 --region {path.region} --project {path.project}"
            )
            raise RollbackFailed(msg) from exc

    async def abort(self, ctx: RolloutContext, reason: str) -> NoReturn:
        """The candidate never became Ready: clear our state, record it, raise RolloutAborted."""
        self._report.event(
            "error", f"{ctx.key}: {ctx.candidate} did not become Ready: {reason}", service=ctx.key
        )
        service = await self._api.get_service(ctx.path)
        stable = st.stable_revision(service)
        split = st.current_split(service)
        if split is not None and stable is not None:
            entry = st.HistoryEntry(
                version=ctx.version, revision=ctx.candidate, outcome="aborted", at=time.time()
            )
            await self._router.set_split(ctx.path, service, split, state=None, history=entry)
        msg = (
            f"{ctx.key}: candidate revision {ctx.candidate} never became Ready ({reason}). Traffic was not "
            f"touched: {stable} still serves 100%. Check the revision's logs in Cloud Logging."
        )
        raise RolloutAborted(msg)

    async def fail(self, ctx: RolloutContext, verdict: Verdict | None, what: str) -> NoReturn:
        """Health failed: 100 % back to stable, candidate recorded failed, raise RolloutFailed."""
        reasons = "; ".join(verdict.reasons()) if verdict else what
        self._report.event(
            "rollback",
            f"{ctx.key}: {what} ({reasons}); rolling back to {ctx.stable}",
            service=ctx.key,
        )
        await self.restore(ctx.path, ctx.stable, ctx.candidate, ctx.version, outcome="rolled_back")
        failed_at = verdict.first_failure_at if verdict is not None else None
        if failed_at is not None:
            ctx.record.time_to_rollback_seconds = time.monotonic() - failed_at
        self._report.event(
            "rollback", f"{ctx.key}: {ctx.stable} serves 100% again", service=ctx.key
        )
        msg = (
            f"{ctx.key}: {what}: {reasons}. Traffic is back on {ctx.stable} at 100% and "
            f"{ctx.candidate} is recorded as failed. Fix the release and deploy a new version."
        )
        raise RolloutFailed(msg)

    async def restore_released(
        self, released: Sequence[Released], version: str, *, reason: str
    ) -> None:
        """A later service failed: restore the ones already released, last first."""
        for item in reversed(released):
            self._report.event(
                "rollback",
                f"{item.svc.key}: restoring {item.previous} because a later service failed",
                service=item.svc.key,
            )
            await self.restore(
                item.path, item.previous, item.svc.revision, version, outcome="rolled_back"
            )
        self._report.event(
            "rollback", f"restored {', '.join(d.svc.key for d in released)} ({reason})"
        )


def find_target(
    service: run_v2.Service,
    revisions: Sequence[run_v2.Revision],
    *,
    key: str,
    name: str,
    to: str,
    current: str,
) -> tuple[str, str]:
    """The revision and version ``rollback --to`` means for one service, or VersionNotFound.

    ``previous`` is the last good revision in the service's history other than ``current``,
    else the one tagged ``previous``/``blue``; a version is the newest Ready revision annotated
    with it that no rollout recorded as failed.
    """
    history = st.history_of(service)
    ready = [r for r in revisions if is_ready(r)]
    if to == "previous":
        names = {st.short_name(r.name): r for r in ready}
        for entry in reversed([h for h in history if h.outcome in _GOOD]):
            if entry.revision != current and entry.revision in names:
                return entry.revision, entry.version
        tags = st.tagged_revisions(service)
        for tag in ("previous", "blue"):
            if tags.get(tag) and tags[tag] != current and tags[tag] in names:
                rev = names[tags[tag]]
                return tags[tag], rev.annotations.get(st.VERSION_ANNOTATION, "unknown")
        msg = f"{key}: no previous healthy revision to roll back to (current is {current})"
        raise VersionNotFound(msg)
    failed = {h.revision for h in history if h.outcome not in _GOOD}
    matching = [
        r
        for r in ready
        if r.annotations.get(st.VERSION_ANNOTATION) == to and st.short_name(r.name) not in failed
    ]
    if not matching:
        known = sorted({r.annotations.get(st.VERSION_ANNOTATION, "") for r in ready} - {""})
        msg = (
            f"{key}: no Ready revision of {name} carries version {to} "
            f"(versions available: {', '.join(known) or 'none'}). Nothing was changed."
        )
        raise VersionNotFound(msg)
    return st.short_name(matching[0].name), to


def held_revisions(service: run_v2.Service, stable: str) -> dict[str, str]:
    """The revisions tagged for an instant switch back, other than ``stable``."""
    return {
        tag: rev
        for tag, rev in st.tagged_revisions(service).items()
        if tag in ("previous", "blue") and rev != stable
    }
