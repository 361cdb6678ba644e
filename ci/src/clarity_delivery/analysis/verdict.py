"""Verdicts: the pure rule that turns a step's measurements into passed, failed or error.

A step is analysed over a :class:`Window` of measurement rounds. It **fails** as soon as
``failure_threshold`` rounds failed, ends in **error** (could not measure) as soon as as many
rounds could not be measured, and **passes** once ``rounds`` rounds were measured without
either, its last round did not fail, and:

* with a metric *gate* (steps in which the candidate takes traffic, when metric analysis is
  on): a metrics window wholly inside the step's own traffic passed with enough requests; or,
  once the windows read reach ``window * (1 + max_extensions)`` into the step (about
  ``window * (1 + max_extensions) + delay`` seconds) without one, the step is decided by the
  probes alone (too few requests), and the verdict says so;
* with ``hold_until`` (the bake): that moment has come.

An unmeasured round does not count towards the window: the step is measured again instead (at
most ``failure_threshold - 1`` times). Before traffic (``until_healthy``) the step passes at the
first healthy round, and only a window of failed rounds fails it, so a cold first request does
not fail a good release (a broken one fails every round).

Nothing here waits or talks to anything (Argo's ``assessMetricStatus``): the runner measures
and passes the time in, this module judges, and only the rollout engine acts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..settings import MetricAnalysis, RolloutPolicy
from .metrics import MetricsMeasurement
from .providers import Measurement, Phase

__all__ = ["Analysis", "AnalysisMode", "Round", "Verdict", "Window", "assess"]

AnalysisMode = Literal["until_healthy", "full", "bake", "performance"]
"""``full``: the whole window; ``until_healthy``: the pre-traffic check, done when healthy;
``bake``: a full window that also holds until ``hold_until``; ``performance``: one round that
holds the load test (the performance gate), decisive either way."""

DecidedBy = Literal["metrics", "probes", "probes (too few requests)", "load test"]

VerdictPhase = Literal["pending", "passed", "failed", "error"]


@dataclass(frozen=True, kw_only=True)
class Window:
    """How long one step is analysed, from the rollout policy and the step's mode."""

    policy: RolloutPolicy
    mode: AnalysisMode = "full"
    gate: MetricAnalysis | None = None
    """Metric evidence the step needs before it passes; None: probes decide alone."""
    opened: float = 0.0
    """When the step began (``time.time()``); the runner sets it."""
    hold_until: float = 0.0
    """The step does not pass before this moment (``time.time()``): the bake."""

    @property
    def rounds(self) -> int:
        """Measured rounds that complete the window."""
        return 1 if self.mode == "performance" else self.policy.probes_per_step

    @property
    def interval(self) -> float:
        """Seconds between rounds."""
        return self.policy.analysis_interval_seconds

    @property
    def failure_threshold(self) -> int:
        """Failed rounds that fail the step (before traffic: a whole window of them)."""
        if self.mode == "until_healthy":
            return self.policy.probes_per_step
        if self.mode == "performance":
            return 1
        return self.policy.failure_threshold


@dataclass(frozen=True)
class Verdict:
    """Where a step stands, with the measurements that say why (the evidence)."""

    phase: VerdictPhase
    measurements: tuple[Measurement, ...]
    decided_by: DecidedBy | None = None
    """What settled a passed or failed step: the metrics, or the probes (and why)."""

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

    def metric_evidence(self) -> MetricsMeasurement | None:
        """The metrics window that tells the step's story: the last failed one, else the last
        conclusive one, else the last one read."""
        windows = list(metric_windows(self.measurements))
        for wanted in ("failed", "successful"):
            chosen = [m for m in windows if m.phase == wanted]
            if chosen:
                return chosen[-1]
        return windows[-1] if windows else None


def metric_windows(measurements: Sequence[Measurement]) -> Iterator[MetricsMeasurement]:
    """Every metrics measurement among ``measurements`` (alone or inside rounds), in order."""
    for m in measurements:
        inner = m.measurements if isinstance(m, Round) else (m,)
        yield from (x for x in inner if isinstance(x, MetricsMeasurement))


def assess(
    measurements: Sequence[Measurement], window: Window, *, now: float = math.inf
) -> Verdict:
    """The verdict of ``measurements`` (rounds, oldest first) over ``window`` at ``now``."""
    taken = tuple(measurements)
    if window.mode == "until_healthy" and taken and taken[-1].phase == "successful":
        return Verdict("passed", taken, "probes")
    if _count(taken, "failed") >= window.failure_threshold:
        by_metrics = any(m.phase == "failed" for m in metric_windows(taken))
        by: DecidedBy = "load test" if window.mode == "performance" else "probes"
        return Verdict("failed", taken, "metrics" if by_metrics else by)
    if _count(taken, "error") >= window.failure_threshold:
        return Verdict("error", taken)
    if len(taken) - _count(taken, "error") < window.rounds or taken[-1].phase == "failed":
        return Verdict("pending", taken)
    decided_by: DecidedBy | None = (
        "load test" if window.mode == "performance" else _gate(taken, window)
    )
    if decided_by is None or now < window.hold_until:
        return Verdict("pending", taken)
    return Verdict("passed", taken, decided_by)


def _gate(taken: Sequence[Measurement], window: Window) -> DecidedBy | None:
    """Whether the step's metric evidence is in: who decides, or None to keep waiting.

    Only windows wholly inside the step's own traffic count. The step is decided by the
    probes once such a window reaching ``window * (1 + max_extensions)`` into the step has
    been read without a conclusive pass: judged on what was read, not on the clock, so a
    window read at the very edge of the limit is never lost to a race.
    """
    gate = window.gate
    if gate is None:
        return "probes"
    own = [m for m in metric_windows(taken) if m.start >= window.opened]
    if any(m.phase == "successful" for m in own):
        return "metrics"
    reach = window.opened + gate.window_seconds * (1 + gate.max_extensions)
    if any(m.end >= reach for m in own):
        return "probes (too few requests)"
    return None


def _count(measurements: Sequence[Measurement], phase: Phase) -> int:
    return sum(1 for m in measurements if m.phase == phase)


class Analysis:
    """One step's rounds so far and their verdict; a policy alone means a ``full`` window."""

    def __init__(self, window: Window | RolloutPolicy) -> None:
        self.window = window if isinstance(window, Window) else Window(policy=window)
        self.rounds: list[Measurement] = []
        self.now = math.inf

    def record(self, measurement: Measurement, *, now: float = math.inf) -> None:
        """Add a round taken at ``now`` (``time.time()``); ignored once the verdict is known."""
        if not self.done:
            self.rounds.append(measurement)
            self.now = now

    def wait(self, now: float) -> None:
        """Time passed without a new round (a held step checks its clock again)."""
        self.now = now

    @property
    def verdict(self) -> Verdict:
        """The verdict of the rounds so far."""
        return assess(self.rounds, self.window, now=self.now)

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
        """The worst phase of its measurements (failed, then error); an inconclusive one
        counts for nothing unless all are."""
        phases = {m.phase for m in self.measurements}
        if "failed" in phases:
            return "failed"
        if "error" in phases or not phases:
            return "error"
        return "inconclusive" if phases == {"inconclusive"} else "successful"

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
