"""Blue-green: analyse ``green`` fully at 0 %, switch 100 % at once, analyse again, bake."""

from __future__ import annotations

from collections.abc import Sequence

from .._context import RolloutContext
from ..plan import TrafficSplit, TrafficTarget
from ._strategy import PRE_TRAFFIC_FAILURE, Step, bake_steps, performance_steps, promoted_split

__all__ = ["BlueGreen"]


class BlueGreen:
    """One atomic switch, with green verified as thoroughly as a traffic step before it."""

    candidate_tag = "green"
    previous_tag = "blue"

    def steps(self, ctx: RolloutContext) -> Sequence[Step]:
        """A full pre-promotion analysis at 0 %, the performance gate (where on), the switch, a
        post-promotion one, the bake."""
        switched = TrafficSplit(
            (
                TrafficTarget(ctx.candidate, 100, self.candidate_tag),
                TrafficTarget(ctx.stable, 0, self.previous_tag),
                *ctx.held_targets(without=self.previous_tag),
            )
        )
        return (
            Step(split=None, percent=0, analysis="full", failure=PRE_TRAFFIC_FAILURE),
            *performance_steps(ctx),
            Step(
                split=switched,
                percent=100,
                analysis="full",
                announce=(
                    f"{ctx.key}: switched 100% to green {ctx.candidate}; "
                    f"blue {ctx.stable} kept at 0%"
                ),
                failure="health analysis failed after the switch",
            ),
            *bake_steps(ctx, self.previous_tag),
        )

    def promoted(self, ctx: RolloutContext) -> TrafficSplit:
        """Green becomes stable; the old stable stays tagged ``blue``."""
        return promoted_split(ctx, self.previous_tag)
