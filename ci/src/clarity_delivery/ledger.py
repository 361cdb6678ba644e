"""The deployment ledger: one JSON line per rollout or rollback, and the report computed from it.

Records are appended to a JSON-lines file (kept as a CI artifact or in a bucket) and a short
summary of the last rollout is also written on each Cloud Run service. The report gives, per
environment, the figures the design targets: deployment success rate (> 99 %), deploy duration
(< 10 min), time to rollback (< 2 min) and mean time to recovery (< 5 min).

Definitions:
- *success rate*: rollouts whose outcome is ``succeeded`` over all rollouts that reached Cloud
  Run (dry runs and bad-input refusals are not deployments and are not recorded).
- *deploy duration*: start to end of successful rollouts.
- *time to rollback*: from the first failed health probe to traffic back on the stable revision
  (automatic rollbacks), or the whole manual rollback command.
- *MTTR*: mean time to recovery over failed rollouts and manual rollbacks, where recovery ends
  when traffic is on a healthy revision again — the same clock as time to rollback.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._errors import ConfigError

__all__ = [
    "TARGETS",
    "DeploymentRecord",
    "EnvironmentReport",
    "Ledger",
    "Outcome",
    "RevisionFigures",
    "StepRecord",
    "build_report",
]

Outcome = Literal["succeeded", "rolled_back", "aborted", "failed", "conflict"]

TARGETS = {
    "success_rate": 0.99,
    "deploy_duration_seconds": 600.0,
    "time_to_rollback_seconds": 120.0,
    "mttr_seconds": 300.0,
}


@dataclass
class RevisionFigures:
    """One revision's real traffic in the metrics window that settled a step."""

    requests: int
    error_ratio: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None

    def describe(self) -> str:
        """``412 req, 0.2% 5xx, p95 14 ms, p99 30 ms``."""
        text = f"{self.requests} req, {self.error_ratio:.1%} 5xx"
        for name, value in (("p95", self.p95_ms), ("p99", self.p99_ms)):
            if value is not None:
                text += f", {name} {value:.0f} ms"
        return text


@dataclass
class StepRecord:
    """One traffic step (or verification, or bake) of one service."""

    service: str
    percent: int
    started_at: float
    duration_seconds: float
    rounds: int
    failed_rounds: int
    kind: str = "step"
    """``step``; ``bake`` for the analysis that holds at 100 % before 'stable';
    ``performance`` for the load test before traffic (its figures: the load test's)."""
    candidate: RevisionFigures | None = None
    """The candidate's traffic in the metrics window that settled the step (if any)."""
    stable: RevisionFigures | None = None
    """The stable revision's traffic in that same window."""
    decided_by: str | None = None
    """``metrics``, ``probes``, ``probes (too few requests)`` or ``load test``."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        """A step as :func:`dataclasses.asdict` wrote it."""
        figures = {
            key: RevisionFigures(**data[key]) if data.get(key) else None
            for key in ("candidate", "stable")
        }
        return cls(**{**data, **figures})


@dataclass
class DeploymentRecord:
    """A rollout or rollback, as appended to the ledger."""

    id: str
    kind: Literal["rollout", "rollback"]
    environment: str
    version: str
    commit: str
    services: list[str]
    strategy: str
    started_at: float
    ended_at: float = 0.0
    outcome: Outcome = "failed"
    steps: list[StepRecord] = field(default_factory=list)
    time_to_rollback_seconds: float | None = None
    error: str | None = None

    @property
    def duration_seconds(self) -> float:
        """Wall time of the whole command."""
        return max(0.0, self.ended_at - self.started_at)

    def to_json(self) -> str:
        """One JSON line."""
        data = asdict(self)
        data["duration_seconds"] = round(self.duration_seconds, 3)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> DeploymentRecord:
        """Parse one ledger line."""
        data: dict[str, Any] = json.loads(line)
        data.pop("duration_seconds", None)
        data["steps"] = [StepRecord.from_dict(s) for s in data.get("steps", [])]
        return cls(**data)


class Ledger:
    """An append-only JSON-lines file of :class:`DeploymentRecord`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: DeploymentRecord) -> None:
        """Append one record (creating the file and its folder)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(record.to_json() + "\n")

    def records(self) -> list[DeploymentRecord]:
        """Every record; a malformed line is a :class:`ConfigError` naming it."""
        if not self.path.exists():
            msg = f"no ledger at {self.path}: pass --ledger with the deployments.jsonl a rollout wrote"
            raise ConfigError(msg)
        out = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(DeploymentRecord.from_json(line))
            except (ValueError, TypeError) as exc:
                msg = f"{self.path}:{n} is not a deployment record: {exc}"
                raise ConfigError(msg) from None
        return out


@dataclass(frozen=True)
class EnvironmentReport:
    """Delivery figures of one environment."""

    environment: str
    rollouts: int
    succeeded: int
    success_rate: float | None
    deploy_p50_seconds: float | None
    deploy_p95_seconds: float | None
    rollback_p50_seconds: float | None
    rollback_p95_seconds: float | None
    mttr_seconds: float | None
    rollbacks: int

    def meets_targets(self) -> dict[str, bool | None]:
        """Each design target: met (True), missed (False) or no data (None)."""
        return {
            "success_rate": None
            if self.success_rate is None
            else self.success_rate >= TARGETS["success_rate"],
            "deploy_duration": None
            if self.deploy_p95_seconds is None
            else self.deploy_p95_seconds <= TARGETS["deploy_duration_seconds"],
            "time_to_rollback": None
            if self.rollback_p95_seconds is None
            else self.rollback_p95_seconds <= TARGETS["time_to_rollback_seconds"],
            "mttr": None
            if self.mttr_seconds is None
            else self.mttr_seconds <= TARGETS["mttr_seconds"],
        }


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no data."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def build_report(records: Iterable[DeploymentRecord]) -> list[EnvironmentReport]:
    """Figures per environment, in environment name order."""
    by_env: dict[str, list[DeploymentRecord]] = defaultdict(list)
    for record in records:
        by_env[record.environment].append(record)
    reports = []
    for env in sorted(by_env):
        recs = by_env[env]
        rollouts = [r for r in recs if r.kind == "rollout"]
        ok = [r for r in rollouts if r.outcome == "succeeded"]
        durations = [r.duration_seconds for r in ok]
        recoveries = [
            r.time_to_rollback_seconds for r in recs if r.time_to_rollback_seconds is not None
        ]
        reports.append(
            EnvironmentReport(
                environment=env,
                rollouts=len(rollouts),
                succeeded=len(ok),
                success_rate=len(ok) / len(rollouts) if rollouts else None,
                deploy_p50_seconds=statistics.median(durations) if durations else None,
                deploy_p95_seconds=percentile(durations, 95),
                rollback_p50_seconds=statistics.median(recoveries) if recoveries else None,
                rollback_p95_seconds=percentile(recoveries, 95),
                mttr_seconds=statistics.fmean(recoveries) if recoveries else None,
                rollbacks=sum(1 for r in recs if r.kind == "rollback"),
            )
        )
    return reports
