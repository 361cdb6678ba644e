"""The rollout lease kept alive while a rollout waits: its heartbeat.

A rollout writes its lease with every traffic write (:class:`~.traffic.Hold`). Between writes
it waits: for the candidate to become Ready, between analysis rounds. :class:`Heartbeat` is
the ``sleep`` those waits use; while a rollout holds a service it renews the lease whenever a
quarter of it has gone by, so the lease can be short (``rollout.lease_seconds``, 60 s by
default) and a deployer that dies holds production for at most that long after its last
renewal, however long the analysis it was in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol, TypeVar

import anyio

__all__ = ["Heartbeat", "Renewable"]

_SHORTEST_SLEEP = 0.05


class Renewable(Protocol):
    """A lease that knows when it falls due (:class:`~.traffic.Hold`)."""

    def due_in(self) -> float:
        """Seconds until it should be renewed (0 or less: now)."""
        ...

    async def renew(self) -> None:
        """Renew it."""
        ...


R = TypeVar("R", bound=Renewable)


class Heartbeat:
    """A ``sleep`` that renews the lease of the hold in progress when it is due."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]] = anyio.sleep) -> None:
        self._sleep = sleep
        self._hold: Renewable | None = None

    @contextlib.contextmanager
    def keeping(self, hold: R) -> Iterator[R]:
        """Renew ``hold``'s lease in every wait inside the block."""
        self._hold = hold
        try:
            yield hold
        finally:
            self._hold = None

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, renewing the lease whenever it falls due meanwhile.

        The time a renewal takes is not taken off the sleep: a wait is at least as long as
        asked (and an injected fake ``sleep`` still ends).
        """
        left = seconds
        while True:
            hold = self._hold
            if hold is not None and hold.due_in() <= 0:
                await hold.renew()
            if left <= 0:
                return
            step = left if hold is None else min(left, max(hold.due_in(), _SHORTEST_SLEEP))
            await self._sleep(step)
            left -= step
