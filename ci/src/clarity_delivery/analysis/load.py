"""The performance gate: a bounded load test of the candidate against stable, before traffic.

:class:`LoadComparison` is a :class:`~.providers.MetricProvider` for the step that runs it (a
``performance`` step, before the candidate takes traffic). It sends the service's request mix
(its health checks and business transactions, in turn) to the candidate's tag URL and the
stable revision's tag URL **alternately**: each request goes to both, in alternating order, so
both revisions see the same requests under the same conditions. The load is open-loop: request
*k* is due ``k / rate`` seconds after the start and its latency is counted from that moment, so
a revision that stalls pays for the requests queued behind it (no coordinated omission); at
most ``max_in_flight`` requests are outstanding. It is bounded by ``duration * rate`` requests
and stops by itself; one warm-up round of the mix per revision is not counted.

The percentiles are exact (nearest rank over every latency): a bounded load test keeps a few
thousand numbers at most, which no histogram needs to summarise; an HDR histogram
(``hdrhistogram``) would add only approximation, and two runtime dependencies (``pbr``,
``setuptools``) to the deploy image. Load-testing tools do not fit either: Locust patches the
standard library with gevent (our event loop is anyio's), and k6 or vegeta are binaries
outside the Python toolchain. :func:`judge_load` (pure) decides.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import httpx

from .._auth import IdTokenSource
from .._tls import tls_context
from ..ledger import percentile
from ..settings import HealthCheck, PerformanceGate, TransactionCheck
from .providers import Measurement, Phase, Subject, Unmeasured
from .transactions import transaction_for

__all__ = ["LoadComparison", "LoadMeasurement", "LoadStats", "judge_load", "load_evidence"]


@dataclass
class LoadStats:
    """One revision's answers in a load test: latencies in ms, and how many were wrong."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def requests(self) -> int:
        """Requests answered (or failed), warm-up excluded."""
        return len(self.latencies_ms)

    @property
    def error_ratio(self) -> float:
        """Wrong answers (status, shape, no answer) over requests."""
        return self.errors / self.requests if self.requests else 0.0

    def latency_ms(self, q: float) -> float | None:
        """The exact (nearest-rank) percentile ``q`` of the latencies; None without requests."""
        return percentile(self.latencies_ms, q)

    def describe(self) -> str:
        """``300 req, 0.0% errors, p95 14 ms``."""
        p95 = self.latency_ms(95)
        tail = f", p95 {p95:.0f} ms" if p95 is not None else ""
        return f"{self.requests} req, {self.error_ratio:.1%} errors{tail}"


@dataclass(frozen=True, kw_only=True)
class LoadMeasurement:
    """A whole load test: both revisions' figures and their judgement."""

    at: float
    duration_seconds: float
    candidate: LoadStats
    baseline: LoadStats
    phase: Phase
    reasons: tuple[str, ...] = ()

    def describe(self) -> str:
        """``load test 30.0s: candidate ...; stable ...``."""
        return (
            f"load test {self.duration_seconds:.1f}s: candidate {self.candidate.describe()}; "
            f"stable {self.baseline.describe()}"
        )

    def failures(self) -> list[str]:
        """What the candidate did worse than stable (none unless failed)."""
        return list(self.reasons) if self.phase != "successful" else []


def judge_load(
    candidate: LoadStats, baseline: LoadStats, gate: PerformanceGate
) -> tuple[Phase, tuple[str, ...]]:
    """Failed when the candidate's error ratio or p95 is worse than stable's by more than the
    tolerance plus the noise floor; error when either revision has too few answers."""
    short = [
        f"{name} answered {stats.requests} requests, fewer than {gate.min_requests}"
        for name, stats in (("candidate", candidate), ("stable", baseline))
        if stats.requests < gate.min_requests
    ]
    if short:
        return "error", (f"load test too small to judge: {'; '.join(short)}",)
    reasons = []
    factor = 1 + gate.relative_tolerance
    allowed = baseline.error_ratio * factor + gate.noise_error_ratio
    if candidate.error_ratio > allowed:
        reasons.append(
            f"load test error ratio {candidate.error_ratio:.2%} vs stable "
            f"{baseline.error_ratio:.2%} (allowed {allowed:.2%})"
        )
    ours, theirs = candidate.latency_ms(95), baseline.latency_ms(95)
    if ours is not None and theirs is not None:
        allowed_ms = theirs * factor + gate.noise_latency_ms
        if ours > allowed_ms:
            reasons.append(
                f"load test p95 {ours:.0f} ms vs stable {theirs:.0f} ms (allowed {allowed_ms:.0f} ms)"
            )
    return ("failed" if reasons else "successful"), tuple(reasons)


