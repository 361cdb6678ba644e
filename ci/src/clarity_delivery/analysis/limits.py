"""The pure rule that judges one window of real traffic: the candidate, and against stable.

For the candidate revision, and the stable revision over the same window, a window gives the
request count, the 5xx count and the latency histogram (:class:`RevisionStats`). The window
is **inconclusive** when the candidate served fewer than ``min_requests`` requests (too little
to judge). Otherwise it **fails** when

* the candidate's 5xx ratio or its p50/p95/p99 latency exceeds the absolute limit, or
* the window is comparable (the traffic split did not change inside it: the window began
  after the step did), the stable revision also served at least ``min_requests`` requests in
  it, and the candidate is worse than stable by more than the relative tolerance plus the
  noise floor: ``candidate > stable * (1 + relative_tolerance) + noise``, where noise is
  ``noise_floor.error_ratio`` for the 5xx ratio and ``noise_floor.latency_ms`` for latency
  (differences smaller than that are noise between two revisions, not a regression). A
  latency percentile is compared only when at least :data:`TAIL_REQUESTS` requests of each
  revision lie above it (p95: 100 requests, p99: 500): the p99 of 60 requests is their
  slowest one, and two revisions' slowest requests differ by chance.

Anything else **passes**. Nothing here queries or waits; :mod:`.metrics` measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..settings import MetricAnalysis
from .distribution import Histogram

__all__ = ["PERCENTILES", "TAIL_REQUESTS", "Judgement", "RevisionStats", "judge"]

PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))
TAIL_REQUESTS = 5
"""Requests that must lie above a percentile, in each revision, for it to be compared."""

JudgementPhase = Literal["successful", "failed", "inconclusive"]


@dataclass(frozen=True, kw_only=True)
class RevisionStats:
    """One revision's traffic in one window."""

    revision: str
    requests: int
    errors: int
    latency: Histogram | None = None

    @property
    def error_ratio(self) -> float:
        """5xx responses over all responses (0 without requests)."""
        return self.errors / self.requests if self.requests else 0.0

    def latency_ms(self, name: str) -> float | None:
        """``p50``, ``p95`` or ``p99`` in milliseconds; None without latency data."""
        if self.latency is None:
            return None
        return self.latency.percentile(dict(PERCENTILES)[name])

    def describe(self) -> str:
        """``412 req, 0.2% 5xx, p95 14 ms, p99 30 ms``."""
        text = f"{self.requests} req, {self.error_ratio:.1%} 5xx"
        for name in ("p95", "p99"):
            value = self.latency_ms(name)
            if value is not None:
                text += f", {name} {value:.0f} ms"
        return text


@dataclass(frozen=True)
class Judgement:
    """A window's verdict and why."""

    phase: JudgementPhase
    reasons: tuple[str, ...] = ()
    compared: bool = False
    """Whether the stable revision had enough requests to compare with."""


def judge(
    candidate: RevisionStats,
    baseline: RevisionStats | None,
    limits: MetricAnalysis,
    *,
    comparable: bool = True,
) -> Judgement:
    """The judgement of one window (see the module docstring); ``comparable``: the traffic
    split was the same throughout the window."""
    if candidate.requests < limits.min_requests:
        return Judgement(
            "inconclusive",
            (f"{candidate.requests} candidate requests, fewer than {limits.min_requests}",),
        )
    reasons: list[str] = []
    if candidate.error_ratio > limits.max_error_ratio:
        reasons.append(
            f"5xx ratio {candidate.error_ratio:.1%} over the limit {limits.max_error_ratio:.1%}"
        )
    for name, limit in limits.max_latency_ms.items():
        value = candidate.latency_ms(name)
        if value is not None and value > limit:
            reasons.append(f"{name} latency {value:.0f} ms over the limit {limit:g} ms")
    compared = comparable and baseline is not None and baseline.requests >= limits.min_requests
    if compared and baseline is not None:
        tolerance = 1 + limits.relative_tolerance
        worse = f"worse than stable by more than {limits.relative_tolerance:.0%}"
        if candidate.error_ratio > baseline.error_ratio * tolerance + limits.noise_error_ratio:
            reasons.append(
                f"5xx ratio {candidate.error_ratio:.1%} vs stable {baseline.error_ratio:.1%} "
                f"({worse} + {limits.noise_error_ratio:.1%})"
            )
        fewest = min(candidate.requests, baseline.requests)
        for name, q in PERCENTILES:
            ours, theirs = candidate.latency_ms(name), baseline.latency_ms(name)
            if ours is None or theirs is None or fewest * (1 - q / 100) < TAIL_REQUESTS:
                continue
            if ours > theirs * tolerance + limits.noise_latency_ms:
                reasons.append(
                    f"{name} latency {ours:.0f} ms vs stable {theirs:.0f} ms "
                    f"({worse} + {limits.noise_latency_ms:g} ms)"
                )
    return Judgement("failed" if reasons else "successful", tuple(reasons), compared)
