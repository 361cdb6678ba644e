"""What ``dagger call e2e`` runs, run here: its pytest argv, the token from a file, a gateway.

The function runs :func:`clarity._e2e.e2e_command` in the workspace container against a
deployed URL; here the same argv goes against the local stack's gateway (an http URL, which
the function itself would refuse), with the token in an owner-only file as the function mounts
it. So the command, the suite's options and the token file cannot drift apart unnoticed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from clarity._e2e import TOKEN_FILE_VARIABLE, e2e_command

from tests.support.stack import REPO_ROOT, LocalStack

pytestmark = pytest.mark.e2e


def _clean_environment() -> dict[str, str]:
    """This process's environment without the e2e options or this pytest run's own variables."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLARITY_E2E_", "PYTEST_", "COV_"))
    }


def test_the_functions_command_passes_against_a_gateway(
    shared_stack: LocalStack, tmp_path: Path
) -> None:
    token = tmp_path / "id-token"
    token.write_text("a-token\n")
    token.chmod(0o400)
    argv = e2e_command(shared_stack.gateway_url, timeout_seconds=30)
    assert argv[0] == "pytest"
    ran = subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=REPO_ROOT,
        env={**_clean_environment(), TOKEN_FILE_VARIABLE: str(token)},
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    report = ran.stdout + ran.stderr
    assert ran.returncode == 0, report
    assert "5 passed" in report
    assert "a-token" not in report


def test_a_remote_run_without_a_token_is_refused_with_what_to_do() -> None:
    argv = e2e_command("https://clarity-api-gateway-abc.a.run.app", timeout_seconds=30)
    ran = subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=REPO_ROOT,
        env=_clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 4  # pytest's usage error
    assert "--e2e-base-url needs an ID token for it" in ran.stderr
    assert "CLARITY_E2E_ID_TOKEN_FILE" in ran.stderr
