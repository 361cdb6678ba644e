"""Traffic writes: one etag-guarded update of a service's traffic and rollout state, verified.

Strategies only name the split they want; a :class:`TrafficChange` is the one way it is
written (Flagger's router ``SetRoutes``), together with the rollout lease, so the lease always
describes the traffic that is live. A :class:`Hold` is a rollout's grip on one service while it
runs: the service as our last write left it, the lease on it, renewed on every write and in
between (:mod:`.lease`). What counts as someone else's change (:func:`owned_changes`) is the
same for every write: the traffic, the rollout state, the template's revision. Anything else
(a label Terraform set, Cloud Run settling its status) moves the etag but is not a conflict.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from google.cloud import run_v2

from . import _state as st
from ._cloudrun import CloudRunApi, ServicePath
from .plan import TrafficSplit

__all__ = [
    "CloudRunRouter",
    "Hold",
    "LeaseChange",
    "TrafficChange",
    "TrafficRouter",
    "copy_of",
    "owned_changes",
]

WRITE_TIMEOUT = 120.0


def copy_of(service: run_v2.Service) -> run_v2.Service:
    """A deep copy of a service message."""
    copied: run_v2.Service = run_v2.Service.deserialize(run_v2.Service.serialize(service))
    return copied


def owned_changes(base: run_v2.Service, fresh: run_v2.Service) -> str | None:
    """What someone else changed between ``base`` and ``fresh`` in the fields rollouts own."""
    name = st.short_name(fresh.name) or "the service"
    if base.annotations.get(st.ROLLOUT_ANNOTATION) != fresh.annotations.get(st.ROLLOUT_ANNOTATION):
        theirs = st.RolloutState.from_service(fresh)
        if theirs is None:
            return f"the rollout state on {name} was cleared: a manual rollback or another deployer took over"
        return (
            f"another rollout ({theirs.id} of {theirs.version}, by {theirs.owner}) holds {name}"
            f" at {theirs.percent}%"
        )
    if _targets(base) != _targets(fresh):
        split = st.current_split(fresh)
        now = split.describe() if split else "no traffic"
        return f"someone else changed the traffic of {name} (now {now})"
    if base.template.revision != fresh.template.revision:
        return f"someone else changed the template of {name} (revision {fresh.template.revision})"
    return None


def _targets(service: run_v2.Service) -> list[str]:
    split = st.current_split(service)
    return sorted(repr(t) for t in split.targets) if split else []


class TrafficChange:
    """Route ``split`` and set the rollout state (None clears it), maybe with a new template."""

    def __init__(
        self,
        split: TrafficSplit,
        state: str | None,
        *,
        history: st.HistoryEntry | Sequence[st.HistoryEntry] | None = None,
        template: run_v2.RevisionTemplate | None = None,
        takeover: bool = False,
    ) -> None:
        self.split = split
        self.state = state
        self.history = history
        self.template = template
        self.takeover = takeover

    @property
    def fields(self) -> Sequence[str]:
        """Template (when there is one), traffic and annotations."""
        return (
            ["template", "traffic", "annotations"] if self.template else ["traffic", "annotations"]
        )

    def apply(self, service: run_v2.Service) -> run_v2.Service:
        """``service`` routed as the split, with the state, history and template."""
        new = copy_of(service)
        # Sent only while the service does not have it: Cloud Run compares a named revision's
        # configuration with what exists under that name, and may have filled in defaults.
        if self.template is not None and service.template.revision != self.template.revision:
            new.template = self.template
        st.apply_split(new, self.split)
        if self.state is None:
            new.annotations.pop(st.ROLLOUT_ANNOTATION, None)
        else:
            new.annotations[st.ROLLOUT_ANNOTATION] = self.state
        entries = (self.history,) if isinstance(self.history, st.HistoryEntry) else self.history
        for entry in entries or ():
            new.annotations[st.HISTORY_ANNOTATION] = st.with_history(new, entry)
        return new

    def landed(self, service: run_v2.Service) -> bool:
        """Whether ``service`` routes as the split and carries the state (and template)."""
        return (
            st.same_split(service, self.split)
            and service.annotations.get(st.ROLLOUT_ANNOTATION) == self.state
            and (self.template is None or service.template.revision == self.template.revision)
        )

    def conflict(self, base: run_v2.Service, fresh: run_v2.Service) -> str | None:
        """Someone else's change of traffic, state or template; none for a takeover."""
        return None if self.takeover else owned_changes(base, fresh)


