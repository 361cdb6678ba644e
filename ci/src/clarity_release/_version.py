"""Semantic versions and the bump rules."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["Bump", "Version", "version_from_ref"]

_CORE = r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
_VERSION = re.compile(rf"^{_CORE}$")
_TAG = re.compile(rf"^v{_CORE}$")
_REF = re.compile(rf"^refs/(?:tags/v|heads/release/v?){_CORE}$")


class Bump(enum.IntEnum):
    """How much a set of changes moves the version; ordered so ``max()`` picks the largest."""

    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3


@dataclass(frozen=True, order=True, slots=True)
class Version:
    """A ``MAJOR.MINOR.PATCH`` version (no pre-release or build parts)."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``X.Y.Z``; raise ``ValueError`` naming the expected form otherwise."""
        match = _VERSION.match(text)
        if match is None:
            msg = f"{text!r} is not a version of the form MAJOR.MINOR.PATCH (e.g. 1.4.0)"
            raise ValueError(msg)
        return cls(*(int(part) for part in match.groups()))

    @classmethod
    def from_tag(cls, tag: str) -> Version | None:
        """Return the version a ``vX.Y.Z`` tag names, or ``None`` for any other tag."""
        match = _TAG.match(tag)
        return None if match is None else cls(*(int(part) for part in match.groups()))

    @property
    def tag(self) -> str:
        """The git tag for this version (``vX.Y.Z``)."""
        return f"v{self}"

    def bump(self, level: Bump) -> Version:
        """Return the next version for ``level``.

        Before 1.0.0 the public API is not yet stable (SemVer item 4), so a breaking change
        bumps the minor version, like a feature: 0.3.1 + breaking -> 0.4.0, + feat -> 0.4.0,
        + fix -> 0.3.2. Leaving 0.x is a decision a person makes with ``--release-as 1.0.0``.
        """
        if level is Bump.NONE:
            return self
        if level is Bump.MAJOR and self.major == 0:
            level = Bump.MINOR
        if level is Bump.MAJOR:
            return Version(self.major + 1, 0, 0)
        if level is Bump.MINOR:
            return Version(self.major, self.minor + 1, 0)
        return Version(self.major, self.minor, self.patch + 1)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def version_from_ref(ref: str) -> Version:
    """The release version a git ref names: ``refs/tags/vX.Y.Z`` or ``refs/heads/release/X.Y.Z``.

    Raises ``ValueError`` for any other ref, so a workflow never deploys an unnamed version.
    """
    match = _REF.match(ref)
    if match is None:
        msg = f"{ref!r} names no release: expected refs/tags/vX.Y.Z or refs/heads/release/X.Y.Z"
        raise ValueError(msg)
    return Version(*(int(part) for part in match.groups()))
