"""clarity-deploy: the real CLI parser and credential loader, Cloud Run left to the model.

The argv goes through ``clarity_delivery.cli.build_parser()`` and the credentials file
through ``clarity_delivery.credentials_from_info``, so a wrong flag or an unusable key
fails with the CLI's own message and exit code. What the command does to Cloud Run is not
run: the rollouts themselves are tested against the Cloud Run double (tests/delivery).
The model records the command in ``World.rollouts`` and writes the files it names.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Final, NoReturn

from clarity_delivery import CredentialsError, credentials_from_info
from clarity_delivery.cli import build_parser

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
    env = str(getattr(args, "env", ""))
    ex.world.rolled_out(Rollout(command=command, env=env, argv=ex.args))
    if command in ex.world.delivery_failures:
        code, message = ex.world.delivery_failures[command]
        return fail(f"clarity-deploy {command}: error: {message}", code)
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


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {"clarity-deploy": clarity_deploy}
