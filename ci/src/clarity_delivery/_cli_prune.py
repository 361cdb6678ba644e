"""What ``clarity-deploy`` prints and reports of a revision clean-up, and the clean-up after a
release, whose failure is reported while the release stands."""

from __future__ import annotations

from collections.abc import Sequence

from ._errors import DeployError
from .plan import ServicePlan
from .progress import Reporter
from .prune import PruneReport
from .render import prune_summary
from .rollout import Deployer
from .settings import EnvironmentSettings

__all__ = ["print_pruned", "prune_after_release"]


async def prune_after_release(
    deployer: Deployer,
    settings: EnvironmentSettings,
    services: Sequence[ServicePlan],
    keep: int,
    reporter: Reporter,
) -> None:
    """The clean-up after a successful release: a failure is reported, the release stands."""
    try:
        pruned = await deployer.prune(settings, keep=keep, services=tuple(s.key for s in services))
    except DeployError as exc:
        reporter.event(
            "error",
            f"the release stands, but the revision clean-up failed: {exc.message}",
            exit_code=exc.exit_code,
        )
        return
    print_pruned(pruned, reporter)


def print_pruned(report: PruneReport, reporter: Reporter) -> None:
    """One line per revision, a total, and the Markdown summary (GitHub's job summary)."""
    verb = "would delete" if report.dry_run else "deleted"
    for r in report.revisions:
        done = f"kept {r.revision}: {r.skipped}" if r.skipped else f"{verb} {r.revision}"
        print(f"{r.service}: {done} ({r.version})")
    print(
        f"revision clean-up of {report.environment}: {verb} {len(report.deleted)} "
        f"(keeping each service's newest {report.keep})"
    )
    reporter.summary(prune_summary(report))
