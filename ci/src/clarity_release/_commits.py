"""Conventional commits: parse a commit message and decide what it means for a release."""

from __future__ import annotations

import re
from dataclasses import dataclass

from clarity_release._version import Bump

__all__ = ["SECTION_ORDER", "Commit", "parse_commit"]

_HEADER = re.compile(
    r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\r\n]+)\))?(?P<bang>!)?: (?P<description>\S.*)$"
)
_BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE: *(?P<text>.+)$", re.MULTILINE)

#: Keep a Changelog headings, in the order the format lists them.
SECTION_ORDER = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")

_SECTION_BY_TYPE = {"feat": "Added", "fix": "Fixed", "perf": "Changed", "revert": "Removed"}
_BUMP_BY_TYPE = {"feat": Bump.MINOR, "fix": Bump.PATCH, "perf": Bump.PATCH}


@dataclass(frozen=True, slots=True)
class Commit:
    """One conventional commit between the last tag and HEAD."""

    sha: str
    type: str
    scope: str | None
    description: str
    breaking: str | None
    """The breaking-change note (footer text, or the description for ``type!:``), else None."""

    @property
    def bump(self) -> Bump:
        """The version bump this commit asks for on its own."""
        if self.breaking is not None:
            return Bump.MAJOR
        return _BUMP_BY_TYPE.get(self.type, Bump.NONE)

    @property
    def section(self) -> str | None:
        """The changelog heading the commit belongs under, or None if it is not user-facing.

        ``feat`` -> Added, ``fix`` -> Fixed (``fix(security)`` -> Security), ``perf`` -> Changed,
        ``revert`` -> Removed; any other type appears only when it is breaking (-> Changed).
        """
        if self.type == "fix" and self.scope == "security":
            return "Security"
        section = _SECTION_BY_TYPE.get(self.type)
        if section is None and self.breaking is not None:
            return "Changed"
        return section

    @property
    def entry(self) -> str:
        """The changelog bullet text (without the leading ``- ``)."""
        scope = f"**{self.scope}:** " if self.scope else ""
        reference = f"({self.sha[:7]})"
        if self.breaking is None:
            return f"{scope}{self.description} {reference}"
        if self.breaking == self.description:
            return f"**BREAKING:** {scope}{self.description} {reference}"
        return f"**BREAKING:** {scope}{self.description}: {self.breaking} {reference}"


def parse_commit(sha: str, message: str) -> Commit | None:
    """Parse a commit message; return None when its subject is not a conventional commit."""
    subject, _, body = message.strip().partition("\n")
    match = _HEADER.match(subject.strip())
    if match is None:
        return None
    description = match["description"].strip()
    footer = _BREAKING_FOOTER.search(body)
    breaking: str | None = None
    if footer is not None:
        breaking = footer["text"].strip()
    elif match["bang"]:
        breaking = description
    return Commit(
        sha=sha,
        type=match["type"].lower(),
        scope=match["scope"].strip() if match["scope"] else None,
        description=description,
        breaking=breaking,
    )
