"""checkov over terraform/, in a virtualenv of its own built from a hashed lock file.

checkov and python-hcl2 both install a top-level `hcl2` package, so checkov never
shares the project's environment. The virtualenv lives in .tools/ (git-ignored),
named after the lock's hash: a rerun reuses it, a new pin builds a new one. Every
scan loads the repository's own checks from terraform/policies (CKV_CLARITY_*), as
the `security` gate does; checkov skips a folder it cannot load without a word, so
the tests show each one ran on the tree and failed its fixture.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from clarity._gates import GATES

from tests.terraform._terraform import FIXTURES, REPO, TERRAFORM_DIR

pytestmark = pytest.mark.terraform

REQUIREMENTS = TERRAFORM_DIR / "tools" / "checkov-requirements.txt"
TOOLS_DIR = REPO / ".tools"
POLICIES_DIR = TERRAFORM_DIR / "policies"
# Each repository check, and the fixture resources it must fail (and one it must pass).
REPOSITORY_CHECKS = {
    "CKV_CLARITY_1": (
        "audit-logs",
        {"google_project_iam_audit_config.run"},
        'module.audit_logs.google_project_iam_audit_config.data_access["pubsub.googleapis.com"]',
    ),
    "CKV_CLARITY_2": (
        "kms-grants",
        {"google_kms_key_ring_iam_member.ring_wide", "google_kms_crypto_key_iam_member.admin"},
        "google_kms_crypto_key_iam_member.second",
    ),
}


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build checkov's virtualenv: run the tests through `make test`")
    return uv


def install_checkov() -> tuple[Path, float]:
    """Build (or reuse) .tools/checkov-<lock hash>/; return its checkov and the seconds spent."""
    started = time.monotonic()
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    venv = TOOLS_DIR / f"checkov-{digest}"
    checkov = venv / "bin" / "checkov"
    marker = venv / ".complete"
    TOOLS_DIR.mkdir(exist_ok=True)
    with (TOOLS_DIR / f"checkov-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (marker.exists() and checkov.exists()):
            shutil.rmtree(venv, ignore_errors=True)
            uv = _uv()
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
            }
            subprocess.run(
                [uv, "venv", "--quiet", "--python", "3.11", str(venv)], check=True, env=env
            )
            subprocess.run(
                [
                    uv,
                    "pip",
                    "install",
                    "--quiet",
                    "--require-hashes",
                    "--python",
                    str(venv / "bin" / "python"),
                    "-r",
                    str(REQUIREMENTS),
                ],
                check=True,
                env=env,
            )
            marker.write_text(digest)
    return checkov, time.monotonic() - started


@pytest.fixture(scope="session")
def checkov() -> Path:
    """checkov's executable in its own virtualenv."""
    executable, _ = install_checkov()
    return executable


def run_checkov(checkov: Path, directory: Path) -> dict[str, Any]:
    """Scan directory offline; return checkov's JSON report for the terraform framework."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    env.pop("BC_API_KEY", None)
    result = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(directory),
            "--framework",
            "terraform",
            "--external-checks-dir",
            str(POLICIES_DIR),
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=170,
    )
    assert result.returncode in (0, 1), (
        f"checkov crashed ({result.returncode}):\n{result.stderr[-3000:]}"
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (terraform,) = [r for r in reports if r["check_type"] == "terraform"]
    return dict(terraform)


@pytest.fixture(scope="session")
def checkov_report(checkov: Path) -> dict[str, Any]:
    """One scan of terraform/ shared by the assertions below."""
    return run_checkov(checkov, TERRAFORM_DIR)


@pytest.mark.timeout(600)
def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    report = checkov_report
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0
    assert failed == [], "checkov failed checks:\n" + "\n".join(failed)


def test_every_checkov_skip_is_inline_with_a_reason(checkov_report: dict[str, Any]) -> None:
    skipped = checkov_report["results"]["skipped_checks"]
    assert skipped, "expected the documented workload identity (CKV_GCP_125) skips"
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 40, (
            f"{check['check_id']} on {check['resource']} is skipped without a reason"
        )
    # Every skip in the tree is an inline `checkov:skip=ID:reason` comment.
    for path in TERRAFORM_DIR.rglob("*.tf"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "checkov:skip" in line:
                assert ":" in line.split("checkov:skip=", 1)[1], (
                    f"{path}:{number} skips without a reason"
                )


def test_checkov_reports_a_real_violation(checkov: Path, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "google_storage_bucket" "open" {\n'
        '  name     = "clarity-open"\n'
        '  location = "US"\n'
        "}\n"
    )
    report = run_checkov(checkov, tmp_path)
    assert "CKV_GCP_29" in {c["check_id"] for c in report["results"]["failed_checks"]}


def test_every_repository_check_is_tested_here() -> None:
    declared = {
        match
        for path in POLICIES_DIR.glob("*.py")
        for match in re.findall(r'id="(CKV_CLARITY_\d+)"', path.read_text())
    }
    assert declared == set(REPOSITORY_CHECKS)


def test_the_repository_checks_run_on_the_tree(checkov_report: dict[str, Any]) -> None:
    passed = {c["check_id"] for c in checkov_report["results"]["passed_checks"]}
    assert set(REPOSITORY_CHECKS) <= passed


@pytest.mark.parametrize("check_id", sorted(REPOSITORY_CHECKS))
def test_each_repository_check_fails_its_fixture(checkov: Path, check_id: str) -> None:
    fixture, failing, passing = REPOSITORY_CHECKS[check_id]
    report = run_checkov(checkov, FIXTURES / "policies" / fixture)
    results = {
        kind: {c["resource"] for c in report["results"][kind] if c["check_id"] == check_id}
        for kind in ("failed_checks", "passed_checks")
    }
    assert results["failed_checks"] == failing
    assert passing in results["passed_checks"]


def test_the_security_gate_loads_the_same_checks() -> None:
    (step,) = [s for s in GATES["security"].steps if s.name == "checkov"]
    argv = list(step.command(pipeline=False))
    flag = argv.index("--external-checks-dir")
    assert argv[flag + 1] == str(POLICIES_DIR.relative_to(REPO))
    assert argv[argv.index("--directory") + 1] == str(TERRAFORM_DIR.relative_to(REPO))
