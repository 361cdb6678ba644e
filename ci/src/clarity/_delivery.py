"""The delivery CLI (clarity-deploy) in the Python workspace: deploy, rollback, health-check,
and the promotion's two steps (``staged``, ``promote``), whose JSON result the module reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import dagger
from dagger import ReturnType

from clarity._caching import every_call
from clarity._errors import InputError, RolloutError
from clarity._report import tail
from clarity._settings import validate_commit
from clarity._workspace import OUT, VENV, WORKDIR, with_credentials, with_empty_directory, workspace

__all__ = [
    "LEDGER",
    "RESULT",
    "SUMMARY",
    "deploy_argv",
    "require_commit",
    "require_credentials",
    "run_delivery",
]

LEDGER: Final = f"{OUT}/ledger.jsonl"
SUMMARY: Final = f"{OUT}/summary.md"
RESULT: Final = f"{OUT}/result.json"


def require_credentials(credentials: dagger.Secret | None, function_name: str) -> dagger.Secret:
    """``credentials``, or an :class:`InputError` that says how to pass them."""
    if credentials is None:
        msg = (
            f"{function_name} needs --credentials: a Secret holding Google credentials "
            "JSON, e.g. --credentials env:GOOGLE_CREDENTIALS or --credentials file:./key.json"
        )
        raise InputError(msg)
    return credentials


def require_commit(commit: str | None, function_name: str) -> str:
    """``commit`` validated, or an :class:`InputError` that says how to pass it."""
    if commit is None:
        msg = (
            f"{function_name} needs --commit: the git SHA being released "
            "(e.g. $(git rev-parse HEAD))"
        )
        raise InputError(msg)
    return validate_commit(commit)


def deploy_argv(
    env: str,
    version: str,
    commit: str,
    images: Mapping[str, str],
    *,
    approve: bool,
    dry_run: bool,
) -> list[str]:
    """``clarity-deploy deploy`` arguments: one --image per service, ledger and summary in /out."""
    argv = ["deploy", "--env", env, "--version", version, "--commit", commit]
    for service, reference in sorted(images.items()):
        argv += ["--image", f"{service}={reference}"]
    argv += ["--ledger", LEDGER, "--summary", SUMMARY]
    if approve:
        argv.append("--approve")
    if dry_run:
        argv.append("--dry-run")
    return argv


async def run_delivery(
    source: dagger.Directory,
    credentials: dagger.Secret,
    argv: Sequence[str],
    *,
    summary: str | None = None,
) -> str:
    """Run ``clarity-deploy argv``; return its summary (``summary``: a file it writes, such as
    :data:`SUMMARY`, or :data:`RESULT` for a command's JSON), raise with it on failure."""
    ran = (
        workspace(source)
        # The ci project itself (console script clarity-deploy); its dependencies are
        # already in the environment, and its dagger-io source (ci/sdk) exists only
        # after `dagger develop`, hence --no-deps --no-sources.
        .with_exec(
            [
                "uv",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-sources",
                "--python",
                f"{VENV}/bin/python",
                f"{WORKDIR}/ci",
            ]
        )
        .with_(with_credentials(credentials))
        .with_(with_empty_directory(OUT))
        # Every call reaches Cloud Run: never an earlier call's output from the cache.
        .with_(every_call)
        .with_exec(["clarity-deploy", *argv], expect=ReturnType.ANY)
    )
    exit_code = await ran.exit_code()
    output = await ran.combined_output()
    text = output
    written = await ran.directory(OUT).entries()
    if summary is not None and summary.removeprefix(f"{OUT}/") in written:
        text = await ran.file(summary).contents()
    elif summary == RESULT and exit_code == 0:
        msg = f"clarity-deploy {argv[0]} wrote no result:\n{tail(output)}"
        raise RolloutError(msg)
    if exit_code != 0:
        details = text if text is output else f"{text}\n\n{tail(output)}"
        msg = f"clarity-deploy {argv[0]} failed (exit {exit_code}):\n{details}"
        raise RolloutError(msg)
    return text
