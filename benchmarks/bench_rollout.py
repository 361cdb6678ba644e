"""Rollout timings against the Cloud Run double with real revision processes.

Prints p50/p95 over ``BENCH_RUNS`` runs (default 5) of:
- automatic rollback: first failed probe → 100 % back on stable (target: failure threshold ×
  analysis interval + 5 s),
- manual rollback: wall time of ``clarity-deploy rollback --to previous`` for both services
  (target: ≤ 10 s),
- canary duration of a healthy two-service release against the configured minimum (the sleeps
  the policy imposes: analysis interval × (rounds − 1) per step, per service),
- with metric analysis (a second project; the Monitoring double ingests after
  ``INGESTION_DELAY`` s, a bounded load of 60 requests a second per service through the service
  URLs): time from fault onset (the candidate taking traffic with ``error-rate=0.05``, a fault
  no health check sees) to 100 % back on stable, against the computed worst case; and the
  canary duration of a healthy two-service release.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from clarity_delivery.ledger import percentile

from tests.delivery.stage import OPERATION_SECONDS, SERVICES, Stage, open_stage
from tests.doubles.oauth import TokenEndpoint
from tests.support.emulators import Emulators, start_emulators
from tests.support.load import Load, Target
from tests.support.samples import batch_payload, sample_payload

INTERVAL = 1.0
THRESHOLD = 2
PROBES = 3
STEPS = [25, 50, 100]
INGESTION_DELAY = 1.0  # the Monitoring double's; Cloud Monitoring's is up to minutes
METRICS: dict[str, Any] = {
    "enabled": True,
    "window_seconds": 2,
    "delay_seconds": 1.5,
    "min_requests": 30,
    "max_extensions": 1,
    "max_error_ratio": 0.01,
    "max_latency_ms": {"p50": 1000, "p95": 2000, "p99": 3000},
    "relative_tolerance": 0.5,
    "noise_floor": {"error_ratio": 0.005, "latency_ms": 50},
}


def _records(stage: Stage) -> list[dict[str, Any]]:
    return stage.records()


def _row(name: str, values: list[float], target: str, ok: bool) -> str:
    p50 = statistics.median(values)
    p95 = percentile(values, 95) or 0.0
    return f"| {name} | {len(values)} | {p50:.2f} s | {p95:.2f} s | {target} | {'met' if ok else 'MISSED'} |"


def _load(stage: Stage) -> Load:
    ml = str(stage.service("ml-service").uri)
    gateway = str(stage.service("api-gateway").uri)
    analyze = {"user_id": "bench", "samples": [sample_payload(value=2000)]}
    return Load(
        [
            Target(
                "POST", ml + "/v1/analyze", analyze, weight=5, headers=stage.bearer("ml-service")
            ),
            Target("GET", gateway + "/health", weight=4, headers=stage.bearer("api-gateway")),
            Target(
                "POST",
                gateway + "/v1/healthkit/samples",
                batch_payload,
                headers=stage.bearer("api-gateway"),
            ),
        ],
        rate=120,
        max_requests=100_000,
        max_seconds=600,
    )


def _onset_to_stable(events: list[dict[str, Any]]) -> float:
    """From the candidate taking traffic (its first split) to stable serving 100 % again."""
    moved = next(
        e["ts"] for e in events if e["kind"] == "traffic" and e.get("service") == "ml-service"
    )
    back = next(
        e["ts"] for e in events if e["kind"] == "rollback" and "serves 100% again" in e["message"]
    )
    return float(back) - float(moved)


def run_metrics(
    runs: int, work: Path, endpoint: TokenEndpoint, emulators: Emulators, progress: io.StringIO
) -> tuple[list[float], list[float]]:
    """Fault onset → stable, and healthy canary durations, with metric analysis."""
    onset: list[float] = []
    canary: list[float] = []
    with (
        open_stage(
            work / "metrics",
            endpoint,
            emulators,
            metrics_delay=INGESTION_DELAY,
            analysis_interval_seconds=INTERVAL,
            failure_threshold=THRESHOLD,
            probes_per_step=PROBES,
            steps=STEPS,
            metric_analysis=METRICS,
        ) as stage,
        _load(stage),
    ):
        for n in range(runs):
            version = f"1.{n}.0"
            if stage.deploy(version) != 0:
                msg = f"healthy release {version} failed with metric analysis; see {stage.ledger}"
                raise SystemExit(msg)
            canary.append(float(_records(stage)[-1]["duration_seconds"]))
            mark = len(progress.getvalue())
            bad = f"1.{n}.1"
            if stage.deploy(bad, faults={"ml-service": "error-rate=0.05"}) != 1:
                msg = f"release {bad} failing 5 % of requests was not rolled back"
                raise SystemExit(msg)
            lines = progress.getvalue()[mark:].splitlines()
            onset.append(_onset_to_stable([json.loads(x) for x in lines if x.startswith("{")]))
    return onset, canary


def run(runs: int, progress: io.StringIO) -> tuple[list[str], bool]:
    """Measure; return the table rows and whether every target was met."""
    auto: list[float] = []
    manual: list[float] = []
    canary: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        work = Path(tmp)
        endpoint = TokenEndpoint().start()
        try:
            with (
                start_emulators(work / "emulators") as emulators,
                open_stage(
                    work / "stage",
                    endpoint,
                    emulators,
                    analysis_interval_seconds=INTERVAL,
                    failure_threshold=THRESHOLD,
                    probes_per_step=PROBES,
                    steps=STEPS,
                ) as stage,
            ):
                for n in range(runs):
                    version = f"1.{n}.0"
                    if stage.deploy(version) != 0:
                        msg = f"healthy release {version} failed; see {stage.ledger}"
                        raise SystemExit(msg)
                    canary.append(float(_records(stage)[-1]["duration_seconds"]))
                    # fails from the second rollout step on: 1 verify + PROBES rounds pass
                    bad = f"1.{n}.1"
                    code = stage.deploy(
                        bad, faults={"ml-service": f"health-500-after={1 + PROBES}"}
                    )
                    if code != 1:
                        msg = f"broken release {bad} was not rolled back (exit {code})"
                        raise SystemExit(msg)
                    auto.append(float(_records(stage)[-1]["time_to_rollback_seconds"]))
                    started = time.monotonic()
                    if stage.cli("rollback", "--env", "dev", "--to", "previous") != 0:
                        msg = "manual rollback failed"
                        raise SystemExit(msg)
                    manual.append(time.monotonic() - started)
            with start_emulators(work / "emulators-metrics") as emulators:
                onset, metric_canary = run_metrics(runs, work, endpoint, emulators, progress)
        finally:
            endpoint.stop()
    per_service = len(STEPS) * (PROBES - 1) * INTERVAL  # the verification round needs no sleep
    minimum = per_service * len(SERVICES)
    auto_target = THRESHOLD * INTERVAL + 5
    rows = [
        "| measure | runs | p50 | p95 | target | |",
        "|---|---|---|---|---|---|",
        _row(
            "automatic rollback (first failed probe → stable)",
            auto,
            f"≤ {auto_target:.0f} s",
            (percentile(auto, 95) or 0) <= auto_target,
        ),
        _row("manual rollback, 2 services", manual, "≤ 10 s", (percentile(manual, 95) or 0) <= 10),
        _row(f"canary, 2 services, steps {STEPS}", canary, f"minimum {minimum:.0f} s", True),
    ]
    overhead = statistics.median(canary) - minimum
    rows.append(
        f"\ncanary overhead over the configured minimum: {overhead:.1f} s median "
        f"(revision start, Ready wait, {len(STEPS) + 3} API writes per service, each an "
        f"operation of {OPERATION_SECONDS:g} s on the double); analysis interval {INTERVAL:g} s, "
        f"{PROBES} rounds per step, failure threshold {THRESHOLD}"
    )
    worst = METRICS["window_seconds"] + METRICS["delay_seconds"] + THRESHOLD * INTERVAL
    onset_target = worst + 5  # plus the rounds' own time and the rollback write
    rows.insert(
        3,
        _row(
            "fault only traffic shows (5 % errors) → stable, metric analysis",
            onset,
            f"≤ {onset_target:.1f} s",
            (percentile(onset, 95) or 0) <= onset_target,
        ),
    )
    rows.insert(
        6,
        _row(f"canary, 2 services, steps {STEPS}, metric analysis", metric_canary, "-", True),
    )
    rows.append(
        f"metric analysis: {METRICS['window_seconds']} s windows read {METRICS['delay_seconds']} s "
        f"late (the double ingests after {INGESTION_DELAY:g} s), at least {METRICS['min_requests']} "
        f"requests; computed worst case fault → decision {worst:g} s; load 60 req/s per service"
    )
    ok = (
        (percentile(auto, 95) or 0) <= auto_target
        and (percentile(manual, 95) or 0) <= 10
        and (percentile(onset, 95) or 0) <= onset_target
    )
    return rows, ok


def main() -> int:
    """Entry point for ``python -m benchmarks bench_rollout``."""
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    if runs < 1:
        msg = f"BENCH_RUNS must be at least 1, not {runs}"
        raise SystemExit(msg)
    progress = io.StringIO()  # the rollouts' own progress lines; shown only if a run fails
    try:
        with contextlib.redirect_stdout(progress), contextlib.redirect_stderr(progress):
            rows, ok = run(runs, progress)
    except SystemExit:
        print("\n".join(progress.getvalue().splitlines()[-40:]))
        raise
    print("\n".join(rows))
    print(json.dumps({"targets_met": ok}))
    return 0 if ok else 1
