"""Rolling back: every way traffic goes back to a known-good revision, and finding that revision.

- :meth:`Rollbacks.restore` is the single 100 % write back to stable; anything going wrong
  there is :class:`~._errors.RollbackFailed`, whose message is the exact command that restores
  by hand.
- :meth:`Rollbacks.unwind`: whatever stopped a rollout (a failed verdict, a candidate that is
  not Ready, an API error, a credentials failure...), the one way out: if the service is still
  ours, restore it; either way say what production looks like now.
- :meth:`Rollbacks.restore_released`: a later service failed; restore the ones released.
- :meth:`Rollbacks.failed`, :meth:`Rollbacks.aborted`: the errors of a failed verdict and of a
  candidate that never became Ready (no I/O: :meth:`unwind` acts).
- :func:`find_target` (pure): which revision ``rollback --to VERSION|previous`` means.

The revision kept tagged at 0 % (``previous``/``blue``) is what makes each of these one write
(Argo's fast rollback).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from google.cloud import run_v2

from . import _state as st
from ._cloudrun import CloudRunApi, ServicePath
from ._context import Released, RolloutContext
from ._errors import (
    ConcurrentRollout,
    DeployError,
    RollbackFailed,
    RolloutAborted,
    RolloutFailed,
    VersionNotFound,
)
from .analysis import Verdict
from .candidate import is_ready
from .plan import TrafficSplit
from .progress import Reporter
from .traffic import TrafficRouter

__all__ = ["Rollbacks", "find_target", "held_revisions", "is_ours", "manual_restore"]

_GOOD = frozenset({"succeeded", "restored"})


def manual_restore(path: ServicePath, revision: str) -> str:
    """The command that sends all of a service's traffic to ``revision`` by hand."""
    return (
        f"gcloud run services update-traffic {path.service} --to-revisions={revision}=100 "
        f"--region={path.region} --project={path.project}"
    )


def is_ours(service: run_v2.Service, rollout_id: str, candidate: str) -> bool:
    """Whether ``service`` is in the hands of rollout ``rollout_id``: its lease is on it, or no
    lease is and the candidate it released is the stable revision."""
    state = st.RolloutState.from_service(service)
    if state is not None:
        return state.id == rollout_id
    return st.tagged_revisions(service).get("stable") == candidate


