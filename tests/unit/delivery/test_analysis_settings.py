"""The analysis keys of settings.json, and what the environments' values amount to in seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clarity_delivery import ConfigError, build_plan, load_settings, parse_settings
from clarity_delivery.settings import LatencyLimits, MetricAnalysis, RolloutPolicy, TransactionCheck

from tests.unit.delivery.images import pinned

pytestmark = pytest.mark.unit

SETTINGS = Path(__file__).resolve().parents[3] / "terraform" / "environments"


def _parse(env: str = "prod", **rollout: Any) -> Any:
    data = json.loads((SETTINGS / env / "settings.json").read_text())
    data["rollout"].update(rollout)
    return parse_settings(json.dumps(data), env, where="settings.json")


def _metrics(**changes: Any) -> dict[str, Any]:
    data = json.loads((SETTINGS / "prod" / "settings.json").read_text())
    metric: dict[str, Any] = data["rollout"]["metric_analysis"]
    metric.update(changes)
    return metric


def test_prod_and_staging_analyse_real_traffic_and_bake() -> None:
    prod = load_settings("prod", SETTINGS).rollout
    assert prod.metrics == MetricAnalysis(
        window_seconds=60,
        delay_seconds=180,
        min_requests=100,
        max_extensions=1,
        max_error_ratio=0.01,
        max_latency_ms=LatencyLimits(p50=500, p95=1500, p99=3000),
        relative_tolerance=0.5,
        noise_error_ratio=0.005,
        noise_latency_ms=50,
    )
    assert prod.bake_seconds == 300
    staging = load_settings("staging", SETTINGS).rollout
    assert staging.metrics is not None
    assert (staging.metrics.delay_seconds, staging.metrics.max_extensions) == (120, 0)
    assert staging.bake_seconds == 120
    dev = load_settings("dev", SETTINGS).rollout
    assert (dev.metrics, dev.bake_seconds) == (None, 0)


def test_worst_case_from_fault_onset_to_rollback_decision() -> None:
    """The figures the README quotes: window + delay + failure_threshold x interval."""
    prod = load_settings("prod", SETTINGS).rollout
    staging = load_settings("staging", SETTINGS).rollout
    assert prod.worst_case_detection_seconds == 60 + 180 + 2 * 30 == 300
    assert staging.worst_case_detection_seconds == 60 + 120 + 2 * 30 == 240
    # Probes alone see only what the probes see, after failure_threshold rounds.
    dev = load_settings("dev", SETTINGS).rollout
    assert dev.worst_case_detection_seconds == 2 * 10


def test_step_durations_and_a_lease_that_does_not_grow_with_them() -> None:
    prod = load_settings("prod", SETTINGS).rollout
    assert prod.metrics is not None
    assert prod.metrics.first_verdict_seconds == 240  # a window of the step's own traffic
    assert prod.metrics.step_limit_seconds == 60 * 2 + 180  # then the probes decide
    # A step lasts minutes, the bake 300 s of traffic read 180 s late; the lease stays a
    # minute, renewed by every wait (tests/delivery/test_failures.py: a lease renewed during
    # a long analysis), so a dead deployer holds production for a minute, not for 27.
    assert prod.lease_seconds == 60
    assert prod.lease_seconds < prod.metrics.first_verdict_seconds < prod.bake_seconds
    # Only the write that creates the candidate (no renewal while Cloud Run makes it Ready,
    # and no traffic on it yet) holds for the ready timeout as well.
    assert prod.creation_lease_seconds == 300 + 60
    no_analysis = RolloutPolicy(
        strategy="canary",
        steps=(100,),
        analysis_interval_seconds=10,
        probes_per_step=3,
        failure_threshold=2,
        ready_timeout_seconds=300,
        require_approval=False,
    )
    assert no_analysis.lease_seconds == prod.lease_seconds


def test_transactions_are_declared_beside_the_health_checks() -> None:
    settings = load_settings("staging", SETTINGS)
    assert settings.transactions_for("api-gateway") == (
        TransactionCheck(
            service="api-gateway",
            kind="ingest-synthetic-batch",
            path="/v1/healthkit/samples",
            timeout_seconds=10,
        ),
    )
    plan = build_plan(settings, version="1.0.0", images=pinned(settings))
    by_key = {s.key: s for s in plan.services}
    assert [t.kind for t in by_key["ml-service"].transactions] == ["analyze-fixed-payload"]


def test_a_strategy_override_keeps_the_analysis() -> None:
    staging = load_settings("staging", SETTINGS)
    plan = build_plan(staging, version="1.0.0", strategy="blue-green", images=pinned(staging))
    assert plan.policy.metrics == load_settings("staging", SETTINGS).rollout.metrics
    assert plan.policy.bake_seconds == 120


def test_disabled_or_absent_metric_analysis_is_none() -> None:
    assert _parse(metric_analysis={"enabled": False}).rollout.metrics is None
    assert _parse(metric_analysis=None).rollout.metrics is None


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (_metrics(window_secs=60), r"unknown key\(s\) window_secs"),
        (_metrics(enabled="yes"), "'enabled' must be true or false"),
        (_metrics(window_seconds=0), "'window_seconds' must be greater than 0"),
        (_metrics(delay_seconds=-1), "'delay_seconds' must be 0 or more"),
        (_metrics(min_requests=2.5), "'min_requests' must be a whole number"),
        (_metrics(max_error_ratio="1%"), "'max_error_ratio' must be a number"),
        (_metrics(max_error_ratio=3), "fractions between 0 and 1"),
        (_metrics(max_latency_ms={"p50": 900, "p95": 500}), "need p50 <= p95 <= p99"),
        (_metrics(noise_floor=[]), "noise_floor: expected an object"),
        ([], "expected an object"),
    ],
)
def test_bad_metric_analysis_says_what_to_fix(metric: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _parse(metric_analysis=metric)


def test_bad_bake_and_transactions_are_refused() -> None:
    with pytest.raises(ConfigError, match="bake_seconds must be 0 or more"):
        _parse(bake_seconds=-5)
    data = json.loads((SETTINGS / "prod" / "settings.json").read_text())
    for entry, message in (
        ({"service": "nope", "kind": "analyze-fixed-payload", "path": "/x"}, "unknown service"),
        ({"service": "ml-service", "kind": "smoke", "path": "/x"}, "kind must be one of"),
        ({"service": "ml-service", "kind": "analyze-fixed-payload", "path": "x"}, "must start"),
    ):
        data["transaction_checks"] = [entry]
        with pytest.raises(ConfigError, match=message):
            parse_settings(json.dumps(data), "prod", where="settings.json")
