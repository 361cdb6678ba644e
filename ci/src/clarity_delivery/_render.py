"""What ``clarity-deploy`` prints from records: the CI job summary of a run and the report.

Kept apart from :mod:`.cli` so the command line reads as what each command does.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from .ledger import TARGETS, DeploymentRecord, EnvironmentReport, build_report

__all__ = ["markdown_summary", "render_report", "report_table"]


def markdown_summary(record: DeploymentRecord) -> str:
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
            "| service | traffic | probe rounds | failed | duration |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {s.service} | {s.percent}% | {s.rounds} | {s.failed_rounds} | {s.duration_seconds:.1f}s |"
            for s in record.steps
        ]
    if record.time_to_rollback_seconds is not None:
        lines.append(f"\nTime to rollback: {record.time_to_rollback_seconds:.1f}s")
    if record.error:
        lines.append(f"\n> {record.error}")
    return "\n".join(lines)


def render_report(records: list[DeploymentRecord], *, as_json: bool) -> str:
    """The report of ``records``: a table, or JSON."""
    reports = build_report(records)
    if as_json:
        return json.dumps(
            [{**asdict(r), "meets_targets": r.meets_targets()} for r in reports], indent=2
        )
    return report_table(reports)


def report_table(reports: list[EnvironmentReport]) -> str:
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
