"""Rollout timings against the Cloud Run double with real revision processes.

Prints p50/p95 over ``BENCH_RUNS`` runs (default 5) of:
- automatic rollback: first failed probe → 100 % back on stable (target: failure threshold ×
  analysis interval + 5 s),
- manual rollback: wall time of ``clarity-deploy rollback --to previous`` for both services
  (target: ≤ 10 s),
- canary duration of a healthy two-service release against the configured minimum (the sleeps
  the policy imposes: analysis interval × (rounds − 1) per step, per service).
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
from tests.support.emulators import start_emulators

INTERVAL = 1.0
THRESHOLD = 2
PROBES = 3
STEPS = [25, 50, 100]


def _records(stage: Stage) -> list[dict[str, Any]]:
    return stage.records()


def _row(name: str, values: list[float], target: str, ok: bool) -> str:
    p50 = statistics.median(values)
    p95 = percentile(values, 95) or 0.0
    return f"| {name} | {len(values)} | {p50:.2f} s | {p95:.2f} s | {target} | {'met' if ok else 'MISSED'} |"


def run(runs: int) -> tuple[list[str], bool]:
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
    ok = (percentile(auto, 95) or 0) <= auto_target and (percentile(manual, 95) or 0) <= 10
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
            rows, ok = run(runs)
    except SystemExit:
        print("\n".join(progress.getvalue().splitlines()[-40:]))
        raise
    print("\n".join(rows))
    print(json.dumps({"targets_met": ok}))
    return 0 if ok else 1
