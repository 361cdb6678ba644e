"""The ``CLARITY_FAULT`` faults that act on requests, as ASGI middleware in both services.

``ingest-500``, ``error-rate=F`` and ``latency=MS`` (see :mod:`clarity_common.faults`) make a
release misbehave where the health checks do not look, so only an analysis of real traffic
(error ratios and latency percentiles per revision) can catch it. Health endpoints are never
failed here; ``latency`` delays them too, since a slow release is slow everywhere.
"""

from __future__ import annotations

import itertools

import anyio
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from clarity_common.faults import Fault, is_health_path
from clarity_common.problems import error_response

__all__ = ["InjectedFaults", "install_fault_middleware"]


class InjectedFaults:
    """Answers some requests 500 and delays others, as the fault says (counted per process)."""

    def __init__(self, app: ASGIApp, fault: Fault) -> None:
        self._app = app
        self._fault = fault
        self._requests = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        delay = self._fault.added_latency_seconds
        if delay:
            await anyio.sleep(delay)
        path = str(scope.get("path", ""))
        method = str(scope.get("method", "GET"))
        if not is_health_path(path) and self._fault.request_fails(
            method, path, next(self._requests)
        ):
            await _answer_500(
                scope,
                receive,
                send,
                f"CLARITY_FAULT={self._fault}: failing {method} {path} on purpose",
            )
            return
        await self._app(scope, receive, send)


async def _answer_500(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    """The injected failure in the one error shape every 5xx of the services has."""
    await error_response(500, detail, reason="FAULT_INJECTED")(scope, receive, send)


def install_fault_middleware(app: Starlette, fault: Fault) -> None:
    """Put :class:`InjectedFaults` in front of ``app`` when ``fault`` acts on requests."""
    if fault.affects_requests:
        app.add_middleware(InjectedFaults, fault=fault)
