"""``GET /health`` and the startup fault, identical in both services.

The response is a fixed contract read by the delivery library and the Cloud Run double::

    {"status": "ok" | "failing", "service": <name>, "version": <CLARITY_VERSION>,
     "revision": <K_REVISION or null>}
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from clarity_common.errors import InjectedFaultError
from clarity_common.settings import ServiceSettings

__all__ = ["health_router", "startup_lifespan"]


def health_router(service: str, settings: ServiceSettings) -> APIRouter:
    """``GET /health``, honouring ``CLARITY_FAULT`` (requests are counted per process)."""
    router = APIRouter()
    requests = itertools.count(1)

    @router.get("/health", tags=["health"], summary="Liveness, version and serving revision")
    async def health() -> JSONResponse:
        failing = settings.clarity_fault.health_fails(next(requests))
        body = {
            "status": "failing" if failing else "ok",
            "service": service,
            "version": settings.clarity_version,
            "revision": settings.k_revision,
        }
        return JSONResponse(body, status_code=500 if failing else 200)

    return router


def startup_lifespan(
    service: str, settings: ServiceSettings, *, on_shutdown: Callable[[], None]
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan that fails startup on ``crash-on-start`` and runs ``on_shutdown`` at exit."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.clarity_fault.crashes_on_start:
            msg = f"{service}: CLARITY_FAULT=crash-on-start, refusing to start on purpose"
            raise InjectedFaultError(msg)
        try:
            yield
        finally:
            on_shutdown()

    return lifespan
