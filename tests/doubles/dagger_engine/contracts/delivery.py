"""clarity-deploy: the real CLI parser and credential loader, Cloud Run left to the model.

The argv goes through ``clarity_delivery.cli.build_parser()`` and the credentials file
through ``clarity_delivery.credentials_from_info``, so a wrong flag or an unusable key
fails with the CLI's own message and exit code. What the command does to Cloud Run is not
run: the rollouts themselves are tested against the Cloud Run double (tests/delivery).
The model records the command in ``World.rollouts`` and writes the files it names.

The records a rollout keeps on its services are ``World.deployment_records``: ``deploy``
appends one (its images, as given), and ``staged`` and ``promote`` decide from them with the
library's own functions (``clarity_delivery.promotion``), against the settings files in the
container; ``promote`` copies the registry entries and signatures by digest
(``World.copied``). The copy itself is tested against real registries (tests/containers).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Final, NoReturn

from clarity_delivery import (
    CredentialsError,
    DeployError,
    EnvironmentSettings,
    credentials_from_info,
    parse_settings,
)
from clarity_delivery.cli import build_parser
from clarity_delivery.ledger import DeploymentRecord
from clarity_delivery.promotion import (
    StagedRelease,
    check_verified,
    plan_promotion,
    promotion_source,
    staged_release,
)

from tests.doubles.dagger_engine._world import Rollout
from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError, Outcome, fail, ok

__all__ = ["CONTRACTS"]

_CREDENTIALS_EXIT: Final = 4  # clarity_delivery.CredentialsError.exit_code


class _UsageError(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    parsers = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers += list(action.choices.values())
    for each in parsers:

        def error(message: str, each: argparse.ArgumentParser = each) -> NoReturn:
            text = f"{each.format_usage()}{each.prog}: error: {message}\n"
            raise _UsageError(text)

        each.error = error  # type: ignore[method-assign]
    return parser.parse_args(argv)


def _credentials(ex: Exec, command: str) -> Outcome | None:
    path = ex.env.get("GOOGLE_APPLICATION_CREDENTIALS")
    prefix = f"clarity-deploy {command}: error: "
    if path is None:
        return fail(
            f"{prefix}no usable Google credentials. Set GOOGLE_APPLICATION_CREDENTIALS",
            _CREDENTIALS_EXIT,
        )
    try:
        info = json.loads(ex.fs.read(path))
    except ExecFsError as exc:
        if "no such file" in str(exc):
            return fail(f"{prefix}credentials file {path} does not exist", _CREDENTIALS_EXIT)
        return fail(
            f"{prefix}credentials file {path} is not readable JSON: {exc}", _CREDENTIALS_EXIT
        )
    except ValueError as exc:
        return fail(
            f"{prefix}credentials file {path} is not readable JSON: {exc}", _CREDENTIALS_EXIT
        )
    try:
        credentials_from_info(info, where=f"credentials file {path}")
    except CredentialsError as exc:
        return fail(f"{prefix}{exc.message}", exc.exit_code)
    return None


def clarity_deploy(ex: Exec) -> Outcome:
    """clarity-deploy deploy|rollback|health-check|status|report ..."""
    try:
        args = _parse(list(ex.args))
    except _UsageError as exc:
        return fail(exc.text, 2)
    command = str(args.command)
    if (failed := _credentials(ex, command)) is not None:
        return failed
    env = str(getattr(args, "env", None) or getattr(args, "target", ""))
    ex.world.rolled_out(Rollout(command=command, env=env, argv=ex.args))
    if command in ex.world.delivery_failures:
        code, message = ex.world.delivery_failures[command]
        return fail(f"clarity-deploy {command}: error: {message}", code)
    if command in ("staged", "promote"):
        return _promotion(ex, args)
    if command == "deploy" and not args.dry_run:
        ex.world.recorded(env, _record(args, ex.world.deployment_records.get(env, [])))
    if command in ("deploy", "rollback"):
        # The ledger creates its directory (Ledger.append: mkdir parents=True).
        ledger = str(args.ledger)
        ex.fs.mkdir(ex.path(ledger).rsplit("/", 1)[0] or "/")
        previous = ex.fs.read(ex.path(ledger)) if ex.fs.is_file(ex.path(ledger)) else b""
        record = json.dumps({"command": command, "env": env}) + "\n"
        ex.fs.write(ex.path(ledger), previous + record.encode())
    if args.summary is not None and command == "deploy":
        # The summary is appended to with open("a"): its directory must exist.
        markdown = f"## clarity-deploy {command} --env {env}\n\nmodelled rollout\n"
        try:
            ex.fs.write(ex.path(str(args.summary)), markdown.encode())
        except ExecFsError as exc:
            return fail(f"FileNotFoundError: [Errno 2] No such file or directory: {exc}")
    return ok(f"{command} {env}: done (modelled)\n")


def _record(args: argparse.Namespace, earlier: list[dict[str, object]]) -> dict[str, object]:
    images = dict(item.split("=", 1) for item in args.image)
    services = ["ml-service", "api-gateway"]
    return {
        "id": f"record-{len(earlier) + 1}",
        "kind": "rollout",
        "environment": args.env,
        "version": args.version.removeprefix("v"),
        "commit": args.commit,
        "services": services,
        "strategy": "canary",
        "started_at": float(len(earlier) + 1),
        "ended_at": float(len(earlier) + 1),
        "outcome": "succeeded",
        "images": images,
    }


def _settings(ex: Exec, args: argparse.Namespace, env: str) -> EnvironmentSettings:
    directory = str(args.settings_dir or ex.path("terraform/environments"))
    path = f"{directory}/{env}/settings.json"
    return parse_settings(ex.fs.read_text(path), env, where=path)


def _promotion(ex: Exec, args: argparse.Namespace) -> Outcome:
    """staged / promote: the library's decisions over the modelled records."""
    try:
        if args.command == "staged":
            source = _settings(ex, args, args.env)
        else:
            source = _settings(ex, args, promotion_source(args.target, args.source))
        records = [
            DeploymentRecord.from_json(json.dumps(r))
            for r in ex.world.deployment_records.get(source.environment, [])
        ]
        staged = staged_release(records, source, version=args.version, commit=args.commit)
        text = staged.to_json()
        if args.command == "promote":
            text = _copy(ex, args, staged, source)
    except DeployError as exc:
        return fail(f"clarity-deploy {args.command}: error: {exc.message}", exc.exit_code)
    if args.result is not None:
        ex.fs.mkdir(ex.path(str(args.result)).rsplit("/", 1)[0] or "/")
        ex.fs.write(ex.path(str(args.result)), (text + "\n").encode())
    return ok(text + "\n")


def _copy(
    ex: Exec, args: argparse.Namespace, staged: StagedRelease, source: EnvironmentSettings
) -> str:
    check_verified(staged, dict(item.split("=", 1) for item in args.image))
    target = _settings(ex, args, args.target)
    promotion = plan_promotion(staged, source, target)
    for copy in promotion.copies:
        if not ex.world.has_digest(copy.source):
            msg = f"reading {copy.source}: not found on the registry (deleted by a cleanup policy?)"
            raise DeployError(msg)
        ex.world.copied(copy.source, copy.target, copy.tag)
    return promotion.to_json()


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {"clarity-deploy": clarity_deploy}
