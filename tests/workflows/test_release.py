"""Release management against throwaway git repositories built with the real git."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from clarity_release import (
    Bump,
    ChangelogFormatError,
    DirtyWorkingTreeError,
    GitError,
    MalformedTagError,
    NothingToReleaseError,
    TagExistsError,
    UsageError,
    Version,
    apply_release,
    parse_commit,
    plan_release,
    version_from_ref,
)

from tests.workflows._support import ROOT

pytestmark = pytest.mark.workflows

DAY = date(2026, 3, 14)
CHANGELOG = """\
# Changelog

All notable changes to this project are documented here.

## [Unreleased]

### Added
- Canary rollouts for the API gateway,
  written by hand with a continuation line.

### Fixed
- Retry the health probe once before counting a failure.

## [1.2.3] - 2026-01-05

### Added
- The first release.

[Unreleased]: https://github.com/example/clarity/compare/v1.2.3...HEAD
[1.2.3]: https://github.com/example/clarity/releases/tag/v1.2.3
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit(repo: Path, message: str) -> str:
    """Commit a change to a file named after the commit count; return the SHA."""
    count = int(git(repo, "rev-list", "--count", "--all") or "0")
    (repo / f"change-{count}.txt").write_text(message, encoding="utf-8")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A git identity and no user or system configuration (hooks, signing) for every test."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Release Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "release@test.invalid")


def new_repo(path: Path, *, tag: str | None = "v1.2.3", changelog: str = CHANGELOG) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(path)], check=True)
    (path / "CHANGELOG.md").write_text(changelog, encoding="utf-8")
    commit(path, "chore: start the project")
    if tag is not None:
        git(path, "tag", "--annotate", tag, "--message", tag)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return new_repo(tmp_path / "repo")