def load_evidence(measurements: Sequence[Measurement]) -> LoadMeasurement | None:
    """The load test among a step's measurements (alone or inside rounds), if any."""
    for m in measurements:
        inner: Sequence[Measurement] = getattr(m, "measurements", (m,))
        for x in inner:
            if isinstance(x, LoadMeasurement):
                return x
    return None


Check = HealthCheck | TransactionCheck


class LoadComparison:
    """Candidate against stable under the same bounded load (the performance gate)."""

    name = "load-test"

    def __init__(
        self,
        tokens: IdTokenSource,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        wait: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        """``wait``: a rollout's heartbeat (:class:`~..lease.Heartbeat`), run beside the load
        for as long as it lasts so that the rollout's lease is renewed meanwhile, without
        delaying any request of the load (``sleep`` paces those)."""
        self._tokens = tokens
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._wait = wait

    async def is_online(self) -> bool:
        """Always: the revisions' own URLs are what is measured."""
        return True

    def applies(self, subject: Subject) -> bool:
        """The step that runs the performance gate, before the candidate takes traffic."""
        return subject.load is not None and subject.percent == 0

    async def measure(self, subject: Subject, since: float) -> LoadMeasurement | Unmeasured:  # noqa: ARG002 - the load is its own window
        """Run the load test once and judge it."""
        gate = subject.load
        started = self._clock()
        mix: list[Check] = [*subject.service.checks, *subject.service.transactions]
        if gate is None or not mix or not subject.baseline_url:
            why = "no stable URL to compare with" if mix else "the service has no checks to send"
            return Unmeasured(provider=self.name, at=started, reason=why)
        token = await anyio.to_thread.run_sync(self._tokens.token, subject.audience)
        candidate, baseline = LoadStats(), LoadStats()
        urls = (subject.url, subject.baseline_url)
        async with httpx.AsyncClient(
            transport=self._transport,
            headers={"Authorization": f"Bearer {token}"},
            follow_redirects=False,
            verify=tls_context(),
            limits=httpx.Limits(max_connections=gate.max_in_flight),
        ) as client:
            for check in mix:  # warm-up, not counted
                for url in urls:
                    await _send(client, url, check)
            limiter = anyio.Semaphore(gate.max_in_flight)
            began = self._clock()

            async def one(k: int, check: Check, url: str, stats: LoadStats) -> None:
                due = began + k / gate.rate_per_second
                async with limiter:
                    ok = await _send(client, url, check)
                stats.latencies_ms.append((self._clock() - due) * 1000)
                stats.errors += 0 if ok else 1

            sides = ((urls[0], candidate), (urls[1], baseline))
            checks = itertools.cycle(mix)
            async with anyio.create_task_group() as beside:
                if self._wait is not None:
                    beside.start_soon(_keep_waiting, self._wait, gate.duration_seconds)
                async with anyio.create_task_group() as tg:
                    for pair in range(gate.requests // 2):
                        check = next(checks)
                        # The same request to both, candidate first in every other pair.
                        order = sides if pair % 2 == 0 else sides[::-1]
                        for n, (url, stats) in enumerate(order):
                            k = 2 * pair + n
                            wait = began + k / gate.rate_per_second - self._clock()
                            if wait > 0:
                                await self._sleep(wait)
                            tg.start_soon(one, k, check, url, stats)
                beside.cancel_scope.cancel()
        phase, reasons = judge_load(candidate, baseline, gate)
        return LoadMeasurement(
            at=started,
            duration_seconds=self._clock() - started,
            candidate=candidate,
            baseline=baseline,
            phase=phase,
            reasons=reasons,
        )


async def _keep_waiting(wait: Callable[[float], Awaitable[None]], seconds: float) -> None:
    """``wait`` over and over until cancelled (when the load is over)."""
    while True:
        await wait(max(seconds, 1.0))


async def _send(client: httpx.AsyncClient, base_url: str, check: Check) -> bool:
    """One request of the mix: whether its answer is what the check expects."""
    url = base_url.rstrip("/") + check.path
    try:
        if isinstance(check, HealthCheck):
            response = await client.get(url, timeout=check.timeout_seconds)
            return response.status_code == check.expected_status
        transaction = transaction_for(check)
        response = await client.post(url, json=transaction.body, timeout=check.timeout_seconds)
        try:
            answer: object = response.json()
        except ValueError:
            answer = None
        return transaction.problem(check.kind, response.status_code, answer) is None
    except httpx.HTTPError:
        return False
