"""What runs around every request through a service or tag URL, beside the forwarding itself.

Two kinds of hooks, both given to each :class:`~._proxy.TrafficProxy` when it is made:

* a :class:`ProxyGuard` sees the request before it is routed and may refuse it (an
  authentication check: :class:`~._proxy_auth.BearerRequired`). Guards run in order; the
  first refusal is the answer and no revision is reached.
* a :class:`ProxyObserver` sees a :class:`ProxyRecord` of every answered request, refused or
  served, before the client gets the answer (the double's ``proxy_log`` is one).

A guard or observer must be thread-safe: proxies serve requests on many threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import Protocol

__all__ = ["ProxiedRequest", "ProxyGuard", "ProxyObserver", "ProxyRecord", "Refusal"]


@dataclass(frozen=True)
class ProxiedRequest:
    """A request as it arrives at a proxy, before routing."""

    service: str
    tag: str | None  # None on the service URL
    url: str  # the URL this proxy serves (service or tag URL)
    method: str
    path: str
    headers: Message[str, str]


@dataclass(frozen=True)
class Refusal:
    """A guard's answer instead of the revision's: an HTTP status and a plain-text body."""

    status: int
    text: str


@dataclass(frozen=True)
class ProxyRecord:
    """One request through a service or tag URL."""

    service: str
    tag: str | None
    revision: str | None
    method: str
    path: str
    status: int
    authorized: bool
    audience: str | None
    at: float
    """When the answer was ready (``time.time()``), just before it is sent."""
    duration: float = 0.0
    """Seconds from the request's arrival at the proxy to its answer being ready: the latency
    Cloud Run's ``request_latencies`` reports for requests that reached a revision."""


class ProxyGuard(Protocol):
    """Decides whether a request reaches a revision at all."""

    def admit(self, request: ProxiedRequest) -> Refusal | None:
        """None lets the request through; a :class:`Refusal` answers it."""
        ...


class ProxyObserver(Protocol):
    """Sees every request a proxy answered."""

    def served(self, record: ProxyRecord) -> None:
        """Called once per request, before the answer is sent."""
        ...
