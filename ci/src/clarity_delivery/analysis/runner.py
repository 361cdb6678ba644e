"""The one call a rollout step makes: analyse this candidate against this baseline for this window.

:class:`AnalysisRunner` takes measurement rounds from the providers that apply to the step
(metrics only where the candidate takes traffic) at the window's interval until
:func:`~.verdict.assess` decides, reports every round and the decision, and returns the
:class:`~.verdict.Verdict` with its evidence. It waits through an injected ``sleep``, reads the
time through an injected ``clock``, and acts on nothing: what a failed verdict means is the
rollout engine's decision.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence

import anyio

from ..progress import Reporter
from .providers import Measurement, MetricProvider, Subject, Unmeasured
from .verdict import Analysis, Round, Verdict, Window

__all__ = ["AnalysisRunner", "report_round"]


class AnalysisRunner:
    """Runs a step's analysis over every provider that applies, round by round."""

    def __init__(
        self,
        providers: Sequence[MetricProvider],
        reporter: Reporter,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not providers:
            msg = "analysis needs at least one provider"
            raise ValueError(msg)
        self._providers = tuple(providers)
        self._report = reporter
        self._sleep = sleep
        self._clock = clock

    async def analyse(self, subject: Subject, window: Window) -> Verdict:
        """Measure ``subject`` round by round until the window's verdict is known."""
        since = self._clock()
        window = dataclasses.replace(window, opened=since)
        providers = [p for p in self._providers if p.applies(subject)]
        online = [await p.is_online() for p in providers]
        analysis = Analysis(window)
        while not analysis.done:
            if analysis.rounds:
                await self._sleep(window.interval)
            measurement = await self._round(subject, since, providers, online)
            analysis.record(measurement, now=self._clock())
            report_round(
                self._report,
                measurement,
                service=subject.service.key,
                percent=subject.percent,
                n=len(analysis.rounds),
                of=window.rounds,
                extra="baking" if window.mode == "bake" else "waiting for metrics",
            )
        verdict = analysis.verdict
        _report_decision(self._report, verdict, subject, window)
        return verdict

    async def _round(
        self,
        subject: Subject,
        since: float,
        providers: Sequence[MetricProvider],
        online: list[bool],
    ) -> Measurement:
        taken: list[Measurement] = []
        for provider, up in zip(providers, online, strict=True):
            if up:
                taken.append(await provider.measure(subject, since))
            else:
                taken.append(
                    Unmeasured(provider=provider.name, at=time.monotonic(), reason="offline")
                )
        return taken[0] if len(taken) == 1 else Round(tuple(taken))


def report_round(
    reporter: Reporter,
    measurement: Measurement,
    *,
    service: str,
    percent: int,
    n: int,
    of: int,
    extra: str = "extended",
) -> None:
    """One progress event per round: healthy, failed, inconclusive, or not measured."""
    reasons = "; ".join(measurement.failures())
    kind, outcome = {
        "successful": ("probe", f"healthy ({measurement.describe()})"),
        "inconclusive": ("probe", f"inconclusive ({measurement.describe()})"),
        "failed": ("probe-failed", f"failed: {reasons}"),
        "error": ("unmeasured", f"could not be measured: {reasons}"),
    }[measurement.phase]
    count = f"{n}/{of}" if n <= of else f"{n} ({extra})"
    reporter.event(
        kind,
        f"{service} @{percent}%: round {count} {outcome}",
        service=service,
        percent=percent,
        ok=measurement.phase in ("successful", "inconclusive"),
    )


def _report_decision(
    reporter: Reporter, verdict: Verdict, subject: Subject, window: Window
) -> None:
    """The step's outcome in one line: what decided it, with the metrics figures."""
    evidence = verdict.metric_evidence()
    figures = {}
    if evidence is not None:
        figures = {
            "candidate": evidence.candidate.describe(),
            "stable": evidence.baseline.describe(),
        }
    if verdict.decided_by == "probes (too few requests)" and window.gate is not None:
        waited = window.gate.step_limit_seconds
        how = (
            f"decided by probes: too few requests for metric analysis after {waited:g}s "
            f"(fewer than {window.gate.min_requests} candidate requests per window)"
        )
    elif verdict.decided_by == "metrics" and evidence is not None:
        how = f"decided by metrics: candidate {figures['candidate']}; stable {figures['stable']}"
    elif verdict.decided_by is not None:
        how = f"decided by {verdict.decided_by}"
    else:
        how = "could not be measured"
    reporter.event(
        "analysis",
        f"{subject.service.key} @{subject.percent}%: {verdict.phase}, {how}",
        service=subject.service.key,
        percent=subject.percent,
        phase=verdict.phase,
        decided_by=verdict.decided_by,
        **figures,
    )
