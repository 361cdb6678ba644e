"""The strategy seam: which traffic splits a rollout walks, and how each is analysed.

A strategy is pure: given a :class:`~.._context.RolloutContext` it names the steps (Argo's
steps as data) and the split that makes the candidate stable. The rollout engine writes each
step's split, analyses, and rolls back on a failed verdict; a strategy never touches Cloud Run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .._context import RolloutContext
from ..analysis import AnalysisMode
from ..plan import TrafficSplit, TrafficTarget

__all__ = [
    "PERFORMANCE_FAILURE",
    "PRE_TRAFFIC_FAILURE",
    "Step",
    "Strategy",
    "bake_steps",
    "performance_steps",
    "promoted_split",
]

PRE_TRAFFIC_FAILURE = "candidate failed verification before taking traffic"
PERFORMANCE_FAILURE = "candidate failed the performance gate before taking traffic"
BAKE_FAILURE = "analysis failed while baking at 100%"


@dataclass(frozen=True, kw_only=True)
class Step:
    """One step of a rollout: a split to write (None: leave traffic as it is), then analysis."""

    split: TrafficSplit | None
    percent: int
    """The candidate's share of traffic while the step is analysed."""
    analysis: AnalysisMode
    announce: str = ""
    """The progress message once the split is written."""
    failure: str
    """What a failed verdict of this step is called in the rollback message."""


class Strategy(Protocol):
    """How a release reaches 100 %: its steps, its tags, its final split."""

    @property
    def candidate_tag(self) -> str:
        """The tag that gives the candidate its own URL while it is verified."""
        ...

    @property
    def previous_tag(self) -> str:
        """The tag the old stable revision keeps at 0 % once the candidate is stable."""
        ...

    def steps(self, ctx: RolloutContext) -> Sequence[Step]:
        """The steps, in order; the first analyses the tagged candidate at 0 %."""
        ...

    def promoted(self, ctx: RolloutContext) -> TrafficSplit:
        """The final split: the candidate stable at 100 %, the old stable tagged at 0 %."""
        ...


def performance_steps(ctx: RolloutContext) -> list[Step]:
    """The performance gate, where the environment turns it on: a load test of the candidate
    against stable, both at their tag URLs, before the candidate takes any traffic."""
    gate = ctx.plan.policy.performance
    if gate is None:
        return []
    return [
        Step(
            split=None,
            percent=0,
            analysis="performance",
            announce=(
                f"{ctx.key}: load test of {ctx.candidate} against {ctx.stable}, "
                f"{gate.duration_seconds:g}s at {gate.rate_per_second:g} requests a second, alternately"
            ),
            failure=PERFORMANCE_FAILURE,
        )
    ]


def bake_steps(ctx: RolloutContext, previous_tag: str) -> list[Step]:
    """The bake: analysis goes on at 100 % for ``bake_seconds`` of traffic, the old stable
    revision still tagged, before the candidate becomes 'stable' (none without a bake)."""
    seconds = ctx.plan.policy.bake_seconds
    if not seconds:
        return []
    return [
        Step(
            split=None,
            percent=100,
            analysis="bake",
            announce=(
                f"{ctx.key}: baking {ctx.candidate} at 100% for {seconds:g}s of traffic; "
                f"{ctx.stable} kept tagged '{previous_tag}'"
            ),
            failure=BAKE_FAILURE,
        )
    ]


def promoted_split(ctx: RolloutContext, previous_tag: str) -> TrafficSplit:
    """The candidate ``stable`` at 100 %, the old stable kept at 0 % under ``previous_tag``."""
    return TrafficSplit(
        (TrafficTarget(ctx.candidate, 100, "stable"), TrafficTarget(ctx.stable, 0, previous_tag))
    )
