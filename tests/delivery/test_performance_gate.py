"""The staging performance gate end to end: before the candidate takes traffic, a bounded load
test sends the same requests to its tag URL and the stable revision's, alternately, through the
double's proxies (ID tokens verified); a candidate slower than stable (``CLARITY_FAULT=
latency=MS``) fails the release with its traffic never moved, a healthy one passes. The fixture
app stands in for the backend (its health checks are the request mix), with the gate scaled to
three seconds at 30 requests a second: 90 requests, 45 to each revision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.stage import SERVICES, Stage, open_stage
from tests.doubles.oauth import TokenEndpoint
from tests.support.emulators import Emulators

pytestmark = [pytest.mark.delivery, pytest.mark.timeout(180)]

GATE: dict[str, Any] = {
    "enabled": True,
    # The load is open-loop (queueing counts), so the rate is one a loaded 2-core CI machine
    # sustains through the double's proxies with the suite's other worker busy.
    "duration_seconds": 3,
    "rate_per_second": 30,
    "min_requests": 40,
    "relative_tolerance": 0.25,
    # A loaded machine delays both revisions alike; 50 ms keeps its noise from failing a good one.
    "noise_floor": {"error_ratio": 0.005, "latency_ms": 50},
}


@pytest.fixture
def gated(tmp_path: Path, token_endpoint: TokenEndpoint, emulators: Emulators) -> Iterator[Stage]:
    with open_stage(
        tmp_path, token_endpoint, emulators, fixture_app=True, performance_gate=GATE
    ) as stage:
        yield stage


def _deploy(stage: Stage, version: str, fault: str | None = None) -> int:
    image = stage.image("ml-service", version, fault)
    images = [f"--image=ml-service={image}"]
    return stage.cli("deploy", *stage.deploy_args(version, images), "--service", "ml-service")


def test_a_slower_candidate_fails_before_traffic_and_a_healthy_one_passes(gated: Stage) -> None:
    name = SERVICES["ml-service"]
    base = gated.traffic("ml-service")
    # 400 ms: well beyond what a loaded machine adds to both sides alike, and short enough that
    # the candidate's requests (15 a second) never fill the 16 requests in flight, which would
    # make stable's requests wait for them too.
    assert _deploy(gated, "1.1.0", "latency=400") == 1
    assert gated.traffic("ml-service") == base
    slow = f"{name}-1-1-0-c0ffee1"
    assert {split.get(slow, 0) for split in gated.double.routing_history(name)} == {0}
    (record,) = gated.records()
    assert record["outcome"] == "rolled_back"
    assert "performance gate" in record["error"]
    assert "load test p95" in record["error"]
    gate_step = record["steps"][-1]
    assert (gate_step["kind"], gate_step["percent"], gate_step["decided_by"]) == (
        "performance",
        0,
        "load test",
    )
    assert gate_step["candidate"]["p95_ms"] >= 400
    assert gate_step["candidate"]["p95_ms"] > gate_step["stable"]["p95_ms"]
    assert gate_step["candidate"]["requests"] == gate_step["stable"]["requests"] == 45
    # Both revisions were reached through their own tag URLs, the same number of times.
    tagged = [r for r in gated.double.proxy_log if r.tag in {"candidate", "stable"}]
    by_tag = {tag: sum(1 for r in tagged if r.tag == tag) for tag in ("candidate", "stable")}
    assert by_tag["candidate"] >= 45
    assert by_tag["stable"] >= 45
    assert all(r.status == 200 for r in tagged)

    assert _deploy(gated, "1.2.0") == 0
    healthy = gated.records()[-1]
    gate_step = next(s for s in healthy["steps"] if s["kind"] == "performance")
    assert gate_step["decided_by"] == "load test"
    assert gate_step["failed_rounds"] == 0
    assert gated.traffic("ml-service") == {f"{name}-1-2-0-c0ffee1": 100}
