"""The few git commands a release needs, run as real ``git`` processes."""

from __future__ import annotations

import shutil
import subprocess  # nosec B404 - runs git with argv lists only
from dataclasses import dataclass
from pathlib import Path

from clarity_release._errors import GitError

__all__ = ["Git"]

_RECORD = "\x1e"
_FIELD = "\x1f"


@dataclass(frozen=True, slots=True)
class Git:
    """A git working tree; every method maps a failing command to :class:`GitError`."""

    root: Path
    executable: str

    @classmethod
    def open(cls, path: Path) -> Git:
        """Find git on PATH and the top of the working tree that contains ``path``."""
        executable = shutil.which("git")
        if executable is None:
            msg = "git is not installed or not on PATH; install git and run the release again"
            raise GitError(msg)
        probe = cls(root=path, executable=executable)
        top = probe.run("rev-parse", "--show-toplevel", what=f"{path} is not a git working tree")
        return cls(root=Path(top), executable=executable)

    def run(self, *args: str, what: str, strip: bool = True) -> str:
        """Run ``git -C root ARGS``; return its stdout (stripped unless ``strip`` is False).

        A non-zero exit raises :class:`GitError` with ``what`` and git's own message.
        """
        result = subprocess.run(  # noqa: S603  # nosec B603 - fixed executable, never a shell
            [self.executable, "-C", str(self.root), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            detail = result.stderr.strip() or result.stdout.strip()
            msg = f"{what}: git {' '.join(args)} failed: {detail}"
            raise GitError(msg)
        return result.stdout.strip() if strip else result.stdout

    def ok(self, *args: str) -> bool:
        """Whether ``git ARGS`` exits 0 (for questions like 'does this ref exist?')."""
        result = subprocess.run(  # noqa: S603  # nosec B603 - fixed executable, never a shell
            [self.executable, "-C", str(self.root), *args],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def has_head(self) -> bool:
        """Whether the repository has at least one commit."""
        return self.ok("rev-parse", "--verify", "--quiet", "HEAD^{commit}")

    def nearest_version_tag(self) -> str | None:
        """The nearest tag reachable from HEAD whose name starts with ``v`` and a digit."""
        reachable = self.run(
            "tag", "--merged", "HEAD", "--list", "v[0-9]*", what="cannot list the tags"
        )
        if not reachable:
            return None
        return self.run(
            "describe", "--tags", "--abbrev=0", "--match", "v[0-9]*", "HEAD",
            what="cannot find the last version tag",
        )  # fmt: skip

    def commits_since(self, tag: str | None) -> list[tuple[str, str]]:
        """(sha, full message) of every commit after ``tag`` up to HEAD, oldest first."""
        revision = f"{tag}..HEAD" if tag else "HEAD"
        out = self.run(
            "log", "--reverse", f"--format=%H{_FIELD}%B{_RECORD}", revision,
            what="cannot read the commits since the last tag",
        )  # fmt: skip
        commits = []
        for record in out.split(_RECORD):
            sha, _, message = record.strip().partition(_FIELD)
            if sha:
                commits.append((sha, message))
        return commits

    def changed_tracked_files(self) -> list[str]:
        """Tracked files with staged or unstaged changes (untracked files do not count)."""
        out = self.run(
            "status", "--porcelain=v1", "--untracked-files=no", what="cannot read the status",
            strip=False,
        )  # fmt: skip
        return [line[3:] for line in out.splitlines() if line.strip()]

    def tag_exists(self, tag: str) -> bool:
        """Whether ``refs/tags/<tag>`` exists."""
        return self.ok("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}")
