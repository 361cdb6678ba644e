"""What the double saw: every API call and every request through a service or tag URL.

Both logs are appended before the answer is sent, so a test that got an answer also finds
its record.
"""

from __future__ import annotations

import threading

from ._api import ApiRecord
from ._proxy_hooks import ProxyRecord

__all__ = ["ApiLog", "ProxyLog"]


class ApiLog:
    """Every API call answered, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[ApiRecord] = []

    def append(self, record: ApiRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[ApiRecord]:
        with self._lock:
            return list(self._records)


class ProxyLog:
    """Every request the proxies answered, in order: a proxy observer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[ProxyRecord] = []

    def served(self, record: ProxyRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[ProxyRecord]:
        with self._lock:
            return list(self._records)

    def last_audience(self) -> str | None:
        """The ``aud`` of the last bearer JWT seen, if any."""
        with self._lock:
            for record in reversed(self._records):
                if record.audience is not None:
                    return record.audience
            return None
