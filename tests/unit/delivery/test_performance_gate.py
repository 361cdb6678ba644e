"""The performance gate: its settings, the pure judgement, and the load test itself over an
httpx transport (candidate and stable answered by one handler, told apart by URL)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import anyio
import httpx
import pytest
from clarity_delivery._analysis_settings import PerformanceGate, parse_performance_gate
from clarity_delivery._errors import ConfigError
from clarity_delivery.analysis import (
    LoadComparison,
    LoadMeasurement,
    LoadStats,
    Subject,
    judge_load,
)
from clarity_delivery.analysis.verdict import Round, Window, assess
from clarity_delivery.lease import Heartbeat
from clarity_delivery.plan import ServicePlan
from clarity_delivery.settings import HealthCheck, RolloutPolicy, TransactionCheck, load_settings

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
GATE = PerformanceGate(
    duration_seconds=0.5,
    rate_per_second=240,
    min_requests=50,
    max_in_flight=16,
    relative_tolerance=0.25,
    noise_error_ratio=0.005,
    noise_latency_ms=5,
)
CANDIDATE, STABLE = "http://candidate.test", "http://stable.test"
SERVICE = ServicePlan(
    key="ml-service",
    name="clarity-ml-service",
    image="x:1",
    revision="clarity-ml-service-1-0-0",
    checks=(HealthCheck(service="ml-service", path="/health"),),
    transactions=(
        TransactionCheck(service="ml-service", kind="analyze-fixed-payload", path="/v1/analyze"),
    ),
)


def _stats(latencies: list[float], errors: int = 0) -> LoadStats:
    return LoadStats(latencies_ms=latencies, errors=errors)


def test_settings_of_the_gate() -> None:
    assert parse_performance_gate(None, "s") is None
    assert parse_performance_gate({"enabled": False}, "s") is None
    gate = parse_performance_gate({"enabled": True}, "s")
    assert gate is not None
    assert (gate.duration_seconds, gate.rate_per_second, gate.requests) == (30, 20, 600)
    for bad, message in (
        ({"enabled": True, "duration": 3}, "unknown key"),
        ({"enabled": True, "rate_per_second": 0}, "greater than 0"),
        ({"enabled": True, "duration_seconds": 5, "min_requests": 100}, "fewer than min_requests"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_performance_gate(bad, "s")
    staging = load_settings("staging", REPO / "terraform" / "environments")
    assert staging.rollout.performance is not None
    assert load_settings("prod", REPO / "terraform" / "environments").rollout.performance is None


def test_judgement_against_stable() -> None:
    fast = [10.0] * 100
    assert judge_load(_stats(fast), _stats(fast), GATE) == ("successful", ())
    # p95 within 25 % + 5 ms of stable's passes; beyond fails.
    assert judge_load(_stats([17.0] * 100), _stats(fast), GATE)[0] == "successful"
    phase, reasons = judge_load(_stats([18.0] * 100), _stats(fast), GATE)
    assert phase == "failed"
    assert reasons == ("load test p95 18 ms vs stable 10 ms (allowed 18 ms)",)
    phase, reasons = judge_load(_stats(fast, errors=3), _stats(fast, errors=1), GATE)
    assert phase == "failed"
    assert "load test error ratio 3.00% vs stable 1.00%" in reasons[0]
    phase, reasons = judge_load(_stats(fast[:10]), _stats(fast), GATE)
    assert phase == "error"
    assert "candidate answered 10 requests, fewer than 50" in reasons[0]


def test_a_failed_or_unmeasured_load_test_decides_its_step_at_once() -> None:
    policy = RolloutPolicy(
        strategy="canary", steps=(100,), analysis_interval_seconds=0, probes_per_step=3,
        failure_threshold=2, ready_timeout_seconds=10, require_approval=False,
    )  # fmt: skip
    window = Window(policy=policy, mode="performance")
    slow = LoadMeasurement(
        at=0, duration_seconds=1, candidate=_stats([50.0]), baseline=_stats([5.0]),
        phase="failed", reasons=("slow",),
    )  # fmt: skip
    ok = LoadMeasurement(
        at=0, duration_seconds=1, candidate=_stats([5.0]), baseline=_stats([5.0]),
        phase="successful",
    )  # fmt: skip
    assert assess([Round((slow,))], window).phase == "failed"
    assert assess([Round((slow,))], window).decided_by == "load test"
    verdict = assess([Round((ok,))], window)
    assert (verdict.phase, verdict.decided_by) == ("passed", "load test")


class StaticTokens:
    def token(self, audience: str) -> str:
        return "id-token-for-" + audience


def _transport(candidate_delay: float, seen: Counter[tuple[str, str]]) -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        seen[(host, request.url.path)] += 1
        assert request.headers["Authorization"] == "Bearer id-token-for-aud"
        if host == "candidate.test":
            await anyio.sleep(candidate_delay)
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        body = json.loads(request.content)
        day = {"date": "2026-01-05", "steps": 2000}
        return httpx.Response(
            200,
            json={
                "user_id": body["user_id"], "method": "rules",
                "sample_count": len(body["samples"]), "days": [day], "averages": {}, "flags": [],
            },
        )  # fmt: skip

    return httpx.MockTransport(handler)


async def _measure(
    candidate_delay: float, seen: Counter[tuple[str, str]], heartbeat: Heartbeat | None = None
) -> LoadMeasurement:
    provider = LoadComparison(
        StaticTokens(),
        transport=_transport(candidate_delay, seen),
        wait=heartbeat.sleep if heartbeat is not None else None,
    )
    # Latency is measured on the wall clock from each request's due time, so a loaded CI
    # machine adds scheduling jitter to both sides: a noise floor of 40 ms keeps the healthy
    # run's verdict about the code, and the slow candidate's 400 ms is well above it.
    gate = dataclasses.replace(GATE, noise_latency_ms=40)
    subject = Subject(
        service=SERVICE, candidate="c", baseline="s", url=CANDIDATE, audience="aud",
        percent=0, load=gate, baseline_url=STABLE,
    )  # fmt: skip
    assert provider.applies(subject)
    measured = await provider.measure(subject, 0.0)
    assert isinstance(measured, LoadMeasurement)
    return measured


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_same_mix_reaches_both_alternately_and_a_slow_candidate_fails(
    anyio_backend: str,
) -> None:
    seen: Counter[tuple[str, str]] = Counter()
    healthy = await _measure(0.0, seen)
    assert healthy.phase == "successful", healthy.describe()
    # 120 requests: 60 to each revision, half health, half the transaction (+ the warm-up).
    assert healthy.candidate.requests == healthy.baseline.requests == 60
    assert seen == {
        ("candidate.test", "/health"): 31, ("candidate.test", "/v1/analyze"): 31,
        ("stable.test", "/health"): 31, ("stable.test", "/v1/analyze"): 31,
    }  # fmt: skip
    slow = await _measure(0.4, Counter())
    assert slow.phase == "failed"
    assert "load test p95" in slow.failures()[0]
    # The candidate's p95 carries its 400 ms and stands above stable's. Stable's own p95 is
    # not bounded here: both sides are timed from each request's due time, so on a loaded
    # machine the queue behind the slow candidate's requests reaches stable's too (181 ms in
    # one full run of the suite).
    candidate, stable = slow.candidate.latency_ms(95) or 0, slow.baseline.latency_ms(95) or 0
    assert candidate >= 400
    assert candidate > stable


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_lease_is_renewed_while_the_load_runs_without_slowing_it(
    anyio_backend: str,
) -> None:
    """A load test lasts ``duration_seconds`` (a minute in staging), as long as a lease: the
    rollout's heartbeat runs beside it, renewing the lease whenever it falls due, while the
    requests keep their schedule; it stops with the load."""
    renewals: list[float] = []

    class Hold:
        def due_in(self) -> float:
            return 0.1 - (anyio.current_time() - renewals[-1]) if renewals else 0.0

        async def renew(self) -> None:
            renewals.append(anyio.current_time())
            await anyio.sleep(0.2)  # a lease write takes an operation: the load does not wait

    heartbeat = Heartbeat()
    with heartbeat.keeping(Hold()):
        measured = await _measure(0.0, Counter(), heartbeat)
        after = len(renewals)
        await anyio.sleep(0.3)
    assert measured.phase == "successful", measured.describe()
    assert measured.candidate.requests == measured.baseline.requests == 60
    assert after >= 2  # 0.5 s of load, a renewal due every 0.1 s, each taking 0.2 s
    assert len(renewals) == after  # nothing renews once the load is over
