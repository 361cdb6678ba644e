"""Cloud Run's request metrics, computed from what the proxies really served.

:class:`RequestMetrics` is a proxy observer: every request that reached a revision (a guard's
refusal did not, as Cloud Run does not count requests that never reach an instance) becomes a
:class:`Served` sample, from which the Monitoring double computes
``run.googleapis.com/request_count`` (by ``response_code`` and ``response_code_class``) and
``run.googleapis.com/request_latencies`` (a distribution in milliseconds).

Cloud Monitoring shows a sample some time after it happened; :meth:`RequestMetrics.visible`
leaves out what is younger than the ingestion delay, which is how the delay is mirrored.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ._proxy_hooks import ProxyRecord

__all__ = ["RequestMetrics", "Served"]


@dataclass(frozen=True)
class Served:
    """One request a revision answered."""

    service: str  # the service id (short name)
    revision: str
    status: int
    at: float  # time.time() when the answer was ready
    latency_ms: float

    @property
    def code_class(self) -> str:
        """``2xx``, ``4xx``, ``5xx``...: Cloud Run's ``response_code_class`` label."""
        return f"{self.status // 100}xx"


class RequestMetrics:
    """Every request that reached a revision, in the order answered (a proxy observer)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: list[Served] = []

    def served(self, record: ProxyRecord) -> None:
        if record.revision is None:
            return
        sample = Served(
            service=record.service,
            revision=record.revision,
            status=record.status,
            at=record.at,
            latency_ms=record.duration * 1000,
        )
        with self._lock:
            self._samples.append(sample)

    def visible(self, now: float, delay: float) -> list[Served]:
        """The samples Monitoring would show at ``now`` with an ingestion delay of ``delay``."""
        horizon = now - delay
        with self._lock:
            return [s for s in self._samples if s.at <= horizon]
