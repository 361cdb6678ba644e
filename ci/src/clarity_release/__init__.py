"""Release management from conventional commits: next version, changelog section, annotated tag.

Plain Python with no dependency beyond the standard library and a ``git`` executable, so the
same code runs on a workstation (``make release``), in the Dagger ``release`` function and in
a workflow step (``python3 -m clarity_release ref-version "$GITHUB_REF"``)::

    plan = plan_release(Path("."))          # changes nothing
    print(plan.version, plan.section)
    apply_release(plan)                     # CHANGELOG.md, commit, annotated tag vX.Y.Z

Errors: see :mod:`clarity_release._errors` (``ReleaseError`` and its subclasses).
"""

from __future__ import annotations

from clarity_release._commits import Commit, parse_commit
from clarity_release._errors import (
    ChangelogFormatError,
    DirtyWorkingTreeError,
    GitError,
    MalformedTagError,
    NothingToReleaseError,
    ReleaseError,
    TagExistsError,
    UsageError,
)
from clarity_release._release import ReleasePlan, apply_release, plan_release
from clarity_release._version import Bump, Version, version_from_ref

__all__ = [
    "Bump",
    "ChangelogFormatError",
    "Commit",
    "DirtyWorkingTreeError",
    "GitError",
    "MalformedTagError",
    "NothingToReleaseError",
    "ReleaseError",
    "ReleasePlan",
    "TagExistsError",
    "UsageError",
    "Version",
    "apply_release",
    "parse_commit",
    "plan_release",
    "version_from_ref",
]
