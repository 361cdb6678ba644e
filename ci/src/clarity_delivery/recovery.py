"""Interrupted rollouts: the state on the service is the truth, and its lease says who holds it.

A rollout writes its :class:`~._state.RolloutState` on the service with every traffic write and
renews it while it waits. Whoever meets that state next acts by one rule (:func:`outlook`):

- a deploy or ``status`` refuses to touch it while its owner is alive and its lease runs, and
  rolls it back to the stable revision it protected once the owner is gone (lease expired, or
  a dead process on this host) or is ourselves;
- a manual rollback takes it over at once: an operator's rollback is what a stuck rollout
  needs, and waiting out the lease would only keep production on the candidate longer.

Our CI runners have no controller that owns a service, which is why the lease exists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from google.cloud import run_v2

from . import _state as st
from ._cloudrun import CloudRunApi, ServicePath
from ._errors import ConcurrentRollout
from .progress import Reporter
from .rollback import Rollbacks

__all__ = ["LeaseOutlook", "Recovery", "outlook"]


@dataclass(frozen=True, kw_only=True)
class LeaseOutlook:
    """A rollout in progress as the next command sees it."""

    expires_in: float
    """Seconds until the lease runs out (negative: it ran out that long ago)."""
    abandoned: bool
    next_deploy: str
    next_rollback: str

    def describe_expiry(self) -> str:
        """``expires in 42s (at 12:00:42 UTC)`` or ``expired 5s ago``."""
        if self.expires_in < 0:
            return f"expired {-self.expires_in:.0f}s ago"
        at = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + self.expires_in))
        return f"expires in {self.expires_in:.0f}s (at {at})"


def outlook(state: st.RolloutState, now: float, *, host: str | None = None) -> LeaseOutlook:
    """What the next deploy and the next rollback will do about ``state`` (pure but for pids)."""
    abandoned = state.abandoned(now, host=host)
    if abandoned:
        deploy = f"rolls it back to {state.stable} first (its deployer is gone), then releases"
    else:
        deploy = (
            f"refused (exit 3) until the lease expires, then rolls it back to {state.stable} first"
        )
    return LeaseOutlook(
        expires_in=state.expires_at - now,
        abandoned=abandoned,
        next_deploy=deploy,
        next_rollback="takes it over at once",
    )


class Recovery:
    """Resolves rollouts left on a service by a deployer that is gone, or takes them over."""

    def __init__(
        self, api: CloudRunApi, rollbacks: Rollbacks, reporter: Reporter, *, owner: str
    ) -> None:
        self._api = api
        self._rollbacks = rollbacks
        self._report = reporter
        self._owner = owner

    def resolvable(self, state: st.RolloutState) -> bool:
        """Whether we may roll ``state`` back: it is ours, or its owner is gone."""
        return state.owner == self._owner or state.abandoned(time.time())

    async def resolve_interrupted(
        self, path: ServicePath, service: run_v2.Service, key: str
    ) -> run_v2.Service:
        """Refuse while another rollout holds the service; roll back one whose deployer is gone.

        Returns the service as it is afterwards (unchanged when no rollout was on it).
        """
        state = st.RolloutState.from_service(service)
        if state is None:
            return service
        if not self.resolvable(state):
            seen = outlook(state, time.time())
            msg = (
                f"{key}: another rollout (version {state.version}, id {state.id}, by {state.owner}) "
                f"is in progress on {path.service} at {state.percent}%; its lease "
                f"{seen.describe_expiry()}"
            )
            raise ConcurrentRollout(
                msg,
                advice="Its traffic was left alone. Deploy again once it has finished or its "
                "lease has run out (it is then rolled back first), or take it over now with "
                "`clarity-deploy rollback --to previous`.",
            )
        self._report.event(
            "resolve",
            f"{key}: found an interrupted rollout of {state.version} "
            f"(id {state.id}, by {state.owner}, at {state.percent}%); rolling back to {state.stable}",
            service=key,
            rollout=state.id,
        )
        await self._rollbacks.restore(
            path, state.stable, state.candidate, state.version, outcome="interrupted"
        )
        return await self._api.get_service(path)

    def take_over(self, service: run_v2.Service, key: str) -> st.HistoryEntry | None:
        """Announce that a manual rollback overrides the rollout on ``service``, if any; the
        history entry that records its candidate as interrupted."""
        state = st.RolloutState.from_service(service)
        if state is None:
            return None
        seen = outlook(state, time.time())
        whose = "abandoned" if seen.abandoned else "live"
        self._report.event(
            "resolve",
            f"{key}: taking over rollout {state.id} of {state.version} by {state.owner} "
            f"({whose}, at {state.percent}%, lease {seen.describe_expiry()}): the manual "
            "rollback overrides it; that deployer stops at its next write",
            service=key,
            rollout=state.id,
        )
        return st.HistoryEntry(
            version=state.version, revision=state.candidate, outcome="interrupted", at=time.time()
        )
