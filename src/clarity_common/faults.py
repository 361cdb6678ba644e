"""The ``CLARITY_FAULT`` flag: make a service fail on purpose so deploy tests can roll back.

Grammar (exact):

* unset or empty: healthy;
* ``crash-on-start``: the process exits non-zero during startup, before it serves anything;
* ``health-500``: ``GET /health`` answers 500;
* ``health-500-after=N``: the first N requests to ``/health`` answer 200, every later one 500
  (counted per process).

Anything else is rejected: a typo must not silently deploy a healthy release that a rollback
test then fails to catch.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["FAULT_GRAMMAR", "Fault", "FaultKind", "parse_fault"]

FAULT_GRAMMAR = "crash-on-start, health-500 or health-500-after=N (N a whole number)"

_AFTER = re.compile(r"health-500-after=(?P<count>[0-9]{1,9})")


class FaultKind(enum.Enum):
    """What the flag asks for."""

    NONE = "none"
    CRASH_ON_START = "crash-on-start"
    HEALTH_500 = "health-500"
    HEALTH_500_AFTER = "health-500-after"


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A parsed ``CLARITY_FAULT`` value."""

    kind: FaultKind = FaultKind.NONE
    healthy_requests: int = 0

    @property
    def crashes_on_start(self) -> bool:
        """True when the process must refuse to start."""
        return self.kind is FaultKind.CRASH_ON_START

    def health_fails(self, request_number: int) -> bool:
        """Whether the ``request_number``-th ``/health`` request (1-based) answers 500."""
        if self.kind is FaultKind.HEALTH_500:
            return True
        if self.kind is FaultKind.HEALTH_500_AFTER:
            return request_number > self.healthy_requests
        return False

    def __str__(self) -> str:
        if self.kind is FaultKind.NONE:
            return ""
        if self.kind is FaultKind.HEALTH_500_AFTER:
            return f"health-500-after={self.healthy_requests}"
        return str(self.kind.value)


def parse_fault(raw: str | None) -> Fault:
    """Parse a ``CLARITY_FAULT`` value; raise ``ValueError`` saying what is accepted."""
    if raw is None or raw == "":
        return Fault()
    if raw == FaultKind.CRASH_ON_START.value:
        return Fault(kind=FaultKind.CRASH_ON_START)
    if raw == FaultKind.HEALTH_500.value:
        return Fault(kind=FaultKind.HEALTH_500)
    match = _AFTER.fullmatch(raw)
    if match is not None:
        return Fault(kind=FaultKind.HEALTH_500_AFTER, healthy_requests=int(match["count"]))
    msg = f"CLARITY_FAULT={raw!r} is not a known fault: use {FAULT_GRAMMAR}, or leave it unset"
    raise ValueError(msg)
