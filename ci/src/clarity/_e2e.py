"""The end-to-end suite against a deployed gateway: the user's journey, after each deploy.

``dagger call e2e`` runs the ``tests/e2e`` journey (:data:`E2E_SUITE`) with pytest from the
repository root, against an environment's gateway URL or a candidate's tag URL. The journey's
steps are the delivery library's (``clarity_delivery.journey``), so the suite, the rollout's
pre-traffic check and ``make test`` (on the local stack) exercise the same code.

The ID token is a :class:`dagger.Secret` mounted as an owner-only file (:data:`TOKEN_FILE`)
that the suite reads through ``CLARITY_E2E_ID_TOKEN_FILE``: it is never in argv, in an
environment value or in the output.
"""

from __future__ import annotations

from typing import Final

import dagger
from dagger import ReturnType

from clarity._caching import every_call
from clarity._dast import validate_targets
from clarity._errors import GatesFailedError
from clarity._report import StepResult, summarize, tail

__all__ = ["E2E_SUITE", "TOKEN_FILE", "e2e_command", "run_e2e", "validate_base_url"]

E2E_SUITE: Final = "tests/e2e/test_journey.py"
"""The journey's tests; the rest of tests/e2e needs the local stack (make test)."""

TOKEN_FILE: Final = "/run/secrets/e2e-id-token"  # noqa: S105  # nosec B105 - a path, not a value
TOKEN_FILE_VARIABLE: Final = "CLARITY_E2E_ID_TOKEN_FILE"  # noqa: S105  # nosec B105 - a name
_OWNER_ONLY: Final = 0o400


def validate_base_url(url: str) -> str:
    """The gateway's base URL: an https origin without credentials, query or fragment."""
    (target,) = validate_targets([url], flag="--url")
    return target


def e2e_command(
    base_url: str, *, timeout_seconds: float, expect_version: str | None = None
) -> list[str]:
    """The pytest argv that runs the journey against ``base_url`` (the token comes from a file)."""
    argv = [
        "pytest",
        E2E_SUITE,
        "-m",
        "e2e",
        "-p",
        "no:cacheprovider",
        "--e2e-base-url",
        base_url,
        "--e2e-timeout",
        f"{timeout_seconds:g}",
        "-rA",
    ]
    if expect_version is not None:
        argv += ["--e2e-expect-version", expect_version]
    return argv


async def run_e2e(
    runner: dagger.Container,
    base_url: str,
    token: dagger.Secret,
    *,
    environment: str,
    timeout_seconds: float,
    expect_version: str | None = None,
) -> str:
    """Run the journey in ``runner`` (the workspace); one summary, failing if a step failed."""
    ran = (
        # A deployed gateway answers differently from one call to the next: run every time.
        runner.with_(every_call)
        .with_mounted_secret(TOKEN_FILE, token, mode=_OWNER_ONLY)
        .with_env_variable(TOKEN_FILE_VARIABLE, TOKEN_FILE)
        .with_exec(
            e2e_command(base_url, timeout_seconds=timeout_seconds, expect_version=expect_version),
            expect=ReturnType.ANY,
        )
    )
    output = await ran.combined_output()
    result = StepResult.from_exit(
        gate="e2e", step=f"{environment} {base_url}", exit_code=await ran.exit_code(), output=output
    )
    summary = summarize([result], [("e2e", result.step)])
    if not summary.ok:
        raise GatesFailedError(summary.render())
    return f"{summary.render()}\n\n{tail(output)}"
