"""A bounded load generator: real requests through service URLs while a rollout runs.

Loopback only (any other host is refused), and bounded three ways: a request rate, a total
number of requests and a wall-clock limit, whichever comes first; it also stops when its
``with`` block ends.

The load is open: each request leaves at its time whatever the answers before it take, as
users' requests do. Slow answers (a latency fault, or a machine busy with other work that
slows every revision and emulator) must not lower the rate, or a metrics window would hold
fewer requests than the test sized it for; so the requests in flight are bounded by
:data:`IN_FLIGHT_SECONDS` of the rate (threads and connections are made only as needed), not
by a small fixed pool.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["Load", "Target"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
IN_FLIGHT_SECONDS = 3.0
"""How many seconds of requests may be in flight at once (answers up to that slow keep the
rate)."""


@dataclass(frozen=True)
class Target:
    """One kind of request: ``method`` to ``url()`` (read at send time: URLs may change),
    with ``headers`` (an ID token where the service wants one)."""

    method: str
    url: Callable[[], str]
    body: Callable[[], Any] | None = None
    weight: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Load:
    """Sends ``rate`` requests per second over ``targets`` (by weight) until stopped or bounded."""

    targets: Sequence[Target]
    rate: float
    max_requests: int = 10_000
    max_seconds: float = 120.0
    headers: dict[str, str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self.rate <= 0 or not self.targets:
            msg = "a load needs targets and a positive rate"
            raise ValueError(msg)
        for target in self.targets:
            _loopback(target.url())
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        weighted = [t for t in self.targets for _ in range(t.weight)]
        deadline = time.monotonic() + self.max_seconds
        started = time.monotonic()
        in_flight = max(8, math.ceil(self.rate * IN_FLIGHT_SECONDS))
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        with (
            httpx.Client(headers=self.headers, timeout=10, limits=limits) as client,
            ThreadPoolExecutor(max_workers=in_flight) as pool,
        ):
            for n, target in enumerate(itertools.cycle(weighted)):
                if self._stop.is_set() or n >= self.max_requests or time.monotonic() > deadline:
                    break
                self.sent = n + 1
                pool.submit(self._send, client, target)
                pause = started + (n + 1) / self.rate - time.monotonic()
                if pause > 0:
                    self._stop.wait(pause)

    def _send(self, client: httpx.Client, target: Target) -> None:
        url = _loopback(target.url())
        body = target.body() if target.body is not None else None
        try:
            status = client.request(
                target.method, url, json=body, headers=dict(target.headers)
            ).status_code
        except httpx.HTTPError:
            status = 0
        with self._lock:
            self.statuses[status] += 1


def _loopback(url: str) -> str:
    if urlsplit(url).hostname not in _LOOPBACK:
        msg = f"load is for loopback addresses only, not {url}"
        raise ValueError(msg)
    return url
