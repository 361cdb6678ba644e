"""Canary: verify the candidate at 0 %, then move traffic up the policy's steps, analysing each."""

from __future__ import annotations

from collections.abc import Sequence

from .._context import RolloutContext
from ..plan import TrafficSplit
from ._strategy import PRE_TRAFFIC_FAILURE, Step, bake_steps, performance_steps, promoted_split

__all__ = ["Canary"]


class Canary:
    """``steps`` percentages of traffic to the candidate, the rest on stable (Argo's canary)."""

    candidate_tag = "candidate"
    previous_tag = "previous"

    def steps(self, ctx: RolloutContext) -> Sequence[Step]:
        """A pre-traffic check until healthy, the performance gate (where on), one fully
        analysed step per percentage, the bake."""
        percents = ctx.plan.policy.steps
        steps = [
            Step(split=None, percent=0, analysis="until_healthy", failure=PRE_TRAFFIC_FAILURE),
            *performance_steps(ctx),
        ]
        for n, percent in enumerate(percents, 1):
            walk = TrafficSplit.canary(
                ctx.stable, ctx.candidate, percent, candidate_tag=self.candidate_tag
            )
            split = TrafficSplit((*walk.targets, *ctx.held_targets()))
            steps.append(
                Step(
                    split=split,
                    percent=percent,
                    analysis="full",
                    announce=f"{ctx.key}: step {n}/{len(percents)}: {split.describe()}",
                    failure=f"health analysis failed at {percent}%",
                )
            )
        # The old stable revision keeps its 'stable' tag (at 0 %) until the bake is over.
        return [*steps, *bake_steps(ctx, "stable")]

    def promoted(self, ctx: RolloutContext) -> TrafficSplit:
        """The candidate stable; the old stable tagged ``previous``."""
        return promoted_split(ctx, self.previous_tag)
