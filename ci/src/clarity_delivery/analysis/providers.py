"""What analysis measures and who measures it: the seam a new source of evidence plugs into.

A :class:`MetricProvider` observes a candidate revision (against its baseline, the stable
revision, when it compares) and returns one :class:`Measurement` per call. Providers measure;
they never judge a step: :func:`~.verdict.assess` applies the limits, and only the rollout
engine acts on the verdict. A measurement is *successful*, *failed* (the candidate did
something wrong) or *error* (the provider could not measure: a metric backend that did not
answer). Keeping "could not measure" apart from "failed" is what lets a verdict say which of
the two stopped a rollout. A measurement may also be *inconclusive* (Argo's Inconclusive):
measured, but too little to judge, such as a metrics window with too few requests; it neither
passes nor fails a round.

The providers: :class:`~.probes.HttpProbes` (health checks and business transactions against
the candidate's own URL), :class:`~.metrics.RequestMetrics` (Cloud Run's request metrics from
Cloud Monitoring, candidate against stable) and :class:`~.load.LoadComparison` (the
performance gate: a bounded load test of candidate and stable before traffic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from ..plan import ServicePlan
from ..settings import MetricAnalysis, PerformanceGate

__all__ = ["Measurement", "MetricProvider", "Phase", "Subject", "Unmeasured"]

Phase = Literal["successful", "failed", "error", "inconclusive"]
"""How one measurement came out; ``error``: could not measure; ``inconclusive``: too little to judge."""


@dataclass(frozen=True, kw_only=True)
class Subject:
    """What a step analyses: this candidate, against this baseline, reached at this URL."""

    service: ServicePlan
    candidate: str
    baseline: str
    url: str
    audience: str
    percent: int
    project: str = ""
    region: str = ""
    metrics: MetricAnalysis | None = None
    """The limits real traffic is judged by at this step; None: no metric analysis."""
    load: PerformanceGate | None = None
    """The load test this step runs (the performance gate); None: none."""
    baseline_url: str = ""
    """The stable revision's own (tag) URL, for a comparison under load."""


class Measurement(Protocol):
    """One observation of a candidate by one provider."""

    @property
    def phase(self) -> Phase:
        """Successful, failed, or error (could not measure)."""
        ...

    @property
    def at(self) -> float:
        """When the measurement started (``time.monotonic``), for time to rollback."""
        ...

    def describe(self) -> str:
        """The evidence, in a line: what was seen."""
        ...

    def failures(self) -> list[str]:
        """Why it failed or could not measure; empty when successful."""
        ...


class MetricProvider(Protocol):
    """A source of measurements of a candidate (Flagger's metric provider, Argo's metric)."""

    @property
    def name(self) -> str:
        """A short name for reports (``http``, ``cloud-monitoring``...)."""
        ...

    async def is_online(self) -> bool:
        """Whether the provider can measure at all; asked once per analysed step."""
        ...

    def applies(self, subject: Subject) -> bool:
        """Whether this provider measures ``subject`` at all (metrics need traffic)."""
        ...

    async def measure(self, subject: Subject, since: float) -> Measurement:
        """Observe ``subject`` once; ``since`` (``time.time``) is when the step's window opened."""
        ...


@dataclass(frozen=True, kw_only=True)
class Unmeasured:
    """A measurement that could not be taken (phase ``error``), and why."""

    provider: str
    at: float
    reason: str

    @property
    def phase(self) -> Phase:
        """Always ``error``."""
        return "error"

    def describe(self) -> str:
        """``<provider> could not measure: <reason>``."""
        return f"{self.provider} could not measure: {self.reason}"

    def failures(self) -> list[str]:
        """The one reason."""
        return [self.describe()]
