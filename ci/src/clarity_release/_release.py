"""Plan a release from the commits since the last tag, then write it: changelog, commit, tag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from clarity_release._changelog import render_release, unreleased_has_entries
from clarity_release._commits import Commit, parse_commit
from clarity_release._errors import (
    ChangelogFormatError,
    DirtyWorkingTreeError,
    MalformedTagError,
    NothingToReleaseError,
    TagExistsError,
    UsageError,
)
from clarity_release._git import Git
from clarity_release._version import Bump, Version

__all__ = ["CHANGELOG", "ReleasePlan", "apply_release", "plan_release"]

CHANGELOG = "CHANGELOG.md"
_FIRST_BASE = Version(0, 0, 0)


@dataclass(frozen=True, slots=True)
class ReleasePlan:
    """Everything a release will do, computed without changing anything."""

    root: Path
    previous_tag: str | None
    previous: Version
    version: Version
    bump: Bump
    commits: tuple[Commit, ...]
    skipped: tuple[str, ...]
    """Subjects of commits that are not conventional commits (left out of the changelog)."""
    released_on: date
    section: str
    changelog: str

    @property
    def tag(self) -> str:
        """The annotated tag the release creates."""
        return self.version.tag

    def summary(self) -> str:
        """One line that says what the release is and why."""
        since = self.previous_tag or "the first commit"
        counts = [f"{len(self.commits)} conventional commit(s) since {since}"]
        if self.skipped:
            counts.append(f"{len(self.skipped)} other commit(s) left out of the changelog")
        if self.bump is Bump.NONE:
            reason = "--release-as"
        elif self.bump is Bump.MAJOR and self.version.major == 0:
            reason = "minor: breaking changes before 1.0.0 bump the minor version"
        else:
            reason = self.bump.name.lower()
        return f"next version: {self.version} ({reason}; {', '.join(counts)})"


def _previous(git: Git) -> tuple[str | None, Version]:
    tag = git.nearest_version_tag()
    if tag is None:
        return None, _FIRST_BASE
    version = Version.from_tag(tag)
    if version is None:
        msg = (
            f"the last version tag {tag!r} is not of the form vMAJOR.MINOR.PATCH; tag the same "
            f"commit correctly (git tag -a vX.Y.Z {tag}^{{}}) and delete {tag!r} (git tag -d {tag})"
        )
        raise MalformedTagError(msg)
    return tag, version


def _read_commits(git: Git, previous_tag: str | None) -> tuple[list[Commit], list[str]]:
    raw = git.commits_since(previous_tag)
    if not raw:
        msg = f"no commits since {previous_tag}; there is nothing to release"
        raise NothingToReleaseError(msg)
    commits: list[Commit] = []
    skipped: list[str] = []
    for sha, message in raw:
        commit = parse_commit(sha, message)
        if commit is None:
            skipped.append(message.strip().partition("\n")[0])
        else:
            commits.append(commit)
    return commits, skipped


def _next_version(
    previous_tag: str | None,
    previous: Version,
    commits: list[Commit],
    *,
    release_as: Version | None,
    changelog: str,
) -> tuple[Version, Bump]:
    if release_as is not None:
        if release_as <= previous:
            msg = f"--release-as {release_as} is not newer than {previous_tag or previous}"
            raise UsageError(msg)
        return release_as, Bump.NONE
    bump = max((commit.bump for commit in commits), default=Bump.NONE)
    if bump is Bump.NONE:
        if not unreleased_has_entries(changelog):
            since = previous_tag or "the first commit"
            msg = (
                f"no commit since {since} is a feat, fix, perf or breaking change and "
                "[Unreleased] is empty: nothing to release (--release-as X.Y.Z releases anyway)"
            )
            raise NothingToReleaseError(msg)
        bump = Bump.PATCH
    return previous.bump(bump), bump


def plan_release(
    path: Path,
    *,
    released_on: date | None = None,
    release_as: Version | None = None,
    allow_dirty: bool = False,
) -> ReleasePlan:
    """Work out the next version and its changelog section for the repository at ``path``.

    The bump is the largest any conventional commit since the last ``vX.Y.Z`` tag asks for
    (breaking -> major, ``feat`` -> minor, ``fix``/``perf`` -> patch; see :meth:`Version.bump`
    for 0.x). With no tag yet, the history is measured from 0.0.0. When no commit asks for a
    bump but ``[Unreleased]`` lists entries, the release is a patch release.
    """
    git = Git.open(path)
    if not git.has_head():
        msg = f"{git.root} has no commits yet; commit something before releasing"
        raise NothingToReleaseError(msg)
    if not allow_dirty and (changed := git.changed_tracked_files()):
        msg = (
            f"uncommitted changes in tracked files: {', '.join(changed)}; "
            "commit or stash them, then release"
        )
        raise DirtyWorkingTreeError(msg)
    changelog_path = git.root / CHANGELOG
    if not changelog_path.is_file():
        msg = f"{changelog_path} does not exist; create it with a '## [Unreleased]' section"
        raise ChangelogFormatError(msg)
    text = changelog_path.read_text(encoding="utf-8")

    previous_tag, previous = _previous(git)
    commits, skipped = _read_commits(git, previous_tag)
    version, bump = _next_version(
        previous_tag, previous, commits, release_as=release_as, changelog=text
    )
    if git.tag_exists(version.tag):
        msg = f"tag {version.tag} already exists; delete it or release a different version"
        raise TagExistsError(msg)

    day = released_on or datetime.now(UTC).date()
    update = render_release(
        text, version=version, released_on=day, commits=commits, previous_tag=previous_tag
    )
    return ReleasePlan(
        root=git.root,
        previous_tag=previous_tag,
        previous=previous,
        version=version,
        bump=bump,
        commits=tuple(commits),
        skipped=tuple(skipped),
        released_on=day,
        section=update.section,
        changelog=update.text,
    )


def apply_release(plan: ReleasePlan) -> None:
    """Write CHANGELOG.md, commit it as ``chore(release): vX.Y.Z`` and create the annotated tag."""
    git = Git.open(plan.root)
    if changed := git.changed_tracked_files():
        msg = f"uncommitted changes appeared in {', '.join(changed)}; plan the release again"
        raise DirtyWorkingTreeError(msg)
    (git.root / CHANGELOG).write_text(plan.changelog, encoding="utf-8")
    git.run("add", "--", CHANGELOG, what="cannot stage CHANGELOG.md")
    git.run(
        "commit", "--quiet", "--message", f"chore(release): {plan.tag}", "--", CHANGELOG,
        what="cannot commit CHANGELOG.md (is user.name/user.email configured?)",
    )  # fmt: skip
    git.run(
        "tag", "--annotate", "--cleanup=whitespace", "--message", f"{plan.tag}\n\n{plan.section}",
        plan.tag,
        what=f"the release commit exists but the tag {plan.tag} could not be created; "
        f"create it with: git tag -a {plan.tag}",
    )  # fmt: skip
