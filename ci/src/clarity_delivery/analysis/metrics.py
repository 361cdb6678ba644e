"""Metric analysis of real traffic: Cloud Run's request metrics of candidate and stable.

:class:`RequestMetrics` is a :class:`~.providers.MetricProvider`. At every round of a step in
which the candidate takes traffic, it reads the look-back window
``[now - delay - window, now - delay]`` (the most recent traffic Cloud Monitoring has had time
to ingest) for the candidate and, over the same window, the stable revision, and returns a
:class:`MetricsMeasurement` judged by :func:`~.limits.judge`. A window with too few candidate
requests is *inconclusive*: it neither passes nor fails a round, and the step's gate
(:mod:`.verdict`) waits for a conclusive one. Monitoring that cannot be read is *unmeasured*.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .._errors import DeployError
from .limits import Judgement, RevisionStats, judge
from .monitoring import MonitoringApi
from .providers import Phase, Subject, Unmeasured

__all__ = ["MetricsMeasurement", "RequestMetrics"]


@dataclass(frozen=True, kw_only=True)
class MetricsMeasurement:
    """One window of candidate and stable traffic, and its judgement."""

    at: float
    start: float
    """The window, in ``time.time()`` seconds: ``(start, end]``."""
    end: float
    candidate: RevisionStats
    baseline: RevisionStats
    judgement: Judgement

    @property
    def phase(self) -> Phase:
        """Successful, failed, or inconclusive (too few requests)."""
        return self.judgement.phase

    def describe(self) -> str:
        """``metrics 12:00:01-12:01:01: candidate 412 req, ...; stable ...``."""
        span = f"{_clock(self.start)}-{_clock(self.end)}"
        text = f"metrics {span}: candidate {self.candidate.describe()}; stable {self.baseline.describe()}"
        if self.phase == "inconclusive":
            text += f" ({'; '.join(self.judgement.reasons)})"
        return text

    def failures(self) -> list[str]:
        """The limits the candidate broke (none unless failed)."""
        return list(self.judgement.reasons) if self.phase == "failed" else []


class RequestMetrics:
    """Cloud Run's request metrics from Cloud Monitoring, candidate against stable."""

    name = "cloud-monitoring"

    def __init__(self, api: MonitoringApi, *, clock: Callable[[], float] = time.time) -> None:
        self._api = api
        self._clock = clock

    async def is_online(self) -> bool:
        """Access was checked before the rollout started; a failing read is unmeasured."""
        return True

    def applies(self, subject: Subject) -> bool:
        """Only steps in which the candidate takes traffic, when the settings ask for it."""
        return subject.metrics is not None and subject.percent > 0

    async def measure(self, subject: Subject, since: float) -> MetricsMeasurement | Unmeasured:
        """Read the look-back window of candidate and stable, and judge it.

        Stable is compared with only in windows that began after the step (``since``): a
        window across a traffic shift holds the two revisions under different loads.
        """
        limits = subject.metrics
        started = time.monotonic()
        if limits is None:
            return Unmeasured(provider=self.name, at=started, reason="no metric analysis settings")
        end = self._clock() - limits.delay_seconds
        start = end - limits.window_seconds
        try:
            stats = await self._api.window(
                project=subject.project,
                location=subject.region,
                service=subject.service.name,
                revisions=(subject.candidate, subject.baseline),
                start=start,
                end=end,
            )
        except DeployError as exc:
            return Unmeasured(provider=self.name, at=started, reason=exc.message)
        candidate, baseline = stats[subject.candidate], stats[subject.baseline]
        return MetricsMeasurement(
            at=started,
            start=start,
            end=end,
            candidate=candidate,
            baseline=baseline,
            judgement=judge(candidate, baseline, limits, comparable=start >= since),
        )


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(seconds))
