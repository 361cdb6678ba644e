"""scripts/deploy.sh, rollback.sh and health-check.sh, run for real as processes.

The tools they wrap (dagger, clarity-deploy, uv) are replaced on PATH by executables that record
their argv and working directory, so each test asserts the exact command a script runs.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from tests.workflows._support import ROOT

pytestmark = pytest.mark.workflows

SCRIPTS = ROOT / "scripts"
RECORDER = """#!/bin/bash
log="$RECORD_DIR/$(basename "$0").log"
printf 'cwd=%s\\n' "$PWD" > "$log"
printf 'PYTHONPATH=%s\\n' "${PYTHONPATH:-}" >> "$log"
printf 'arg=%s\\n' "$@" >> "$log"
exit "${FAKE_EXIT:-0}"
"""
SECRET = "private-key-material-that-must-never-reach-argv"  # pragma: allowlist secret


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    records: Path

    def argv(self, tool: str) -> list[str] | None:
        """The arguments ``tool`` was called with, or None if it was not called."""
        log = self.records / f"{tool}.log"
        if not log.exists():
            return None
        lines = log.read_text(encoding="utf-8").splitlines()
        return [line.removeprefix("arg=") for line in lines if line.startswith("arg=")]

    def recorded(self, tool: str, key: str) -> str:
        lines = (self.records / f"{tool}.log").read_text(encoding="utf-8").splitlines()
        return next(line.split("=", 1)[1] for line in lines if line.startswith(f"{key}="))


class RunScript(Protocol):
    """Run one of the scripts (see the ``run_script`` fixture)."""

    def __call__(
        self,
        script: str,
        *args: str,
        real: tuple[str, ...] = ...,
        fakes: tuple[str, ...] = ...,
        env: dict[str, str] | None = ...,
    ) -> Run: ...


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    path = tmp_path / "gha-creds-test.json"
    path.write_text(f'{{"type": "external_account", "token": "{SECRET}"}}', encoding="utf-8")
    return path


@pytest.fixture
def run_script(tmp_path: Path, credentials: Path) -> RunScript:
    """Run a script with a PATH holding only bash, the real tools asked for and recorders."""

    def run(
        script: str,
        *args: str,
        real: tuple[str, ...] = ("git",),
        fakes: tuple[str, ...] = ("dagger",),
        env: dict[str, str] | None = None,
    ) -> Run:
        bin_dir = tmp_path / "bin"
        records = tmp_path / "records"
        shutil.rmtree(bin_dir, ignore_errors=True)
        shutil.rmtree(records, ignore_errors=True)
        bin_dir.mkdir()
        records.mkdir()
        for tool in ("bash", "basename", *real):
            found = shutil.which(tool)
            assert found is not None, f"{tool} is needed to run this test"
            (bin_dir / tool).symlink_to(found)
        for tool in fakes:
            fake = bin_dir / tool
            fake.write_text(RECORDER, encoding="utf-8")
            fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
        environment = {
            "PATH": str(bin_dir),
            "HOME": str(tmp_path / "home"),
            "RECORD_DIR": str(records),
            "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
            **(env or {}),
        }
        result = subprocess.run(
            [SCRIPTS / script, *args],
            env=environment,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        return Run(result.returncode, result.stdout, result.stderr, records)

    return run


def _head() -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


# ------------------------------------------------------------------- static checks


def test_scripts_are_shellcheck_clean() -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    scripts = sorted(SCRIPTS.glob("*.sh"))
    assert len(scripts) == 4
    result = subprocess.run(
        [shellcheck, "--external-sources", "--severity=style", *scripts],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", ["deploy.sh", "rollback.sh", "health-check.sh"])
def test_scripts_are_executable_and_strict(script: str) -> None:
    path = SCRIPTS / script
    assert os.access(path, os.X_OK)
    assert "\nset -euo pipefail\n" in path.read_text(encoding="utf-8")


# ------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("deploy.sh", (), "expected ENV and an optional VERSION, got 0"),
        ("deploy.sh", ("qa",), "unknown environment 'qa' (known: dev prod staging)"),
        ("deploy.sh", ("../dev",), "unknown environment '../dev'"),
        ("deploy.sh", ("dev", "1.2"), "malformed version '1.2'"),
        ("deploy.sh", ("dev", "01.2.3"), "malformed version '01.2.3'"),
        ("deploy.sh", ("dev", "v1.2.3-rc.1"), "malformed version 'v1.2.3-rc.1'"),
        ("deploy.sh", ("dev", "1.2.3", "extra"), "got 3 argument(s)"),
        ("deploy.sh", ("--force", "dev"), "unknown option '--force'"),
        ("rollback.sh", ("prod",), "expected ENV and VERSION|previous, got 1"),
        ("rollback.sh", ("production", "1.1.0"), "unknown environment 'production'"),
        ("rollback.sh", ("prod", "last"), "malformed version 'last'"),
        ("health-check.sh", (), "expected ENV, got 0"),
        ("health-check.sh", ("dev", "staging"), "expected ENV, got 2"),
        ("health-check.sh", ("qa",), "unknown environment 'qa'"),
    ],
)
def test_bad_arguments_print_usage_and_exit_2(
    run_script: RunScript, script: str, args: tuple[str, ...], message: str
) -> None:
    result = run_script(script, *args, fakes=("dagger", "clarity-deploy", "uv"))
    assert result.code == 2, result.stderr
    assert message in result.stderr
    assert f"usage: scripts/{script}" in result.stderr
    for tool in ("dagger", "clarity-deploy", "uv"):
        assert result.argv(tool) is None, f"{tool} ran despite bad arguments"


@pytest.mark.parametrize("script", ["deploy.sh", "rollback.sh", "health-check.sh"])
def test_help_prints_usage_and_exits_0(run_script: RunScript, script: str) -> None:
    result = run_script(script, "--help")
    assert result.code == 0
    assert result.stdout.startswith(f"usage: scripts/{script}")


# ------------------------------------------------------------------- missing tools


@pytest.mark.parametrize(
    ("script", "args"), [("deploy.sh", ("dev",)), ("rollback.sh", ("dev", "previous"))]
)
def test_missing_dagger_is_named_with_how_to_install_it(
    run_script: RunScript, script: str, args: tuple[str, ...]
) -> None:
    result = run_script(script, *args, fakes=())
    assert result.code == 3
    assert "'dagger' is not installed or not on PATH" in result.stderr
    assert "v0.21.11" in result.stderr


def test_missing_credentials_file_says_how_to_create_one(
    run_script: RunScript, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.json"
    result = run_script("deploy.sh", "dev", env={"GOOGLE_APPLICATION_CREDENTIALS": str(missing)})
    assert result.code == 3
    assert f"no readable Google credentials file at '{missing}'" in result.stderr
    assert "gcloud auth application-default login" in result.stderr
    assert result.argv("dagger") is None


def test_health_check_without_clarity_deploy_or_uv_says_what_to_install(
    run_script: RunScript,
) -> None:
    result = run_script("health-check.sh", "dev", fakes=())
    assert result.code == 3
    assert "'uv' is not installed" in result.stderr
    assert "install clarity-deploy (pip install ./ci) or uv" in result.stderr


# ------------------------------------------------------------------- the exact commands


def test_deploy_calls_the_module_with_the_credentials_file_as_a_secret(
    run_script: RunScript, credentials: Path
) -> None:
    result = run_script("deploy.sh", "staging", "v1.4.0")
    assert result.code == 0, result.stderr
    assert result.argv("dagger") == [
        "call", "deploy", "--env", "staging", "--version", "1.4.0", "--commit", _head(),
        "--credentials", f"file://{credentials}",
    ]  # fmt: skip
    assert result.recorded("dagger", "cwd") == str(ROOT)
    log = (result.records / "dagger.log").read_text(encoding="utf-8")
    assert SECRET not in log + result.stdout + result.stderr


def test_deploy_prod_with_approval_and_without_git(
    run_script: RunScript, credentials: Path
) -> None:
    result = run_script("deploy.sh", "--approve", "prod", "2.0.1", real=())
    assert result.code == 0, result.stderr
    assert result.argv("dagger") == [
        "call", "deploy", "--env", "prod", "--version", "2.0.1", "--approve",
        "--credentials", f"file://{credentials}",
    ]  # fmt: skip


def test_deploy_without_version_lets_the_module_label_the_commit(run_script: RunScript) -> None:
    result = run_script("deploy.sh", "dev")
    argv = result.argv("dagger")
    assert argv is not None
    assert argv[:6] == ["call", "deploy", "--env", "dev", "--commit", _head()]
    assert "--version" not in argv


def test_deploy_exits_with_daggers_exit_code(run_script: RunScript) -> None:
    result = run_script("deploy.sh", "dev", env={"FAKE_EXIT": "7"})
    assert result.code == 7


@pytest.mark.parametrize(("target", "expected"), [("previous", "previous"), ("v1.3.0", "1.3.0")])
def test_rollback_calls_the_module(
    run_script: RunScript, credentials: Path, target: str, expected: str
) -> None:
    result = run_script("rollback.sh", "prod", target)
    assert result.code == 0, result.stderr
    assert result.argv("dagger") == [
        "call", "rollback", "--env", "prod", "--to", expected,
        "--credentials", f"file://{credentials}",
    ]  # fmt: skip
    assert result.recorded("dagger", "cwd") == str(ROOT)


def test_health_check_uses_the_delivery_cli(run_script: RunScript) -> None:
    result = run_script("health-check.sh", "staging", fakes=("clarity-deploy", "uv", "dagger"))
    assert result.code == 0, result.stderr
    assert result.argv("clarity-deploy") == ["health-check", "--env", "staging"]
    assert result.argv("uv") is None
    assert result.argv("dagger") is None


def test_health_check_falls_back_to_uv_without_dagger(run_script: RunScript) -> None:
    result = run_script("health-check.sh", "prod", fakes=("uv",))
    assert result.code == 0, result.stderr
    assert result.argv("uv") == [
        "run", "--project", str(ROOT), "python", "-m", "clarity_delivery",
        "health-check", "--env", "prod",
    ]  # fmt: skip
    assert result.recorded("uv", "PYTHONPATH") == str(ROOT / "ci" / "src")


def test_health_check_failure_is_the_exit_code(run_script: RunScript) -> None:
    result = run_script("health-check.sh", "dev", fakes=("clarity-deploy",), env={"FAKE_EXIT": "1"})
    assert result.code == 1
