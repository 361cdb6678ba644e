"""Release management at its edges: an empty history, no git, how the summary explains a bump,
and --debug. Throwaway repositories built with the real git, as in test_release."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from clarity_release import NothingToReleaseError, Version, plan_release

from tests.workflows._support import ROOT
from tests.workflows.test_release import DAY, commit, new_repo, release_cli

pytestmark = pytest.mark.workflows


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A git identity and no user or system configuration, as in test_release."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Release Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "release@test.invalid")


def test_a_repository_without_commits_has_nothing_to_release(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    subprocess.run(["git", "init", "--quiet", str(repo)], check=True)
    with pytest.raises(NothingToReleaseError, match="has no commits yet; commit something"):
        plan_release(repo, released_on=DAY)


def test_the_summary_says_why_the_version_moves(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo", tag="v0.4.0")
    commit(repo, "feat!: drop the v1 endpoints")
    commit(repo, "tidy up")  # not a conventional commit
    plan = plan_release(repo, released_on=DAY)
    assert plan.tag == "v0.5.0"
    summary = plan.summary()
    assert "minor: breaking changes before 1.0.0 bump the minor version" in summary
    assert "1 other commit(s) left out of the changelog" in summary
    assert "since v0.4.0" in summary


def test_a_version_chosen_by_hand_says_so(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo", tag=None)
    commit(repo, "chore: nothing that asks for a release")
    forced = plan_release(repo, released_on=DAY, release_as=Version(1, 0, 0))
    assert forced.tag == "v1.0.0"
    assert forced.summary().startswith("next version: 1.0.0 (--release-as; ")
    assert "since the first commit" in forced.summary()


def test_without_git_the_release_says_to_install_it(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    result = subprocess.run(
        [sys.executable, "-m", "clarity_release", "--repo", str(repo), "--dry-run"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "ci" / "src"), "PATH": str(tmp_path)},
        check=False,
    )
    assert result.returncode != 0
    assert "git is not installed or not on PATH; install git" in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    (repo / "CHANGELOG.md").write_text("changed, not committed\n")
    result = release_cli(repo, "--debug")
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: ")
