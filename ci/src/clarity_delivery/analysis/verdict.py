"""Verdicts: the pure rule that turns a step's measurements into passed, failed or error.

A step is analysed over a :class:`Window` of measurement rounds. It **fails** as soon as
``failure_threshold`` rounds failed, ends in **error** (could not measure) as soon as as many
rounds could not be measured, and **passes** once ``rounds`` rounds were measured without
either. An unmeasured round does not count towards the window: the step is measured again
instead (at most ``failure_threshold - 1`` times). Before traffic (``until_healthy``) the step
passes at the first healthy round, and only a window of failed rounds fails it, so a cold
first request does not fail a good release (a broken one fails every round).

Nothing here waits or talks to anything (Argo's ``assessMetricStatus``): the runner measures,
this module judges, and only the rollout engine acts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..settings import RolloutPolicy
from .providers import Measurement, Phase

__all__ = ["Analysis", "AnalysisMode", "Round", "Verdict", "Window", "assess"]

AnalysisMode = Literal["until_healthy", "full"]
"""``full``: the whole window; ``until_healthy``: the pre-traffic check, done when healthy."""

VerdictPhase = Literal["pending", "passed", "failed", "error"]


@dataclass(frozen=True, kw_only=True)
class Window:
    """How long one step is analysed, from the rollout policy and the step's mode."""

    policy: RolloutPolicy
    mode: AnalysisMode = "full"

    @property
    def rounds(self) -> int:
        """Measured rounds that complete the window."""
        return self.policy.probes_per_step

    @property
    def interval(self) -> float:
        """Seconds between rounds."""
        return self.policy.analysis_interval_seconds

    @property
    def failure_threshold(self) -> int:
        """Failed rounds that fail the step (before traffic: a whole window of them)."""
        if self.mode == "until_healthy":
            return self.policy.probes_per_step
        return self.policy.failure_threshold


@dataclass(frozen=True)
class Verdict:
    """Where a step stands, with the measurements that say why (the evidence)."""

    phase: VerdictPhase
    measurements: tuple[Measurement, ...]

    @property
    def decided(self) -> bool:
        """Whether more measurements would change nothing."""
        return self.phase != "pending"

    @property
    def passed(self) -> bool:
        """The step passed: the rollout may go on."""
        return self.phase == "passed"

    @property
    def failed_rounds(self) -> int:
        """Rounds in which the candidate did something wrong."""
        return _count(self.measurements, "failed")

    @property
    def unmeasured_rounds(self) -> int:
        """Rounds that could not be measured."""
        return _count(self.measurements, "error")

    @property
    def first_failure_at(self) -> float | None:
        """When the first failed or unmeasured round started (``time.monotonic``)."""
        return next((m.at for m in self.measurements if m.phase != "successful"), None)

    def reasons(self) -> list[str]:
        """Distinct failure reasons, in order of first appearance."""
        seen: list[str] = []
        for m in self.measurements:
            for reason in m.failures():
                if reason not in seen:
                    seen.append(reason)
        return seen


def assess(measurements: Sequence[Measurement], window: Window) -> Verdict:
    """The verdict of ``measurements`` (rounds, oldest first) over ``window``."""
    taken = tuple(measurements)
    if window.mode == "until_healthy" and taken and taken[-1].phase == "successful":
        return Verdict("passed", taken)
    if _count(taken, "failed") >= window.failure_threshold:
        return Verdict("failed", taken)
    if _count(taken, "error") >= window.failure_threshold:
        return Verdict("error", taken)
    if len(taken) - _count(taken, "error") >= window.rounds:
        return Verdict("passed", taken)
    return Verdict("pending", taken)


def _count(measurements: Sequence[Measurement], phase: Phase) -> int:
    return sum(1 for m in measurements if m.phase == phase)


class Analysis:
    """One step's rounds so far and their verdict; a policy alone means a ``full`` window."""

    def __init__(self, window: Window | RolloutPolicy) -> None:
        self.window = window if isinstance(window, Window) else Window(policy=window)
        self.rounds: list[Measurement] = []

    def record(self, measurement: Measurement) -> None:
        """Add a round; ignored once the verdict is known."""
        if not self.done:
            self.rounds.append(measurement)

    @property
    def verdict(self) -> Verdict:
        """The verdict of the rounds so far."""
        return assess(self.rounds, self.window)

    @property
    def done(self) -> bool:
        """The verdict is known."""
        return self.verdict.decided

    @property
    def failed(self) -> bool:
        """The step failed: ``failure_threshold`` rounds failed."""
        return self.verdict.phase == "failed"

    @property
    def failed_rounds(self) -> int:
        """How many rounds failed."""
        return self.verdict.failed_rounds

    @property
    def first_failure_at(self) -> float | None:
        """When the first failed round started (``time.monotonic``), for time to rollback."""
        return self.verdict.first_failure_at

    def reasons(self) -> list[str]:
        """Distinct failure reasons, in order of first appearance."""
        return self.verdict.reasons()


@dataclass(frozen=True)
class Round:
    """The measurements of several providers taken together: one round of a step.

    The round fails when any provider saw a failure, and is unmeasured when none failed but
    one could not measure (Flagger counts a failed check per tick the same way).
    """

    measurements: tuple[Measurement, ...] = field(default=())

    @property
    def phase(self) -> Phase:
        """The worst phase of its measurements (failed, then error)."""
        phases = {m.phase for m in self.measurements}
        if "failed" in phases:
            return "failed"
        return "error" if "error" in phases or not phases else "successful"

    @property
    def at(self) -> float:
        """When its first measurement started."""
        return min((m.at for m in self.measurements), default=0.0)

    def describe(self) -> str:
        """Each measurement's evidence."""
        return "; ".join(m.describe() for m in self.measurements)

    def failures(self) -> list[str]:
        """Every provider's reasons."""
        return [reason for m in self.measurements for reason in m.failures()]
