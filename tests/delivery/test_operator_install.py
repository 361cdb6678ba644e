"""The operator's install path, as the README and scripts/*.sh give it: a fresh virtualenv,
``pip install ./ci``, then ``clarity-deploy`` from that environment alone (not this project's
``.venv``) against the Cloud Run double."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.delivery.stage import REPO, Stage

# One pip install (a minute or so): kept on one worker, away from the rest of the tier.
pytestmark = [
    pytest.mark.delivery,
    pytest.mark.xdist_group("operator-install"),
    pytest.mark.timeout(600),
]


def _run(
    argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )


def test_pip_install_ci_gives_a_working_clarity_deploy(
    fixture_stage: Stage, tmp_path: Path
) -> None:
    venv = tmp_path / "operator-venv"
    created = _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    # Nothing of this project's environment may leak in: no PYTHONPATH, no active virtualenv.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "UV", "COVERAGE_PROCESS_CONFIG"}
    }
    env["PATH"] = os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"])
    # What an operator configures for this project: where IAM Credentials is (the stage's).
    env |= fixture_stage.env
    installed = _run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "./ci"], cwd=REPO, env=env, timeout=540
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    clarity_deploy = venv / "bin" / "clarity-deploy"
    helped = _run([str(clarity_deploy), "--help"], env=env, cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    for command in ("deploy", "rollback", "status", "health-check", "report"):
        assert command in helped.stdout
    where = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import clarity_delivery; print(clarity_delivery.__file__)",
        ],
        env=env,
        cwd=tmp_path,
    )
    assert where.stdout.startswith(str(venv)), where.stdout  # the installed copy, not the checkout

    status = _run(
        [
            str(clarity_deploy),
            "status",
            "--env",
            "dev",
            *fixture_stage.base_args(),
        ],
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert "ml-service (clarity-ml-service): stable clarity-ml-service-" in status.stdout
    assert "(version 0.9.0)" in status.stdout
    assert "api-gateway (clarity-api-gateway)" in status.stdout
