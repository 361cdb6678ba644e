"""The workflows pass actionlint (jactionlint), zizmor --offline and yamllint with zero findings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflows._support import ROOT

pytestmark = pytest.mark.workflows

BIN = Path(sys.executable).parent
#: A workflow with problems every linter here knows: an unpinned action, a template injection,
#: no permissions, a persisted checkout token and a line yamllint rejects.
BAD_WORKFLOW = """\
on: [pull_request_target]
jobs:
  bad:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"    \n"""


def _env() -> dict[str, str]:
    """The environment without any GitHub token (zizmor --offline must not go online)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN", "JACTIONLINT_ONLINE"}
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    return env


def _run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True, check=False
    )


@pytest.fixture
def bad_repo(tmp_path: Path) -> Path:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(BAD_WORKFLOW, encoding="utf-8")
    (tmp_path / ".git").mkdir()
    return tmp_path


def test_actionlint_reports_nothing_and_runs_shellcheck_on_run_blocks() -> None:
    result = _run(BIN / "jactionlint", "--strict-exit", "--no-online", "--no-color", "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Found 0 errors" in result.stderr
    assert 'Rule "shellcheck" was disabled' not in result.stderr, result.stderr


def test_actionlint_catches_a_bad_workflow(bad_repo: Path) -> None:
    result = _run(BIN / "jactionlint", "--no-online", "--no-color", cwd=bad_repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bad.yml" in result.stdout


def test_zizmor_offline_reports_nothing() -> None:
    result = _run(BIN / "zizmor", "--offline", "--no-progress", ".github/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_catches_a_bad_workflow(bad_repo: Path) -> None:
    result = _run(BIN / "zizmor", "--offline", "--no-progress", ".github/", cwd=bad_repo)
    assert result.returncode != 0
    assert "template-injection" in result.stdout
    assert "unpinned-uses" in result.stdout


def test_yamllint_passes_on_the_repository() -> None:
    result = _run(BIN / "yamllint", "--strict", "--format", "parsable", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_yamllint_config_catches_a_bad_file(bad_repo: Path) -> None:
    bad = bad_repo / ".github" / "workflows" / "bad.yml"
    result = _run(BIN / "yamllint", "-c", ROOT / ".yamllint", "--format", "parsable", bad)
    assert result.returncode == 1
    assert "trailing-spaces" in result.stdout
