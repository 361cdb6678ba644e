"""Terraform's provider version constraints (``>= 6.14.0, < 7.0.0``, ``~> 6.14``), evaluated."""

from __future__ import annotations

import re

__all__ = ["allows"]

_PART = re.compile(r"(?P<op>=|!=|>=|<=|>|<|~>)?\s*v?(?P<version>\d+(?:\.\d+){0,2})")


def _parse(version: str) -> tuple[int, ...]:
    numbers = tuple(int(n) for n in version.split("."))
    return numbers + (0,) * (3 - len(numbers))


def allows(constraint: str, version: str) -> bool | None:
    """Whether version satisfies constraint; None if the constraint cannot be read."""
    have = _parse(version)
    for part in filter(None, (p.strip() for p in constraint.split(","))):
        match = _PART.fullmatch(part)
        if match is None:
            return None
        written = match["version"].split(".")
        want = _parse(match["version"])
        operator = match["op"] or "="
        if operator == "~>":
            # Only the right-most written component may grow: ~> 6.14 is >= 6.14, < 7.
            fixed = len(written) - 1
            ok = have >= want and have[:fixed] == want[:fixed]
        else:
            ok = {
                "=": have == want,
                "!=": have != want,
                ">": have > want,
                ">=": have >= want,
                "<": have < want,
                "<=": have <= want,
            }[operator]
        if not ok:
            return False
    return True
