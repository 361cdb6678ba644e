"""``clarity-deploy``: progressive delivery of the Clarity Loop Backend to Cloud Run.

Every expected failure is a :class:`~._errors.DeployError` printed as one message with its
exit code (``--debug`` adds the traceback). Exit codes: 0 success, 1 rollout failed or rolled
back, 2 bad input or settings, 3 concurrent rollout, 4 credentials or permission, 5 rollback
failed (act now), 6 API unreachable. The commands and their arguments are in
:mod:`._cli_parser`; this module connects the clients and runs them.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
from google.auth.credentials import Credentials

from ._auth import GoogleIdTokens, load_credentials
from ._cli_parser import build_parser
from ._cli_prune import print_pruned, prune_after_release
from ._cloudrun import CloudRunApi
from ._errors import ApprovalRequired, ConfigError, DeployError
from ._prune_settings import check_keep
from .analysis import MonitoringApi, Prober
from .analysis.journey import JourneyProbe
from .deployment_log import DeploymentLog
from .ledger import Ledger
from .plan import build_plan, parse_version
from .progress import Reporter
from .promotion import _commands as promotion
from .render import markdown_summary, render_report
from .rollout import Deployer
from .settings import EnvironmentSettings, load_settings

__all__ = ["build_parser", "main"]

Connect = Callable[[Credentials, str | None], CloudRunApi]


def main(argv: Sequence[str] | None = None, *, connect: Connect | None = None) -> int:
    """Entry point of ``clarity-deploy``; ``connect`` makes the Admin API client (a seam for
    tests that need another retry policy; by default :meth:`CloudRunApi.connect`)."""
    args = build_parser().parse_args(argv)
    try:
        return anyio.run(_dispatch, args, connect or _connect)
    except DeployError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"clarity-deploy {args.command}: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            f"clarity-deploy {args.command}: interrupted; run `clarity-deploy status` to resolve",
            file=sys.stderr,
        )
        return 130


async def _dispatch(args: argparse.Namespace, connect: Connect) -> int:
    if args.command in promotion.COMMANDS:
        return await promotion.run_command(args)
    reporter = Reporter(
        json_lines=None if args.output == "auto" else args.output == "json",
        summary_path=args.summary,
    )
    if args.command == "report" and args.env is None:
        print(render_report(Ledger(args.ledger).records(), as_json=args.json))
        return 0
    settings = load_settings(args.env, args.settings_dir)
    if args.command == "deploy":
        plan = build_plan(
            settings,
            version=args.version,
            commit=args.commit,
            images=_pairs(args.image, "--image"),
            only=tuple(args.service),
            strategy=args.strategy,
            image_override=args.allow_image_override,
            dry_run=args.dry_run,
        )
        if args.dry_run:
            print(plan.describe())
            print("dry run: nothing was changed")
            return 0
        if plan.policy.require_approval and not args.approve:
            msg = (
                f"{args.env} requires approval: re-run with --approve (in CI the GitHub environment's "
                "required reviewers give it)"
            )
            raise ApprovalRequired(msg)
    if args.command == "rollback" and args.to != "previous":
        parse_version(args.to)  # a malformed version is bad input, before any credentials
    keep = settings.rollout.prune.keep
    if args.command == "prune" and args.keep is not None:
        keep = check_keep(args.keep, "--keep")
    deployer = _deployer(args, reporter, settings, connect)
    if args.command == "report":
        print(render_report(await deployer.recorded(settings), as_json=args.json))
        return 0
    if args.command == "deploy":
        try:
            record = await deployer.deploy(plan)
        finally:
            _summarise_last(reporter, args.ledger)
        if record is None:
            print(f"release {plan.version} is stable in {args.env} already: nothing to do")
        else:
            if plan.policy.prune.enabled:
                await prune_after_release(deployer, settings, plan.services, keep, reporter)
            # Last, whatever the clean-up printed: the line that says what production runs.
            print(
                f"release {record.version} is stable in {record.environment} "
                f"({record.duration_seconds:.1f}s)"
            )
    elif args.command == "prune":
        pruned = await deployer.prune(settings, keep=keep, dry_run=args.dry_run)
        print_pruned(pruned, reporter)
    elif args.command == "rollback":
        try:
            rolled = await deployer.rollback(settings, args.to)
        finally:
            _summarise_last(reporter, args.ledger)
        if rolled is None:
            print(f"nothing to roll back: every service of {args.env} already serves {args.to}")
        else:
            print(
                f"rolled back {rolled.environment} to {rolled.version} "
                f"in {rolled.duration_seconds:.1f}s"
            )
    elif args.command == "status":
        for s in await deployer.status(settings):
            print(
                f"{s.key} ({s.name}): stable {s.stable or '-'} (version {s.version or 'unknown'})"
            )
            print(f"  traffic: {s.traffic}")
            warm = ", ".join(f"{name}={count}" for name, count in s.warm.items()) or "none"
            print(f"  warm instances: {warm} (service minimum {s.min_instances})")
            if s.rollout is not None and s.lease is not None:
                print(
                    f"  rollout in progress: {s.rollout.version} (id {s.rollout.id}) at "
                    f"{s.rollout.percent}% by {s.rollout.owner}"
                )
                print(f"  lease: {s.lease.describe_expiry()}")
                print(f"  next deploy: {s.lease.next_deploy}")
                print(f"  next rollback: {s.lease.next_rollback}")
            if s.resolved:
                print(f"  resolved: {s.resolved}")
            if s.last is not None:
                print(f"  last: {s.last.version} {s.last.outcome} ({s.last.revision})")
            if s.health is not None:
                print(f"  health: {s.health.describe()}")
    else:
        await deployer.health_check(settings, _pairs(args.url, "--url") or None)
        print(f"{args.env}: all health checks pass")
    return 0


def _connect(credentials: Credentials, endpoint: str | None) -> CloudRunApi:
    return CloudRunApi.connect(credentials, endpoint=endpoint)


def _deployer(
    args: argparse.Namespace,
    reporter: Reporter,
    settings: EnvironmentSettings,
    connect: Connect,
) -> Deployer:
    credentials = load_credentials(args.credentials)
    api = connect(credentials, args.api_endpoint)
    tokens = GoogleIdTokens(credentials, iam_endpoint=args.iam_endpoint)
    monitoring = None
    if settings.rollout.metrics is not None:
        monitoring = MonitoringApi.connect(credentials, endpoint=args.monitoring_endpoint)
    policy = settings.rollout.journey
    journey = (
        JourneyProbe(tokens, timeout_seconds=policy.timeout_seconds)
        if policy.before_traffic
        else None
    )
    log = DeploymentLog.connect(credentials, endpoint=args.logging_endpoint)
    return Deployer(
        api,
        Prober(tokens),
        reporter,
        ledger=Ledger(args.ledger),
        monitoring=monitoring,
        journey=journey,
        log=log,
    )


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            msg = f"{flag} expects SERVICE=VALUE, not {item!r}"
            raise ConfigError(msg)
        out[key] = value
    return out


def _summarise_last(reporter: Reporter, ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    if not ledger.path.exists():
        return
    records = ledger.records()
    if records:
        reporter.summary(markdown_summary(records[-1]))