def release_cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "ci" / "src")}
    return subprocess.run(
        [sys.executable, "-m", "clarity_release", "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


# ------------------------------------------------------------------- the next version


@pytest.mark.parametrize(
    ("tag", "messages", "expected"),
    [
        ("v1.2.3", ["fix: handle empty bodies"], "1.2.4"),
        ("v1.2.3", ["perf: cache the settings"], "1.2.4"),
        ("v1.2.3", ["fix: a", "feat(api): b", "docs: c"], "1.3.0"),
        ("v1.2.3", ["feat!: drop the v1 routes"], "2.0.0"),
        ("v1.2.3", ["fix: rename\n\nBREAKING CHANGE: payload is now data"], "2.0.0"),
        ("v1.2.3", ["refactor(core)!: split the gateway"], "2.0.0"),
        ("v0.3.1", ["feat!: drop the v1 routes"], "0.4.0"),
        ("v0.3.1", ["feat: add routes"], "0.4.0"),
        ("v0.3.1", ["fix: a route"], "0.3.2"),
        (None, ["feat: first feature"], "0.1.0"),
        (None, ["fix: first fix"], "0.0.1"),
    ],
)
def test_next_version_follows_the_commits(
    tmp_path: Path, tag: str | None, messages: list[str], expected: str
) -> None:
    repo = new_repo(tmp_path / "repo", tag=tag)
    for message in messages:
        commit(repo, message)
    assert str(plan_release(repo, released_on=DAY).version) == expected


def test_only_chores_with_unreleased_entries_make_a_patch_release(repo: Path) -> None:
    commit(repo, "chore: tidy")
    plan = plan_release(repo, released_on=DAY)
    assert plan.version == Version(1, 2, 4)
    assert plan.bump is Bump.PATCH


def test_release_as_leaves_0x(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo", tag="v0.9.0")
    commit(repo, "feat: stable api")
    assert plan_release(repo, released_on=DAY, release_as=Version(1, 0, 0)).tag == "v1.0.0"
    with pytest.raises(UsageError, match=r"--release-as 0\.9\.0 is not newer than v0\.9\.0"):
        plan_release(repo, released_on=DAY, release_as=Version(0, 9, 0))


# ------------------------------------------------------------------- the changelog section


def test_section_moves_unreleased_and_adds_the_commits(repo: Path) -> None:
    feat = commit(repo, "feat(gateway): blue-green switch for prod")
    fix = commit(repo, "fix: close the Firestore client on shutdown")
    commit(repo, "Merge branch 'x' without a conventional subject")
    commit(repo, "docs: explain rollbacks")
    breaking = commit(repo, "feat!: require a version label on every revision")
    security = commit(repo, "fix(security): reject unsigned images")
    commit(repo, "fix: retry the health probe once before counting a failure")

    plan = plan_release(repo, released_on=DAY)

    assert plan.version == Version(2, 0, 0)
    assert plan.section == (
        "## [2.0.0] - 2026-03-14\n"
        "\n"
        "### Added\n"
        "\n"
        "- Canary rollouts for the API gateway,\n"
        "  written by hand with a continuation line.\n"
        f"- **gateway:** blue-green switch for prod ({feat[:7]})\n"
        f"- **BREAKING:** require a version label on every revision ({breaking[:7]})\n"
        "\n"
        "### Fixed\n"
        "\n"
        "- Retry the health probe once before counting a failure.\n"
        f"- close the Firestore client on shutdown ({fix[:7]})\n"
        "\n"
        "### Security\n"
        "\n"
        f"- **security:** reject unsigned images ({security[:7]})\n"
    )
    assert plan.skipped == ("Merge branch 'x' without a conventional subject",)
    text = plan.changelog
    assert text.index("## [Unreleased]") < text.index("## [2.0.0]") < text.index("## [1.2.3]")
    unreleased = text[text.index("## [Unreleased]") : text.index("## [2.0.0]")]
    assert unreleased.strip() == "## [Unreleased]"
    assert text.count("Canary rollouts") == 1
    assert "[Unreleased]: https://github.com/example/clarity/compare/v2.0.0...HEAD" in text
    assert "[2.0.0]: https://github.com/example/clarity/compare/v1.2.3...v2.0.0" in text
    assert text.endswith("[1.2.3]: https://github.com/example/clarity/releases/tag/v1.2.3\n")


def test_breaking_footer_text_is_in_the_entry(repo: Path) -> None:
    sha = commit(repo, "fix(api): rename a field\n\nBREAKING CHANGE: payload is now data")
    section = plan_release(repo, released_on=DAY).section
    assert f"- **BREAKING:** **api:** rename a field: payload is now data ({sha[:7]})" in section


# ------------------------------------------------------------------- dry run and apply


def test_dry_run_prints_the_version_and_section_and_changes_nothing(repo: Path) -> None:
    commit(repo, "feat: add the ml health endpoint")
    before = (git(repo, "rev-parse", "HEAD"), (repo / "CHANGELOG.md").read_text(), git(repo, "tag"))

    result = release_cli(repo, "--dry-run")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("next version: 1.3.0 (minor; 1 conventional commit(s)")
    assert "tag: v1.3.0" in result.stdout
    assert "## [1.3.0] - " in result.stdout
    assert "- add the ml health endpoint (" in result.stdout
    assert "(dry run: nothing was changed)" in result.stdout
    after = (git(repo, "rev-parse", "HEAD"), (repo / "CHANGELOG.md").read_text(), git(repo, "tag"))
    assert after == before
    assert git(repo, "status", "--porcelain") == ""


def test_release_commits_the_changelog_and_creates_an_annotated_tag(repo: Path) -> None:
    commit(repo, "feat: add the ml health endpoint")

    result = release_cli(repo)

    assert result.returncode == 0, result.stderr
    assert "released v1.3.0" in result.stdout
    assert git(repo, "log", "-1", "--format=%s") == "chore(release): v1.3.0"
    assert git(repo, "cat-file", "-t", "v1.3.0") == "tag"
    assert git(repo, "rev-parse", "v1.3.0^{commit}") == git(repo, "rev-parse", "HEAD")
    message = git(repo, "tag", "--list", "--format=%(contents)", "v1.3.0")
    assert message.startswith("v1.3.0\n\n## [1.3.0] - ")
    assert "### Added" in message
    changelog = (repo / "CHANGELOG.md").read_text()
    assert "## [1.3.0] - " in changelog
    assert git(repo, "show", "HEAD:CHANGELOG.md") + "\n" == changelog
    assert git(repo, "status", "--porcelain") == ""
    again = release_cli(repo)
    assert again.returncode == 4
    assert "no commits since v1.3.0" in again.stderr


def test_apply_refuses_when_the_tree_changed_after_planning(repo: Path) -> None:
    commit(repo, "fix: a")
    plan = plan_release(repo, released_on=DAY)
    (repo / "CHANGELOG.md").write_text("edited meanwhile\n", encoding="utf-8")
    with pytest.raises(DirtyWorkingTreeError, match="plan the release again"):
        apply_release(plan)


# ------------------------------------------------------------------- clear errors


def test_dirty_tree_is_refused_but_a_dry_run_is_allowed(repo: Path) -> None:
    commit(repo, "fix: a")
    (repo / "change-1.txt").write_text("uncommitted", encoding="utf-8")
    result = release_cli(repo)
    assert result.returncode == 3
    assert "uncommitted changes in tracked files: change-1.txt" in result.stderr
    assert "commit or stash them" in result.stderr
    assert release_cli(repo, "--dry-run").returncode == 0


def test_untracked_files_do_not_make_the_tree_dirty(repo: Path) -> None:
    commit(repo, "fix: a")
    (repo / "notes.txt").write_text("scratch", encoding="utf-8")
    assert plan_release(repo, released_on=DAY).version == Version(1, 2, 4)


def test_no_commits_since_the_tag(repo: Path) -> None:
    with pytest.raises(NothingToReleaseError, match=r"no commits since v1\.2\.3"):
        plan_release(repo)


def test_no_release_worthy_commits_and_empty_unreleased(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo", changelog="# Changelog\n\n## [Unreleased]\n")
    commit(repo, "docs: typo")
    result = release_cli(repo)
    assert result.returncode == 4
    assert "nothing to release" in result.stderr
    assert "is a feat, fix, perf or breaking change" in result.stderr


@pytest.mark.parametrize("tag", ["v1.2", "v1.2.3-rc.1", "v01.2.3"])
def test_malformed_last_tag(tmp_path: Path, tag: str) -> None:
    repo = new_repo(tmp_path / "repo", tag=tag)
    commit(repo, "fix: a")
    with pytest.raises(MalformedTagError, match=re.escape(f"the last version tag '{tag}'")):
        plan_release(repo)
    result = release_cli(repo)
    assert result.returncode == 5
    assert "is not of the form vMAJOR.MINOR.PATCH" in result.stderr


def test_changelog_without_unreleased(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo", changelog="# Changelog\n\n## [1.2.3] - 2026-01-05\n")
    commit(repo, "fix: a")
    with pytest.raises(ChangelogFormatError, match=r"no '## \[Unreleased\]' heading"):
        plan_release(repo)
    assert release_cli(repo).returncode == 7


def test_missing_changelog(repo: Path) -> None:
    git(repo, "rm", "--quiet", "CHANGELOG.md")
    git(repo, "commit", "--quiet", "--message", "fix: drop the changelog")
    with pytest.raises(ChangelogFormatError, match="does not exist"):
        plan_release(repo)


def test_existing_tag_for_the_next_version(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "-b", "other")
    commit(repo, "fix: elsewhere")
    git(repo, "tag", "v1.2.4")
    git(repo, "checkout", "--quiet", "main")
    commit(repo, "fix: here")
    with pytest.raises(TagExistsError, match=r"tag v1\.2\.4 already exists"):
        plan_release(repo)


def test_not_a_git_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="is not a git working tree"):
        plan_release(tmp_path)
    result = release_cli(tmp_path)
    assert result.returncode == 6
    assert "Traceback" not in result.stderr


def test_bad_release_as_is_a_usage_error(repo: Path) -> None:
    commit(repo, "fix: a")
    result = release_cli(repo, "--release-as", "2.0")
    assert result.returncode == 2
    assert "--release-as: '2.0' is not a version of the form MAJOR.MINOR.PATCH" in result.stderr


# ------------------------------------------------------------------- versions and refs


@pytest.mark.parametrize(
    ("ref", "version"),
    [
        ("refs/tags/v1.4.0", "1.4.0"),
        ("refs/heads/release/1.4.0", "1.4.0"),
        ("refs/heads/release/v2.0.10", "2.0.10"),
    ],
)
def test_ref_version(ref: str, version: str) -> None:
    assert str(version_from_ref(ref)) == version
    result = subprocess.run(
        [sys.executable, "-m", "clarity_release", "ref-version", ref],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "ci" / "src")},
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, f"{version}\n")


@pytest.mark.parametrize(
    "ref", ["refs/heads/main", "refs/tags/v1.4", "refs/heads/release/next", "v1.4.0"]
)
def test_ref_without_a_release_version(ref: str) -> None:
    with pytest.raises(ValueError, match="names no release"):
        version_from_ref(ref)
    result = subprocess.run(
        [sys.executable, "-m", "clarity_release", "ref-version", ref],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "ci" / "src")},
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""


def test_parse_commit() -> None:
    parsed = parse_commit("a" * 40, "feat(api)!: drop v1\n\nbody\n\nBREAKING CHANGE: gone")
    assert parsed is not None
    assert (parsed.type, parsed.scope, parsed.description) == ("feat", "api", "drop v1")
    assert parsed.breaking == "gone"
    assert parse_commit("b" * 40, "Update README") is None
    assert parse_commit("c" * 40, "feat:missing space") is None
    chore = parse_commit("d" * 40, "chore: bump")
    assert chore is not None
    assert (chore.bump, chore.section) == (Bump.NONE, None)


def test_version_parse_and_bump() -> None:
    assert Version.parse("1.10.0") > Version.parse("1.9.9")
    assert Version(1, 4, 2).bump(Bump.MAJOR) == Version(2, 0, 0)
    assert Version(1, 4, 2).bump(Bump.NONE) == Version(1, 4, 2)
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR\.PATCH"):
        Version.parse("1.2.3.4")