class Rollbacks:
    """Automatic rollbacks of a rollout in progress."""

    def __init__(self, api: CloudRunApi, router: TrafficRouter, reporter: Reporter) -> None:
        self._api = api
        self._router = router
        self._report = reporter

    async def restore(
        self,
        path: ServicePath,
        stable: str,
        failed: str,
        version: str,
        *,
        outcome: str,
        service: run_v2.Service | None = None,
    ) -> None:
        """Send 100 % to ``stable`` in one write, the rollout state cleared, the held revisions
        still tagged. RollbackFailed when it cannot; ConcurrentRollout when someone else changed
        the service meanwhile (it is theirs then)."""
        try:
            current = service if service is not None else await self._api.get_service(path)
            split = TrafficSplit.single(stable, keep=held_revisions(current, stable))
            entry = st.HistoryEntry(
                version=version, revision=failed, outcome=outcome, at=time.time()
            )
            await self._router.set_split(path, current, split, state=None, history=entry)
        except ConcurrentRollout:
            raise
        except DeployError as exc:
            msg = f"could not restore traffic of {path.service} to {stable}: {exc.cause}"
            advice = f"Restore it by hand now: {manual_restore(path, stable)}"
            raise RollbackFailed(msg, advice=advice) from exc

    async def unwind(
        self, ctx: RolloutContext, error: DeployError, *, held: bool
    ) -> tuple[DeployError, bool]:
        """``error`` stopped ``ctx``'s rollout: restore the service if it is still ours.

        ``held`` says whether our lease is known to have landed. Returns the error to raise,
        its ``state`` saying what production looks like now: the same error once restored (or
        when nothing of ours landed), :class:`~._errors.ConcurrentRollout` when someone took
        the service over (whatever the error looked like: a candidate whose tag was taken away
        fails its probes), :class:`~._errors.RollbackFailed` with the command to run when
        restoring failed; and whether anything of this rollout had reached the service.
        """
        name = ctx.svc.name
        said = (
            error.cause if error.cause.startswith(f"{ctx.key}: ") else f"{ctx.key}: {error.cause}"
        )
        self._report.event("rollback", f"{said}; restoring {ctx.stable}", service=ctx.key)
        reached = held
        try:
            service = await self._api.get_service(ctx.path)
            if not is_ours(service, ctx.record.id, ctx.candidate):
                if held and not isinstance(error, ConcurrentRollout):
                    error = ConcurrentRollout(
                        f"{ctx.key}: a manual rollback or another deployer took over {name} "
                        f"while this rollout ran (this rollout then met: {error.cause})",
                        advice="Run `clarity-deploy status` to see who holds it.",
                    )
                error.state = _left_alone(service)
                return error, reached
            reached = True
            await self.restore(
                ctx.path,
                ctx.stable,
                ctx.candidate,
                ctx.version,
                outcome=_history_outcome(error),
                service=service,
            )
        except ConcurrentRollout as exc:
            error.state = f"{name} was changed by someone else while it was restored ({exc.cause})"
            return error, reached
        except DeployError as exc:
            failed = exc if isinstance(exc, RollbackFailed) else None
            cause = failed.cause if failed else exc.cause
            rolled = RollbackFailed(
                f"{error.cause}; restoring {name} failed too ({cause})",
                advice=f"Restore it by hand now: {manual_restore(ctx.path, ctx.stable)}",
            )
            rolled.state = f"{name} may still send traffic to {ctx.candidate}"
            return rolled, True
        error.state = f"{ctx.stable} serves 100% of {name} again"
        self._report.event(
            "rollback", f"{ctx.key}: {ctx.stable} serves 100% again", service=ctx.key
        )
        return error, reached

    def failed(self, ctx: RolloutContext, verdict: Verdict | None, what: str) -> RolloutFailed:
        """The error of a failed verdict (or a step that cannot be analysed): ``what`` failed."""
        reasons = "; ".join(verdict.reasons()) if verdict else what
        self._report.event(
            "rollback",
            f"{ctx.key}: {what} ({reasons}); rolling back to {ctx.stable}",
            service=ctx.key,
        )
        error = RolloutFailed(
            f"{ctx.key}: {what}: {reasons}; {ctx.candidate} is recorded as failed",
            advice="Fix the release and deploy a new version.",
        )
        error.first_failure_at = verdict.first_failure_at if verdict is not None else None
        return error

    def aborted(self, ctx: RolloutContext, reason: str) -> RolloutAborted:
        """The error of a candidate that never became Ready."""
        self._report.event(
            "error", f"{ctx.key}: {ctx.candidate} did not become Ready: {reason}", service=ctx.key
        )
        return RolloutAborted(
            f"{ctx.key}: candidate revision {ctx.candidate} never became Ready ({reason}); "
            "it never took traffic",
            advice="Check the revision's logs in Cloud Logging, fix the release and deploy again.",
        )

    async def restore_released(
        self, released: Sequence[Released], version: str, *, reason: str
    ) -> tuple[list[str], list[RollbackFailed]]:
        """A later service failed: restore the ones already released, last first.

        Returns what each now looks like, and the restores that failed. A service changed
        since it was released (another rollout, a manual rollback) is left alone.
        """
        states: list[str] = []
        failures: list[RollbackFailed] = []
        for item in reversed(released):
            name = item.svc.name
            self._report.event(
                "rollback",
                f"{item.svc.key}: restoring {item.previous} because a later service failed",
                service=item.svc.key,
            )
            try:
                service = await self._api.get_service(item.path)
                if not is_ours(service, item.record_id, item.candidate):
                    states.append(f"{name} changed since it was released; left alone")
                    continue
                await self.restore(
                    item.path,
                    item.previous,
                    item.candidate,
                    version,
                    outcome="rolled_back",
                    service=service,
                )
            except ConcurrentRollout as exc:
                states.append(f"{name} was changed by someone else ({exc.cause}); left alone")
            except RollbackFailed as exc:
                failures.append(exc)
            except DeployError as exc:
                failures.append(
                    RollbackFailed(
                        f"could not restore traffic of {name} to {item.previous}: {exc.cause}",
                        advice=f"Restore it by hand now: {manual_restore(item.path, item.previous)}",
                    )
                )
            else:
                states.append(f"{item.previous} serves 100% of {name} again")
        if states:
            self._report.event("rollback", f"{'; '.join(states)} ({reason})")
        return states, failures


def _history_outcome(error: DeployError) -> str:
    if isinstance(error, RolloutAborted):
        return "aborted"
    if isinstance(error, RolloutFailed):
        return "rolled_back"
    return "failed"


def _left_alone(service: run_v2.Service) -> str:
    name = st.short_name(service.name)
    state = st.RolloutState.from_service(service)
    if state is not None:
        return (
            f"{name} is held by rollout {state.id} of {state.version} (by {state.owner}); "
            "this rollout left it alone"
        )
    split = st.current_split(service)
    return f"{name} left as it is ({split.describe() if split else 'no traffic'})"


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
    with it. Either way, never a revision a rollout recorded as failed: that includes one
    released and then restored because a later service of its release failed (it succeeded
    first, so its history says both).
    """
    history = st.history_of(service)
    failed = {h.revision for h in history if h.outcome not in _GOOD}
    ready = [r for r in revisions if is_ready(r) and st.short_name(r.name) not in failed]
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
    matching = [r for r in ready if r.annotations.get(st.VERSION_ANNOTATION) == to]
    if not matching:
        known = sorted({r.annotations.get(st.VERSION_ANNOTATION, "") for r in ready} - {""})
        # Nothing matches: a Ready revision of the version is then one recorded as failed.
        carried = any(
            is_ready(r) and r.annotations.get(st.VERSION_ANNOTATION) == to for r in revisions
        )
        what = (
            f"every Ready revision of {name} that carries version {to} is recorded as failed"
            if carried
            else f"no Ready revision of {name} carries version {to}"
        )
        msg = (
            f"{key}: {what} (versions available: {', '.join(known) or 'none'}). "
            "Nothing was changed."
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
