"""Interrupted rollouts: the state on the service is the truth, and its lease says who holds it.

A rollout writes its :class:`~._state.RolloutState` on the service with every traffic write.
Whoever meets that state next (a deploy, a manual rollback, ``status``) either refuses, while
its owner is alive and its lease runs, or, when the owner is gone (lease expired, or a dead
process on this host) or is ourselves, rolls it back to the stable revision it protected. Our CI
runners have no controller that owns a service, which is why the lease exists.
"""

from __future__ import annotations

import time

from google.cloud import run_v2

from . import _state as st
from ._cloudrun import CloudRunApi, ServicePath
from ._errors import ConcurrentRollout
from .progress import Reporter
from .rollback import Rollbacks

__all__ = ["Recovery"]


class Recovery:
    """Resolves rollouts left on a service by a deployer that is gone."""

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
            msg = (
                f"{key}: another rollout (version {state.version}, id {state.id}, by {state.owner}) is in "
                f"progress on {path.service} at {state.percent}%. Its traffic was left alone; wait for it to "
                "finish, or run `clarity-deploy status` once its lease "
                f"({state.lease_seconds:.0f}s without progress) has run out to resolve it."
            )
            raise ConcurrentRollout(msg)
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
