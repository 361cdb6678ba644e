"""``clarity-deploy staged`` and ``clarity-deploy promote``: the promotion's two steps.

``staged`` reads the records kept on the source environment's services and prints the
release that passed there (its record and digests), so its signatures can be verified (by
cosign, in the Dagger module). ``promote`` then takes exactly those verified digests: it
reads the records again, refuses unless they still name the same release and images, and
copies each image by digest into the target environment's repository. Each prints one
JSON object on stdout (and into ``--result``); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio
import google.auth.exceptions
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request

from .._auth import load_credentials, refresh_failure
from .._cloudrun import CloudRunApi
from .._errors import ConfigError
from ..progress import Reporter
from ..rollout._records import Records
from ..settings import ENVIRONMENTS, EnvironmentSettings, load_settings
from ._decisions import (
    StagedRelease,
    check_verified,
    plan_promotion,
    promotion_source,
    staged_release,
)
from ._registry import Registry
from ._registry_http import RegistryCredentials

__all__ = ["COMMANDS", "add_commands", "run_command"]

COMMANDS = ("staged", "promote")
_GOOGLE_REGISTRIES = ("-docker.pkg.dev", "gcr.io")
_REGISTRY_USER = "oauth2accesstoken"


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``staged`` and ``promote`` to the CLI's subcommands."""
    envs = ", ".join(ENVIRONMENTS)
    staged = sub.add_parser(
        "staged",
        parents=[common],
        help="the release that passed an environment, from its services' records",
        description="Print (JSON) the newest succeeded rollout of VERSION in ENV, with the "
        "digest of every service's image; refuse if VERSION did not pass ENV.",
    )
    staged.add_argument("--env", required=True, help=f"environment whose records to read: {envs}")
    _release_arguments(staged)
    promote = sub.add_parser(
        "promote",
        parents=[common],
        help="copy a release's verified digests into the next environment",
        description="Copy the images of VERSION that passed --from into --to's Artifact Registry "
        "by digest (tagged VERSION, with their signatures and attestations); refuse unless "
        "--image names exactly the digests --from's records hold.",
    )
    promote.add_argument("--from", dest="source", required=True, help=f"passed here: {envs}")
    promote.add_argument("--to", dest="target", required=True, help="promoted there: prod")
    _release_arguments(promote)
    promote.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="SERVICE=REF",
        required=True,
        help="a verified digest reference from `staged` (one per service)",
    )
    promote.add_argument(
        "--registry-endpoint",
        action="append",
        default=[],
        metavar="HOST=URL",
        help="reach a registry host at URL instead (a mirror, or a local registry in tests)",
    )


def _release_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", required=True, help="release version (semver, e.g. 1.4.0)")
    parser.add_argument("--commit", default="", help="git SHA the release was built from")
    parser.add_argument("--result", type=Path, default=None, help="also write the JSON here")


async def run_command(args: argparse.Namespace) -> int:
    """Run ``staged`` or ``promote``; print the JSON result."""
    json_lines = None if args.output == "auto" else args.output == "json"
    reporter = Reporter(stream=sys.stderr, json_lines=json_lines)
    if args.command == "staged":
        settings = load_settings(args.env, args.settings_dir)
        credentials = load_credentials(args.credentials)
        staged = await _staged(args, reporter, credentials, settings)
        _emit(args, staged.to_json())
        return 0
    target = load_settings(args.target, args.settings_dir)
    source = load_settings(promotion_source(args.target, args.source), args.settings_dir)
    images = _pairs(args.image, "--image")
    credentials = load_credentials(args.credentials)
    staged = await _staged(args, reporter, credentials, source)
    check_verified(staged, images)
    promotion = plan_promotion(staged, source, target)
    endpoints = _pairs(args.registry_endpoint, "--registry-endpoint")
    async with Registry(credentials=_google(credentials), endpoints=endpoints) as registry:
        for copy in promotion.copies:
            report = await registry.copy(copy.source, copy.target, tags=(copy.tag,))
            reporter.event("promote", report.describe(), service=copy.service)
    reporter.event(
        "done",
        f"{promotion.release.version} promoted from {source.environment} (record "
        f"{staged.record}) to {target.environment}: the same digests",
    )
    _emit(args, promotion.to_json())
    return 0


async def _staged(
    args: argparse.Namespace,
    reporter: Reporter,
    credentials: Credentials,
    settings: EnvironmentSettings,
) -> StagedRelease:
    api = CloudRunApi.connect(credentials, endpoint=args.api_endpoint)
    records = await Records(api, reporter, None).recorded(settings)
    staged = staged_release(records, settings, version=args.version, commit=args.commit)
    reporter.event(
        "staged",
        f"{staged.version} passed {staged.environment} in record {staged.record}: "
        + ", ".join(f"{s}={ref}" for s, ref in sorted(staged.images.items())),
    )
    return staged


def _google(credentials: Credentials) -> RegistryCredentials:
    """Google access tokens for Google's registries only; no other host ever sees one."""

    async def provide(host: str) -> tuple[str, str] | None:
        if not host.endswith(_GOOGLE_REGISTRIES):
            return None
        if not credentials.valid:
            try:
                await anyio.to_thread.run_sync(credentials.refresh, Request())
            except google.auth.exceptions.GoogleAuthError as exc:
                raise refresh_failure(exc, "an access token for Artifact Registry") from None
        return _REGISTRY_USER, str(credentials.token)

    return provide


def _emit(args: argparse.Namespace, text: str) -> None:
    if args.result is not None:
        args.result.parent.mkdir(parents=True, exist_ok=True)
        args.result.write_text(text + "\n")
    sys.stdout.write(text + "\n")


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            msg = f"{flag} expects NAME=VALUE, not {item!r}"
            raise ConfigError(msg)
        out[key] = value
    return out
