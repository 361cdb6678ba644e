"""``clarity-deploy``: progressive delivery of the Clarity Loop Backend to Cloud Run.

Every expected failure is a :class:`~._errors.DeployError` printed as one message with its
exit code (``--debug`` adds the traceback). Exit codes: 0 success, 1 rollout failed or rolled
back, 2 bad input or settings, 3 concurrent rollout, 4 credentials or permission, 5 rollback
failed (act now), 6 API unreachable.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
from google.auth.credentials import Credentials

from ._auth import GoogleIdTokens, load_credentials
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
from .settings import ENVIRONMENTS, EnvironmentSettings, load_settings

__all__ = ["main"]

DEFAULT_LEDGER = Path(".ledger/deployments.jsonl")
EXIT_CODES = """exit codes:
  0  success
  1  the rollout failed health analysis and was rolled back, or the candidate never became Ready
  2  bad input or settings (unknown environment or service, malformed version, missing --approve),
     or a release that did not pass the environment it would be promoted from
  3  another rollout holds or changed the service; its traffic was left alone
  4  missing or rejected credentials, or a missing IAM permission (the message names the role)
  5  rolling back failed: traffic needs a person now (the message says how)
  6  the Cloud Run Admin API (or a registry) did not answer after retries"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render the README's command reference)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--settings-dir",
        type=Path,
        default=_env_path("CLARITY_SETTINGS_DIR"),
        help="folder with <env>/settings.json (default: terraform/environments of this checkout)",
    )
    common.add_argument(
        "--credentials",
        type=Path,
        default=None,
        help="Google credentials file (default: Application Default Credentials, "
        "i.e. GOOGLE_APPLICATION_CREDENTIALS)",
    )
    common.add_argument(
        "--api-endpoint",
        default=os.environ.get("CLARITY_RUN_API_ENDPOINT") or None,
        help="Cloud Run Admin API endpoint (default: run.googleapis.com; env CLARITY_RUN_API_ENDPOINT)",
    )
    common.add_argument(
        "--monitoring-endpoint",
        default=os.environ.get("CLARITY_MONITORING_API_ENDPOINT") or None,
        help="Cloud Monitoring API endpoint for metric analysis, host:port (default: "
        "monitoring.googleapis.com; env CLARITY_MONITORING_API_ENDPOINT; a loopback address "
        "is reached without TLS)",
    )
    common.add_argument(
        "--logging-endpoint",
        default=os.environ.get("CLARITY_LOGGING_API_ENDPOINT") or None,
        help="Cloud Logging API endpoint for the deployment entries, host:port (default: "
        "logging.googleapis.com; env CLARITY_LOGGING_API_ENDPOINT; a loopback address is "
        "reached without TLS)",
    )
    common.add_argument(
        "--iam-endpoint",
        default=os.environ.get("CLARITY_IAM_CREDENTIALS_ENDPOINT") or None,
        help="IAM Service Account Credentials API endpoint that mints the probes' ID tokens "
        "(default: iamcredentials.googleapis.com; env CLARITY_IAM_CREDENTIALS_ENDPOINT)",
    )
    common.add_argument(
        "--ledger",
        type=Path,
        default=_env_path("CLARITY_LEDGER") or DEFAULT_LEDGER,
        help=f"deployment ledger, JSON lines (default: {DEFAULT_LEDGER}; env CLARITY_LEDGER)",
    )
    common.add_argument(
        "--summary",
        type=Path,
        default=None,
        help="append a Markdown summary here (default: $GITHUB_STEP_SUMMARY when set)",
    )
    common.add_argument(
        "--output",
        choices=("auto", "text", "json"),
        default="auto",
        help="progress format: text on a terminal, JSON lines otherwise (default: auto)",
    )
    common.add_argument("--debug", action="store_true", help="show tracebacks of failures")

    parser = argparse.ArgumentParser(
        prog="clarity-deploy",
        description="Progressive delivery of the Clarity Loop Backend to Cloud Run: canary and blue-green "
        "rollouts with health analysis, automatic and manual rollback.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    env_help = f"target environment: {', '.join(ENVIRONMENTS)}"

    deploy = sub.add_parser(
        "deploy",
        parents=[common],
        help="roll a release out (canary or blue-green)",
        description="Roll VERSION out to every service of ENV in dependency order "
        "(ml-service, then api-gateway), analysing health at each traffic step; "
        "any failure restores the previous stable revisions.",
    )
    deploy.add_argument("--env", required=True, help=env_help)
    deploy.add_argument("--version", required=True, help="release version (semver, e.g. 1.4.0)")
    deploy.add_argument(
        "--commit", default="", help="git commit SHA of the release (names the revision)"
    )
    deploy.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="SERVICE=REF",
        help="image of a service (repeatable; default: Artifact Registry path for VERSION)",
    )
    deploy.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="SERVICE",
        help="release only these services (repeatable; default: all)",
    )
    deploy.add_argument(
        "--strategy",
        choices=("canary", "blue-green"),
        default=None,
        help="override the environment's strategy",
    )
    deploy.add_argument(
        "--approve",
        action="store_true",
        help="approve a release to an environment that requires it",
    )
    deploy.add_argument(
        "--allow-image-override",
        action="store_true",
        help="run an --image that is not pinned by digest in the environment's repository "
        "(only where settings allow it: dev; logged)",
    )
    deploy.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")

    rollback = sub.add_parser(
        "rollback",
        parents=[common],
        help="send all traffic to a named version",
        description="Send 100%% of every service's traffic to the revision labelled with "
        "VERSION (or the previous stable one) in one update each, then verify health.",
    )
    rollback.add_argument("--env", required=True, help=env_help)
    rollback.add_argument(
        "--to", required=True, metavar="VERSION|previous", help="version to restore, or 'previous'"
    )

    status = sub.add_parser(
        "status",
        parents=[common],
        help="show stable revisions, traffic and rollout state",
        description="Show each service's stable revision, version, traffic split and any "
        "rollout in progress; an interrupted rollout is rolled back.",
    )
    status.add_argument("--env", required=True, help=env_help)

    health = sub.add_parser(
        "health-check",
        parents=[common],
        help="run the environment's health checks",
        description="Run every configured health check once against each service's URL.",
    )
    health.add_argument("--env", required=True, help=env_help)
    health.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help="probe this URL instead of asking the Admin API (works without API access)",
    )

    prune = sub.add_parser(
        "prune",
        parents=[common],
        help="delete revisions no traffic, tag or rollout needs",
        description="Delete each service's revisions that serve no traffic, carry no tag and are "
        "older than its newest N; never a revision a rollout in progress names, nor the stable, "
        "previous or blue one. Also runs after every successful deploy where settings.json "
        "turns rollout.prune on.",
    )
    prune.add_argument("--env", required=True, help=env_help)
    prune.add_argument(
        "--keep",
        type=int,
        default=None,
        metavar="N",
        help="keep each service's newest N revisions whatever they are, at least 1 "
        "(default: settings.json rollout.prune.keep, else 5)",
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted and delete nothing"
    )

    report = sub.add_parser(
        "report",
        parents=[common],
        help="delivery figures from the ledger",
        description="Success rate, deploy duration, time to rollback and MTTR per environment, "
        "against the targets (success > 99%%, deploy < 10 min, rollback < 2 min, "
        "MTTR < 5 min).",
    )
    report.add_argument(
        "--env",
        default=None,
        help="read the records kept on this environment's services (needs API access) "
        "instead of the --ledger file",
    )
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")
    promotion.add_commands(sub, common)
    return parser


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


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _summarise_last(reporter: Reporter, ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    if not ledger.path.exists():
        return
    records = ledger.records()
    if records:
        reporter.summary(markdown_summary(records[-1]))
