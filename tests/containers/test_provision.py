"""Host provisioning (``make provision``): serialized, idempotent, and the only place that installs.

The concurrency test runs the real provisioning twice at once, as two ``make test`` on one
machine would: both must succeed, one after the other (the second waits for the lock).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.provision import STEPS

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]


def _provision(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.provision", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_provisioning_runs_at_once_both_succeed_one_after_the_other() -> None:
    runs = [_provision(), _provision()]
    outputs = [run.communicate(timeout=840)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    for output in outputs:
        for number, step in enumerate(STEPS, 1):
            assert re.search(
                rf"^==> \[{number}/{len(STEPS)}\] {step.name}: .+ \(\d+\.\ds\)$", output, re.M
            ), output
        assert re.search(r"^==> provisioned in \d+\.\ds$", output, re.MULTILINE)
    waited = [o for o in outputs if "waiting for another provisioning run" in o]
    assert len(waited) == 1, outputs


def test_steps_are_ordered_and_named_and_listed() -> None:
    names = [step.name for step in STEPS]
    assert names == [
        "debian-packages",
        "docker-engine",
        "local-images",
        "emulators",
        "provider-schemas",
    ]
    listed = subprocess.run(
        [sys.executable, "-m", "tests.support.provision", "--list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [line.split()[0] for line in listed.splitlines()] == names


def test_an_unknown_step_is_bad_usage() -> None:
    run = _provision("--only", "emulators,coffee")
    output = run.communicate(timeout=60)[0]
    assert run.returncode == 2
    assert "unknown step(s) coffee" in output


def test_missing_emulators_fail_with_what_to_install(tmp_path: Path) -> None:
    # A PATH with Python but neither gcloud nor java on it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bin_dir)}
    run = _provision("--only", "emulators", env=env)
    output = run.communicate(timeout=60)[0]
    assert run.returncode == 1, output
    assert "==> [1/1] emulators: FAILED" in output
    assert "gcloud is not on PATH" in output
    assert "need Java 11 or newer (no java on PATH" in output
    assert "Install the Google Cloud CLI with both emulators" in output


def test_no_test_installs_system_packages() -> None:
    """apt-get runs only in provisioning: a test that needs a package says `make provision`."""
    invocations = re.compile(r"""["'](apt-get|apt|dpkg)["']\s*,""")
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "tests").rglob("*.py")
        if invocations.search(path.read_text()) and path.name != "provision.py"
    ]
    assert offenders == []
    assert invocations.search((REPO / "tests" / "support" / "provision.py").read_text())
