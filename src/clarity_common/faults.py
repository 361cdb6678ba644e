"""The ``CLARITY_FAULT`` flag: make a service fail on purpose so deploy tests can roll back.

Grammar (exact):

* unset or empty: healthy;
* ``crash-on-start``: the process exits non-zero during startup, before it serves anything;
* ``health-500``: ``GET /health`` answers 500;
* ``health-500-after=N``: the first N requests to ``/health`` answer 200, every later one 500
  (counted per process).

Faults the health checks cannot see (``/health`` and the other ``GET .../health`` endpoints
keep answering normally), which only an analysis of real traffic catches:

* ``ingest-500``: ``POST /v1/healthkit/samples`` answers 500 (the gateway's ingestion; the ML
  service has no such endpoint and is unaffected);
* ``error-rate=F``: a fraction F (``0 < F <= 1``, a decimal such as ``0.03``) of the requests
  to every other endpoint answers 500, spread evenly and deterministically: request k fails
  when ``floor(k * F)`` moves up (counted per process), so any 100 requests hold ``100 * F``
  failures, give or take one;
* ``latency=MS``: every request, health included, is answered MS milliseconds later
  (``0 < MS <= 60000``); the answer itself is unchanged, so only latency figures show it.

Anything else is rejected: a typo must not silently deploy a healthy release that a rollback
test then fails to catch.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass

__all__ = ["FAULT_GRAMMAR", "INGESTION_PATH", "Fault", "FaultKind", "is_health_path", "parse_fault"]

FAULT_GRAMMAR = (
    "crash-on-start, health-500, health-500-after=N (N a whole number), ingest-500, "
    "error-rate=F (0 < F <= 1, e.g. 0.03) or latency=MS (1 to 60000 milliseconds)"
)

INGESTION_PATH = "/v1/healthkit/samples"
"""The gateway's ingestion endpoint, the one ``ingest-500`` breaks."""

_AFTER = re.compile(r"health-500-after=(?P<count>[0-9]{1,9})")
_RATE = re.compile(r"error-rate=(?P<rate>(?:0|1)?\.[0-9]{1,6}|1|1\.0{1,6})")
_LATENCY = re.compile(r"latency=(?P<ms>[1-9][0-9]{0,4})")
_MAX_LATENCY_MS = 60_000


class FaultKind(enum.Enum):
    """What the flag asks for."""

    NONE = "none"
    CRASH_ON_START = "crash-on-start"
    HEALTH_500 = "health-500"
    HEALTH_500_AFTER = "health-500-after"
    INGEST_500 = "ingest-500"
    ERROR_RATE = "error-rate"
    LATENCY = "latency"


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A parsed ``CLARITY_FAULT`` value."""

    kind: FaultKind = FaultKind.NONE
    healthy_requests: int = 0
    error_rate: float = 0.0
    latency_ms: int = 0

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

    def request_fails(self, method: str, path: str, request_number: int) -> bool:
        """Whether a request that is not a health check answers 500.

        ``request_number`` is the 1-based count of such requests in this process; only
        ``error-rate`` uses it.
        """
        if self.kind is FaultKind.INGEST_500:
            return method == "POST" and path == INGESTION_PATH
        if self.kind is FaultKind.ERROR_RATE:
            n = request_number
            return math.floor(n * self.error_rate) > math.floor((n - 1) * self.error_rate)
        return False

    @property
    def added_latency_seconds(self) -> float:
        """How much later every answer is sent."""
        return self.latency_ms / 1000 if self.kind is FaultKind.LATENCY else 0.0

    @property
    def affects_requests(self) -> bool:
        """Whether requests other than ``/health`` behave differently."""
        return self.kind in {FaultKind.INGEST_500, FaultKind.ERROR_RATE, FaultKind.LATENCY}

    def __str__(self) -> str:
        if self.kind is FaultKind.NONE:
            return ""
        if self.kind is FaultKind.HEALTH_500_AFTER:
            return f"health-500-after={self.healthy_requests}"
        if self.kind is FaultKind.ERROR_RATE:
            return f"error-rate={self.error_rate:g}"
        if self.kind is FaultKind.LATENCY:
            return f"latency={self.latency_ms}"
        return str(self.kind.value)


def is_health_path(path: str) -> bool:
    """Whether ``path`` is one of the health endpoints (``/health``, ``/health/database``,
    ``/ml/health``): what the health checks probe, and what ``error-rate`` spares."""
    return path == "/health" or path.startswith("/health/") or path.endswith("/health")


def parse_fault(raw: str | None) -> Fault:
    """Parse a ``CLARITY_FAULT`` value; raise ``ValueError`` saying what is accepted."""
    if raw is None or raw == "":
        return Fault()
    simple = {
        FaultKind.CRASH_ON_START.value: FaultKind.CRASH_ON_START,
        FaultKind.HEALTH_500.value: FaultKind.HEALTH_500,
        FaultKind.INGEST_500.value: FaultKind.INGEST_500,
    }
    if raw in simple:
        return Fault(kind=simple[raw])
    match = _AFTER.fullmatch(raw)
    if match is not None:
        return Fault(kind=FaultKind.HEALTH_500_AFTER, healthy_requests=int(match["count"]))
    match = _RATE.fullmatch(raw)
    if match is not None and 0 < float(match["rate"]) <= 1:
        return Fault(kind=FaultKind.ERROR_RATE, error_rate=float(match["rate"]))
    match = _LATENCY.fullmatch(raw)
    if match is not None and int(match["ms"]) <= _MAX_LATENCY_MS:
        return Fault(kind=FaultKind.LATENCY, latency_ms=int(match["ms"]))
    msg = f"CLARITY_FAULT={raw!r} is not a known fault: use {FAULT_GRAMMAR}, or leave it unset"
    raise ValueError(msg)
