"""Rendering of ledger records: the Markdown job summary and the ``report`` table.

Each step row carries what settled it: probe rounds, and the candidate's and the stable
revision's real traffic (requests, 5xx ratio, p95/p99) in the metrics window that decided.
A revision clean-up has its own summary: the revisions it deleted.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from .ledger import (
    TARGETS,
    DeploymentRecord,
    EnvironmentReport,
    RevisionFigures,
    StepRecord,
    build_report,
)
from .prune import PruneReport

__all__ = [
    "figures_of",
    "last_rollouts",
    "markdown_summary",
    "prune_summary",
    "render_report",
    "report_table",
    "traffic_of",
]


def markdown_summary(record: DeploymentRecord) -> str:
    """The job summary of one rollout or rollback: outcome, then one row per step."""
    icon = "✅" if record.outcome == "succeeded" else "❌"
    lines = [
        f"### {icon} {record.kind} {record.version} → {record.environment}: {record.outcome}",
        "",
        f"Strategy {record.strategy}, {record.duration_seconds:.1f}s, services {', '.join(record.services)}"
        + (f", commit `{record.commit[:12]}`" if record.commit else ""),
        "",
    ]
    if record.steps:
        lines += [
            "| service | traffic | probe rounds | failed | duration | candidate | stable | decided by |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {s.service} | {traffic_of(s)} | {s.rounds} | {s.failed_rounds} | {s.duration_seconds:.1f}s "
            f"| {figures_of(s.candidate)} | {figures_of(s.stable)} | {s.decided_by or '-'} |"
            for s in record.steps
        ]
    if record.time_to_rollback_seconds is not None:
        lines.append(f"\nTime to rollback: {record.time_to_rollback_seconds:.1f}s")
    if record.error:
        lines.append(f"\n> {record.error}")
    return "\n".join(lines)


def prune_summary(report: PruneReport) -> str:
    """The job summary of a revision clean-up: one row per revision deleted (or kept)."""
    verb = "would delete" if report.dry_run else "deleted"
    lines = [
        f"### 🧹 revision clean-up of {report.environment}: {verb} {len(report.deleted)}",
        "",
        f"Kept each service's newest {report.keep} revisions, every revision with traffic or "
        "a tag, and any a rollout in progress names.",
    ]
    if report.revisions:
        lines += ["", "| service | revision | version | created | |", "|---|---|---|---|---|"]
        lines += [
            f"| {r.service} | `{r.revision}` | {r.version} | "
            f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(r.created))} UTC | "
            f"{f'kept: {r.skipped}' if r.skipped else verb} |"
            for r in report.revisions
        ]
    return "\n".join(lines)


def traffic_of(step: StepRecord) -> str:
    """``25%``, ``100% (bake)`` or ``0% (load test)``."""
    extra = {"bake": " (bake)", "performance": " (load test)"}.get(step.kind, "")
    return f"{step.percent}%{extra}"


def figures_of(figures: RevisionFigures | None) -> str:
    """A revision's figures in a step, or ``-``."""
    return figures.describe() if figures is not None else "-"


def last_rollouts(records: list[DeploymentRecord]) -> dict[str, DeploymentRecord]:
    """The latest rollout of each environment."""
    last: dict[str, DeploymentRecord] = {}
    for record in records:
        if record.kind == "rollout":
            last[record.environment] = record
    return last


def render_report(records: list[DeploymentRecord], *, as_json: bool) -> str:
    """What ``clarity-deploy report`` prints: the figures per environment and each one's
    last rollout step by step, as a table or as JSON."""
    reports = build_report(records)
    last = last_rollouts(records)
    if as_json:
        return json.dumps(
            [
                {
                    **asdict(r),
                    "meets_targets": r.meets_targets(),
                    "last_rollout": asdict(last[r.environment]) if r.environment in last else None,
                }
                for r in reports
            ],
            indent=2,
        )
    lines = [report_table(reports)]
    for env, record in sorted(last.items()):
        lines.append(f"\nlast rollout in {env}: {record.version} {record.outcome} ({record.id})")
        lines += [
            f"  {s.service} {traffic_of(s)}: {s.rounds} rounds, {s.failed_rounds} failed, "
            f"{s.duration_seconds:.1f}s; candidate {figures_of(s.candidate)}; "
            f"stable {figures_of(s.stable)}; decided by {s.decided_by or '-'}"
            for s in record.steps
        ]
    return "\n".join(lines)


def report_table(reports: list[EnvironmentReport]) -> str:
    """The figures of each environment against the design's targets."""

    def fmt(value: float | None, unit: str = "s") -> str:
        if value is None:
            return "-"
        return f"{value * 100:.1f}%" if unit == "%" else f"{value:.1f}s"

    header = (
        "environment",
        "rollouts",
        "success",
        "deploy p50",
        "deploy p95",
        "rollback p50",
        "rollback p95",
        "MTTR",
    )
    rows = [
        (
            r.environment,
            str(r.rollouts),
            fmt(r.success_rate, "%"),
            fmt(r.deploy_p50_seconds),
            fmt(r.deploy_p95_seconds),
            fmt(r.rollback_p50_seconds),
            fmt(r.rollback_p95_seconds),
            fmt(r.mttr_seconds),
        )
        for r in reports
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(
        f"targets: success > {TARGETS['success_rate'] * 100:.0f}%, deploy < {TARGETS['deploy_duration_seconds'] / 60:.0f} min, "
        f"rollback < {TARGETS['time_to_rollback_seconds'] / 60:.0f} min, MTTR < {TARGETS['mttr_seconds'] / 60:.0f} min"
    )
    return "\n".join(lines)
