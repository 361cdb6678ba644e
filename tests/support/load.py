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

For the same reason it runs in a process of its own. In the test's process it would share one
interpreter lock with the Cloud Run double, its proxies and the CLI under test, and on a machine
whose cores other test workers share it fell to about two thirds of its rate. ``targets`` are
therefore plain data (a body may be a module-level function, called per request: a fresh
batch), and the counts come back when the load stops.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import multiprocessing.synchronize
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["Load", "Target"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
IN_FLIGHT_SECONDS = 3.0
"""How many seconds of requests may be in flight at once (answers up to that slow keep the
rate)."""
_STOP_SECONDS = 30.0
"""How long a stopped load may take to hand its counts back before its process is killed."""


@dataclass(frozen=True)
class Target:
    """One kind of request: ``method`` to ``url`` with ``body`` (a JSON value, or a module-level
    function returning one, called for each request) and ``headers`` (an ID token where the
    service wants one)."""

    method: str
    url: str
    body: Callable[[], Any] | Any = None
    weight: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Load:
    """Sends ``rate`` requests per second over ``targets`` (by weight) until stopped or bounded.

    ``statuses`` (answers by HTTP status, 0 for none) and ``sent`` are filled in when it stops.
    """

    targets: Sequence[Target]
    rate: float
    max_requests: int = 10_000
    max_seconds: float = 120.0
    headers: dict[str, str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    sent: int = 0
    _process: multiprocessing.process.BaseProcess | None = None
    _results: Connection | None = None
    _stop: multiprocessing.synchronize.Event | None = None

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
            _loopback(target.url)
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._results, sender = context.Pipe(duplex=False)
        bounds = (self.rate, self.max_requests, self.max_seconds)
        self._process = context.Process(
            target=_generate,
            args=(list(self.targets), bounds, dict(self.headers), self._stop, sender),
            name="load",
            daemon=True,
        )
        self._process.start()
        sender.close()

    def stop(self) -> None:
        """Stop sending, wait for the answers in flight, and read the counts."""
        process, results = self._process, self._results
        if process is None or results is None:
            return
        self._process = self._results = None
        assert self._stop is not None
        self._stop.set()
        try:
            if results.poll(_STOP_SECONDS):
                statuses, self.sent = results.recv()
                self.statuses.update(statuses)
        except EOFError:  # the process ended without a word: it failed (its stderr says why)
            pass
        finally:
            results.close()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        if process.exitcode != 0:
            msg = f"the load process ended with exit code {process.exitcode}"
            raise RuntimeError(msg)


def _generate(
    targets: list[Target],
    bounds: tuple[float, int, float],
    headers: dict[str, str],
    stop: multiprocessing.synchronize.Event,
    results: Connection,
) -> None:
    """The load process: send until stopped or bounded, then hand back the counts."""
    rate, max_requests, max_seconds = bounds
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    sent = 0

    def send(client: httpx.Client, target: Target) -> None:
        body = target.body() if callable(target.body) else target.body
        try:
            status = client.request(
                target.method, target.url, json=body, headers=dict(target.headers)
            ).status_code
        except httpx.HTTPError:
            status = 0
        with lock:
            statuses[status] += 1

    weighted = [t for t in targets for _ in range(t.weight)]
    started = time.monotonic()
    deadline = started + max_seconds
    in_flight = max(8, math.ceil(rate * IN_FLIGHT_SECONDS))
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    with (
        httpx.Client(headers=headers, timeout=10, limits=limits) as client,
        ThreadPoolExecutor(max_workers=in_flight) as pool,
    ):
        for n, target in enumerate(itertools.cycle(weighted)):
            if stop.is_set() or n >= max_requests or time.monotonic() > deadline:
                break
            sent = n + 1
            pool.submit(send, client, target)
            pause = started + (n + 1) / rate - time.monotonic()
            if pause > 0:
                stop.wait(pause)
    results.send((dict(statuses), sent))
    results.close()


def _loopback(url: str) -> str:
    if urlsplit(url).hostname not in _LOOPBACK:
        msg = f"load is for loopback addresses only, not {url}"
        raise ValueError(msg)
    return url
