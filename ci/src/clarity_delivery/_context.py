"""The rollout of one service in progress, as every part of a rollout reads it.

A frozen :class:`RolloutContext` is built once per service, when the candidate has a name, and
passed to the strategy, the candidate, the analysis and the rollback: what each step needs and
what a failure must restore and record, in one value instead of six arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._cloudrun import ServicePath
from .ledger import DeploymentRecord
from .plan import ReleasePlan, ServicePlan, TrafficSplit, TrafficTarget

__all__ = ["Released", "RolloutContext"]


@dataclass(frozen=True, kw_only=True)
class RolloutContext:
    """One service's rollout: its plan, the stable revision to protect and the candidate."""

    plan: ReleasePlan
    svc: ServicePlan
    path: ServicePath
    stable: str
    candidate: str
    held: Mapping[str, str]
    """Tag → revision kept at 0 % for an instant switch back (``previous``, ``blue``)."""
    record: DeploymentRecord

    @property
    def key(self) -> str:
        """The service's key in the settings (``api-gateway``)."""
        return self.svc.key

    @property
    def version(self) -> str:
        """The release's version, as recorded."""
        return str(self.plan.version)

    def held_targets(self, *, without: str = "") -> tuple[TrafficTarget, ...]:
        """The held revisions as 0 % targets, except the one tagged ``without``."""
        return tuple(TrafficTarget(rev, 0, tag) for tag, rev in self.held.items() if tag != without)

    def pinned(self) -> TrafficSplit:
        """All traffic on the stable revision by name, the held revisions still tagged."""
        return TrafficSplit.single(self.stable, keep=dict(self.held))


@dataclass(frozen=True, kw_only=True)
class Released:
    """A service whose rollout finished, and what to restore if a later service fails."""

    svc: ServicePlan
    path: ServicePath
    previous: str
    candidate: str
    record_id: str
