"""Errors raised by the release tooling.

Every failure a person can cause or fix is a :class:`ReleaseError` with its own exit code and a
message that says what happened and what to do::

    ReleaseError (1)
    ├── UsageError (2)              bad command-line input (e.g. --release-as not newer)
    ├── DirtyWorkingTreeError (3)        tracked files have uncommitted changes
    ├── NothingToReleaseError (4)        no commits since the last tag, or none worth a release
    ├── MalformedTagError (5)            the nearest ``v*`` tag is not ``vX.Y.Z``
    ├── GitError (6)               git is missing or a git command failed
    ├── ChangelogFormatError (7)    CHANGELOG.md is missing or has no ``## [Unreleased]``
    └── TagExistsError (8)               the tag for the next version already exists
"""

from __future__ import annotations

__all__ = [
    "ChangelogFormatError",
    "DirtyWorkingTreeError",
    "GitError",
    "MalformedTagError",
    "NothingToReleaseError",
    "ReleaseError",
    "TagExistsError",
    "UsageError",
]


class ReleaseError(Exception):
    """Root of the release errors; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(ReleaseError):
    """The command line asked for something impossible."""

    exit_code = 2


class DirtyWorkingTreeError(ReleaseError):
    """Tracked files have uncommitted changes, so a release commit would mix them in."""

    exit_code = 3


class NothingToReleaseError(ReleaseError):
    """There is nothing since the last tag that a release would contain."""

    exit_code = 4


class MalformedTagError(ReleaseError):
    """A version tag does not have the ``vMAJOR.MINOR.PATCH`` form."""

    exit_code = 5


class GitError(ReleaseError):
    """git is not installed or one of its commands failed."""

    exit_code = 6


class ChangelogFormatError(ReleaseError):
    """CHANGELOG.md cannot be updated because it is missing or not in Keep a Changelog form."""

    exit_code = 7


class TagExistsError(ReleaseError):
    """The tag the release would create is already there."""

    exit_code = 8
