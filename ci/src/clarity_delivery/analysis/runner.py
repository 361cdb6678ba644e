"""The one call a rollout step makes: analyse this candidate against this baseline for this window.

:class:`AnalysisRunner` takes measurement rounds from its providers at the window's interval
until :func:`~.verdict.assess` decides, reports every round, and returns the
:class:`~.verdict.Verdict` with its evidence. It waits through an injected ``sleep`` and acts on
nothing: what a failed verdict means is the rollout engine's decision.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

import anyio

from ..progress import Reporter
from .providers import Measurement, MetricProvider, Subject, Unmeasured
from .verdict import Analysis, Round, Verdict, Window

__all__ = ["AnalysisRunner", "report_round"]


class AnalysisRunner:
    """Runs a step's analysis over every provider, round by round."""

    def __init__(
        self,
        providers: Sequence[MetricProvider],
        reporter: Reporter,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if not providers:
            msg = "analysis needs at least one provider"
            raise ValueError(msg)
        self._providers = tuple(providers)
        self._report = reporter
        self._sleep = sleep

    async def analyse(self, subject: Subject, window: Window) -> Verdict:
        """Measure ``subject`` round by round until the window's verdict is known."""
        since = time.time()
        online = [await p.is_online() for p in self._providers]
        analysis = Analysis(window)
        while not analysis.done:
            if analysis.rounds:
                await self._sleep(window.interval)
            measurement = await self._round(subject, since, online)
            analysis.record(measurement)
            report_round(
                self._report,
                measurement,
                service=subject.service.key,
                percent=subject.percent,
                n=len(analysis.rounds),
                of=window.rounds,
            )
        return analysis.verdict

    async def _round(self, subject: Subject, since: float, online: list[bool]) -> Measurement:
        taken: list[Measurement] = []
        for provider, up in zip(self._providers, online, strict=True):
            if up:
                taken.append(await provider.measure(subject, since))
            else:
                taken.append(
                    Unmeasured(provider=provider.name, at=time.monotonic(), reason="offline")
                )
        return taken[0] if len(taken) == 1 else Round(tuple(taken))


def report_round(
    reporter: Reporter, measurement: Measurement, *, service: str, percent: int, n: int, of: int
) -> None:
    """One progress event per round: healthy, failed, or not measured."""
    reasons = "; ".join(measurement.failures())
    kind, outcome = {
        "successful": ("probe", f"healthy ({measurement.describe()})"),
        "failed": ("probe-failed", f"failed: {reasons}"),
        "error": ("unmeasured", f"could not be measured: {reasons}"),
    }[measurement.phase]
    reporter.event(
        kind,
        f"{service} @{percent}%: round {n}/{of} {outcome}",
        service=service,
        percent=percent,
        ok=measurement.phase == "successful",
    )
