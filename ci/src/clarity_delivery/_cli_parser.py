"""The ``clarity-deploy`` command line: its commands, their arguments and the exit codes.

:mod:`.cli` parses with :func:`build_parser` and runs the commands; the Dagger engine double
parses the module's argv with it too, and the README's command reference is rendered from it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .promotion import _commands as promotion
from .settings import ENVIRONMENTS

__all__ = ["DEFAULT_LEDGER", "EXIT_CODES", "build_parser"]

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


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None
