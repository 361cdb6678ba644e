"""Bounded retries of one API call, each retry told to whoever listens.

google-api-core's own retry wrappers retry silently (``ServiceUnavailable`` on reads, by
default). The delivery library turns them off (``retry=None`` on every call) and retries here
instead, so that each retry is a progress event: what failed, attempt *n* of *m*, the next wait.
The backoff is google-api-core's: exponential with a cap, jittered.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Attempts", "RetryNotice", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for transient API failures."""

    attempts: int = 5
    initial: float = 0.5
    maximum: float = 8.0
    multiplier: float = 2.0

    def delays(self) -> list[float]:
        """The sleeps between attempts (``attempts - 1`` of them)."""
        out, delay = [], self.initial
        for _ in range(self.attempts - 1):
            out.append(min(delay, self.maximum) * (0.8 + 0.4 * random.random()))  # noqa: S311  # nosec B311 - backoff jitter, not security
            delay *= self.multiplier
        return out


@dataclass(frozen=True, kw_only=True)
class RetryNotice:
    """One failed attempt that will be retried."""

    what: str
    error: str
    attempt: int
    attempts: int
    wait_seconds: float

    def describe(self) -> str:
        """``update service x: 503 unavailable; attempt 1 of 5 failed, retrying in 0.5s``."""
        return (
            f"{self.what}: {self.error}; attempt {self.attempt} of {self.attempts} failed, "
            f"retrying in {self.wait_seconds:.1f}s"
        )


class Attempts:
    """The attempts of one call: how many are left, and what to do after each failure."""

    def __init__(
        self,
        what: str,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None],
        notify: Callable[[RetryNotice], None],
    ) -> None:
        self.what = what
        self._delays = policy.delays()
        self._total = policy.attempts
        self._sleep = sleep
        self._notify = notify
        self.made = 1

    def retry_after(self, error: str) -> bool:
        """After a transient failure: report it and wait, or False when none are left."""
        if not self._delays:
            return False
        wait = self._delays.pop(0)
        self._notify(
            RetryNotice(
                what=self.what,
                error=error,
                attempt=self.made,
                attempts=self._total,
                wait_seconds=wait,
            )
        )
        self._sleep(wait)
        self.made += 1
        return True
