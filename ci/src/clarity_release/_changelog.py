"""Keep a Changelog files: move ``[Unreleased]`` into a new version section.

The new section holds, per heading, the entries people wrote under ``[Unreleased]`` (verbatim,
first) followed by the entries generated from the commits. A generated entry is left out when
an ``[Unreleased]`` entry of the same heading already mentions its description, so a change
described by hand is not listed twice. Headings follow the Keep a Changelog order; headings the
format does not define (e.g. ``### Notes``) keep their place after them. ``[Unreleased]`` is
left empty. Compare links at the bottom (``[Unreleased]: .../compare/vA...HEAD``) are moved on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from clarity_release._commits import SECTION_ORDER, Commit
from clarity_release._errors import ChangelogFormatError
from clarity_release._version import Version

__all__ = ["ChangelogUpdate", "render_release", "unreleased_has_entries"]

_UNRELEASED = re.compile(r"^## \[Unreleased\]\s*$", re.IGNORECASE)
_SECTION = re.compile(r"^## ")
_HEADING = re.compile(r"^### +(?P<name>.+?)\s*$")
_LINK_DEF = re.compile(r"^\[[^\]]+\]: ")
_UNRELEASED_LINK = re.compile(
    r"^\[Unreleased\]:\s*(?P<base>\S+/compare/)(?P<previous>\S+)\.\.\.HEAD\s*$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class ChangelogUpdate:
    """The new version's section and the whole changelog text with it in place."""

    section: str
    text: str


@dataclass(slots=True)
class _Unreleased:
    preamble: list[str] = field(default_factory=list)
    headings: dict[str, list[str]] = field(default_factory=dict)

    def has_entries(self) -> bool:
        return any(line.strip() for line in self.preamble) or any(
            any(line.strip() for line in lines) for lines in self.headings.values()
        )


def _split(text: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """Split into (before Unreleased, Unreleased body, later sections, link definitions)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _UNRELEASED.match(line)), None)
    if start is None:
        msg = (
            "CHANGELOG.md has no '## [Unreleased]' heading; add one above the first version "
            "section (Keep a Changelog, https://keepachangelog.com/en/1.1.0/)"
        )
        raise ChangelogFormatError(msg)
    end = len(lines)
    for i in range(start + 1, len(lines)):
        if _SECTION.match(lines[i]) or _LINK_DEF.match(lines[i]):
            end = i
            break
    links_start = len(lines)
    while links_start > end and (
        _LINK_DEF.match(lines[links_start - 1]) or not lines[links_start - 1].strip()
    ):
        links_start -= 1
    return lines[:start], lines[start + 1 : end], lines[end:links_start], lines[links_start:]


def _parse_unreleased(body: Sequence[str]) -> _Unreleased:
    unreleased = _Unreleased()
    current: list[str] = unreleased.preamble
    for line in body:
        heading = _HEADING.match(line)
        if heading is not None:
            current = unreleased.headings.setdefault(heading["name"], [])
            continue
        current.append(line)
    return unreleased


def _trim(lines: Iterable[str]) -> list[str]:
    kept = list(lines)
    while kept and not kept[0].strip():
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    return kept


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _section_lines(unreleased: _Unreleased, commits: Sequence[Commit]) -> list[str]:
    generated: dict[str, list[Commit]] = {}
    for commit in commits:
        if commit.section is not None:
            generated.setdefault(commit.section, []).append(commit)
    names = [name for name in SECTION_ORDER if name in unreleased.headings or name in generated]
    names += [name for name in unreleased.headings if name not in SECTION_ORDER]
    out = _trim(unreleased.preamble)
    if out:
        out.append("")
    for name in names:
        written = _trim(unreleased.headings.get(name, []))
        known = _normalise("\n".join(written))
        added = [
            f"- {commit.entry}"
            for commit in generated.get(name, [])
            if _normalise(commit.description) not in known
        ]
        if not written and not added:
            continue
        out += [f"### {name}", "", *written, *added, ""]
    return _trim(out)


def _move_links(links: list[str], version: Version, previous_tag: str | None) -> list[str]:
    moved: list[str] = []
    for line in links:
        match = _UNRELEASED_LINK.match(line)
        if match is None:
            moved.append(line)
            continue
        base = match["base"]
        moved.append(f"[Unreleased]: {base}{version.tag}...HEAD")
        since = previous_tag or match["previous"]
        moved.append(f"[{version}]: {base}{since}...{version.tag}")
    return moved


def render_release(
    text: str,
    *,
    version: Version,
    released_on: date,
    commits: Sequence[Commit],
    previous_tag: str | None,
) -> ChangelogUpdate:
    """Return the changelog with ``[Unreleased]`` moved into a ``[version] - date`` section."""
    before, body, later, links = _split(text)
    unreleased = _parse_unreleased(body)
    heading = f"## [{version}] - {released_on.isoformat()}"
    section_body = _section_lines(unreleased, commits)
    section = "\n".join([heading, "", *section_body]) + "\n"
    parts = [*_trim(before), "", "## [Unreleased]", "", heading, "", *section_body]
    if _trim(later):
        parts += ["", *_trim(later)]
    if _trim(links):
        parts += ["", *_move_links(_trim(links), version, previous_tag)]
    return ChangelogUpdate(section=section, text="\n".join(parts) + "\n")


def unreleased_has_entries(text: str) -> bool:
    """Whether the ``[Unreleased]`` section lists anything (used when no commit bumps)."""
    _, body, _, _ = _split(text)
    return _parse_unreleased(body).has_entries()
