"""The staging performance gate against the Cloud Run double with real revision processes.

Per run (``BENCH_RUNS``, default 5): a healthy release of both services, whose gate sends each
service's health checks and business transaction to the candidate's and stable's tag URLs
alternately, and a release of the ML service with ``CLARITY_FAULT=latency=100``, which the gate
must fail before the candidate takes traffic. Prints, per case and service, the gate step's
duration, the requests each revision answered and the p95 of candidate and stable (medians
over the runs), from the records the rollouts wrote.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from tests.delivery.stage import SERVICES, Stage, open_stage
from tests.doubles.oauth import TokenEndpoint
from tests.support.emulators import start_emulators

LATENCY_MS = 100
GATE: dict[str, Any] = {
    "enabled": True,
    # 10 requests a second per revision: what one local revision process serves without a
    # queue on the 2-core machines (at 40 the gateway's queue alone makes p95 2.4 s, both sides).
    "duration_seconds": 8,
    "rate_per_second": 20,
    "min_requests": 60,
    "max_in_flight": 16,
    "relative_tolerance": 0.25,
    "noise_floor": {"error_ratio": 0.005, "latency_ms": 25},
}


def _gate_steps(stage: Stage) -> dict[str, dict[str, Any]]:
    """The last record's performance step per service."""
    record = stage.records()[-1]
    return {s["service"]: s for s in record["steps"] if s["kind"] == "performance"}


def _row(case: str, service: str, steps: list[dict[str, Any]], outcome: str) -> str:
    def median(key: str, side: str = "") -> float:
        values = [float(s[side][key] if side else s[key]) for s in steps]
        return statistics.median(values)

    return (
        f"| {case} | {service} | {len(steps)} | {median('duration_seconds'):.1f} s "
        f"| {median('requests', 'candidate'):.0f} / {median('requests', 'stable'):.0f} "
        f"| {median('p95_ms', 'candidate'):.0f} ms | {median('p95_ms', 'stable'):.0f} ms | {outcome} |"
    )


def run(runs: int) -> tuple[list[str], bool]:
    """Measure; return the table rows and whether every gate decided as it should."""
    healthy: dict[str, list[dict[str, Any]]] = {key: [] for key in SERVICES}
    slow: list[dict[str, Any]] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        work = Path(tmp)
        endpoint = TokenEndpoint().start()
        try:
            with (
                start_emulators(work / "emulators") as emulators,
                open_stage(
                    work / "stage",
                    endpoint,
                    emulators,
                    analysis_interval_seconds=0.2,
                    steps=[100],
                    performance_gate=GATE,
                ) as stage,
            ):
                for n in range(runs):
                    if stage.deploy(f"1.{n}.0") != 0:
                        msg = f"healthy release 1.{n}.0 failed the gate; see {stage.ledger}"
                        raise SystemExit(msg)
                    for key, step in _gate_steps(stage).items():
                        healthy[key].append(step)
                    code = stage.deploy(
                        f"1.{n}.1",
                        faults={"ml-service": f"latency={LATENCY_MS}"},
                        extra=("--service", "ml-service"),
                    )
                    failed = _gate_steps(stage).get("ml-service")
                    if code != 1 or failed is None or failed["decided_by"] != "load test":
                        ok = False
                    if failed is not None:
                        slow.append(failed)
        finally:
            endpoint.stop()
    rows = [
        "| case | service | runs | gate duration | requests (candidate / stable) "
        "| p95 candidate | p95 stable | outcome |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows += [_row("healthy candidate", key, steps, "passed") for key, steps in healthy.items()]
    rows.append(
        _row(
            f"latency={LATENCY_MS} ms",
            "ml-service",
            slow,
            "failed, no traffic moved" if ok else "MISSED",
        )
    )
    rows.append(
        f"\ngate: {GATE['duration_seconds']} s at {GATE['rate_per_second']} req/s, candidate and "
        f"stable alternately (health checks and the business transaction), fail at p95 or error "
        f"ratio > stable × {1 + GATE['relative_tolerance']:g} + {GATE['noise_floor']['latency_ms']} ms "
        f"/ + {GATE['noise_floor']['error_ratio']:.1%}; medians over the runs"
    )
    return rows, ok


def main() -> int:
    """Entry point for ``python -m benchmarks bench_performance_gate``."""
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    if runs < 1:
        msg = f"BENCH_RUNS must be at least 1, not {runs}"
        raise SystemExit(msg)
    progress = io.StringIO()  # the rollouts' own progress lines; shown only if a run fails
    try:
        with contextlib.redirect_stdout(progress), contextlib.redirect_stderr(progress):
            rows, ok = run(runs)
    except SystemExit:
        print("\n".join(progress.getvalue().splitlines()[-40:]))
        raise
    print("\n".join(rows))
    print(json.dumps({"targets_met": ok}))
    return 0 if ok else 1