class LeaseChange:
    """Renew the rollout lease alone (an annotation): the heartbeat of a rollout that waits."""

    fields: Sequence[str] = ("annotations",)

    def __init__(self, state: str) -> None:
        self.state = state

    def apply(self, service: run_v2.Service) -> run_v2.Service:
        """``service`` with the renewed state."""
        new = copy_of(service)
        new.annotations[st.ROLLOUT_ANNOTATION] = self.state
        return new

    def landed(self, service: run_v2.Service) -> bool:
        """Whether ``service`` carries the renewed state."""
        return service.annotations.get(st.ROLLOUT_ANNOTATION) == self.state

    def conflict(self, base: run_v2.Service, fresh: run_v2.Service) -> str | None:
        """Someone else's change of traffic, state or template."""
        return owned_changes(base, fresh)


class TrafficRouter(Protocol):
    """Writes traffic splits, and holds services while a rollout runs."""

    async def set_split(
        self,
        path: ServicePath,
        service: run_v2.Service,
        split: TrafficSplit,
        *,
        state: st.RolloutState | None,
        history: st.HistoryEntry | Sequence[st.HistoryEntry] | None = None,
        takeover: bool = False,
    ) -> run_v2.Service:
        """Route ``split`` and write ``state`` (None clears it), guarded by ``service``'s etag."""
        ...

    def hold(
        self,
        path: ServicePath,
        service: run_v2.Service,
        state: st.RolloutState,
        *,
        lease_seconds: float,
    ) -> Hold:
        """A rollout's hold on ``service``."""
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
        history: st.HistoryEntry | Sequence[st.HistoryEntry] | None = None,
        takeover: bool = False,
    ) -> run_v2.Service:
        """One guarded write of traffic and rollout state (None clears it), plus history."""
        change = TrafficChange(
            split, state.to_json() if state else None, history=history, takeover=takeover
        )
        return await self._api.update_service(path, service, change, timeout=WRITE_TIMEOUT)

    def hold(
        self,
        path: ServicePath,
        service: run_v2.Service,
        state: st.RolloutState,
        *,
        lease_seconds: float,
    ) -> Hold:
        """Our hold on ``service``, whose last write put ``state`` on it; renewals give the
        lease ``lease_seconds``."""
        return Hold(self._api, path, service, state, lease_seconds=lease_seconds)


class Hold:
    """A rollout's hold on one service: the service as our last write left it, and the lease.

    The lease is renewed with every write and, while the rollout waits, whenever a quarter of
    it has gone by (:meth:`due_in`): a deployer that dies holds the service for at most one
    lease after its last renewal.
    """

    def __init__(
        self,
        api: CloudRunApi,
        path: ServicePath,
        service: run_v2.Service,
        state: st.RolloutState,
        *,
        lease_seconds: float,
    ) -> None:
        self._api = api
        self.path = path
        self.service = service
        self.state = state
        self.lease_seconds = lease_seconds

    def due_in(self) -> float:
        """Seconds until the lease should be renewed (0 or less: now)."""
        return self.state.heartbeat + self.lease_seconds / 4 - time.time()

    async def route(self, split: TrafficSplit, *, percent: int) -> None:
        """Route ``split`` with the lease renewed at the candidate's new share."""
        state = self.state.renewed(percent=percent, lease_seconds=self.lease_seconds)
        change = TrafficChange(split, state.to_json())
        self.service = await self._api.update_service(
            self.path, self.service, change, timeout=WRITE_TIMEOUT
        )
        self.state = state

    async def renew(self) -> None:
        """Renew the lease without touching traffic."""
        state = self.state.renewed(lease_seconds=self.lease_seconds)
        self.service = await self._api.update_service(
            self.path, self.service, LeaseChange(state.to_json()), timeout=WRITE_TIMEOUT
        )
        self.state = state

    async def release(self, split: TrafficSplit, *, history: st.HistoryEntry) -> None:
        """The last write: route ``split`` and clear the lease."""
        change = TrafficChange(split, None, history=history)
        self.service = await self._api.update_service(
            self.path, self.service, change, timeout=WRITE_TIMEOUT
        )
