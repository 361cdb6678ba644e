"""Traffic writes: one etag-guarded update of a service's traffic and rollout state, verified.

Strategies only name the split they want; :class:`CloudRunRouter` is the one place that writes
it (Flagger's router ``SetRoutes``). Each write carries the service's etag, so a concurrent
change is a clean :class:`~._errors.ConcurrentRollout`, and writes traffic and the rollout lease
together, so the lease always describes the traffic that is live. :meth:`CloudRunRouter.verify`
(Argo's ``VerifyWeight``) is how a service read back is recognised as carrying our write when a
transient failure hid that it landed.
"""

from __future__ import annotations

from typing import Protocol

from google.cloud import run_v2

from . import _state as st
from ._cloudrun import CloudRunApi, ServicePath
from .plan import TrafficSplit

__all__ = ["CloudRunRouter", "TrafficRouter"]

_WRITE_TIMEOUT = 120.0


class TrafficRouter(Protocol):
    """Writes traffic splits and verifies them."""

    async def set_split(
        self,
        path: ServicePath,
        service: run_v2.Service,
        split: TrafficSplit,
        *,
        state: st.RolloutState | None,
        history: st.HistoryEntry | None = None,
    ) -> run_v2.Service:
        """Route ``split`` and write ``state`` (None clears it), guarded by ``service``'s etag."""
        ...

    def verify(self, service: run_v2.Service, split: TrafficSplit, state: str | None) -> bool:
        """Whether ``service`` routes as ``split`` with the rollout annotation ``state``."""
        ...


class CloudRunRouter:
    """Traffic of Cloud Run services through the Admin API (``spec.traffic`` by revision name)."""

    def __init__(self, api: CloudRunApi) -> None:
        self._api = api

    async def set_split(
        self,
        path: ServicePath,
        service: run_v2.Service,
        split: TrafficSplit,
        *,
        state: st.RolloutState | None,
        history: st.HistoryEntry | None = None,
    ) -> run_v2.Service:
        """One guarded write of traffic and rollout state (None clears it), plus history."""
        st.apply_split(service, split)
        if state is None:
            service.annotations.pop(st.ROLLOUT_ANNOTATION, None)
        else:
            service.annotations[st.ROLLOUT_ANNOTATION] = state.to_json()
        if history is not None:
            service.annotations[st.HISTORY_ANNOTATION] = st.with_history(service, history)
        written = service.annotations.get(st.ROLLOUT_ANNOTATION)
        return await self._api.update_service(
            path,
            service,
            ["traffic", "annotations"],
            timeout=_WRITE_TIMEOUT,
            applied=lambda s: self.verify(s, split, written),
        )

    def verify(self, service: run_v2.Service, split: TrafficSplit, state: str | None) -> bool:
        """Whether ``service`` routes exactly as ``split`` and carries the rollout state ``state``."""
        return (
            st.same_split(service, split)
            and service.annotations.get(st.ROLLOUT_ANNOTATION) == state
        )
