"""``GET /health`` and the startup fault, identical in both services.

The response is a fixed contract read by the delivery library and the Cloud Run double::

    {"status": "ok" | "failing", "service": <name>, "version": <CLARITY_VERSION>,
     "revision": <K_REVISION or null>}

A failing answer (500) also carries the ``error`` object every error answer has
(:mod:`clarity_common.problems`).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from clarity_common.errors import InjectedFaultError
from clarity_common.problems import ErrorDetail, error_detail
from clarity_common.settings import ServiceSettings

__all__ = ["HealthReport", "health_router", "startup_lifespan"]


class HealthReport(BaseModel):
    """The ``/health`` contract (see the module docstring)."""

    status: str
    service: str
    version: str
    revision: str | None
    error: ErrorDetail | None = None


def health_router(service: str, settings: ServiceSettings) -> APIRouter:
    """``GET /health``, honouring ``CLARITY_FAULT`` (requests are counted per process)."""
    router = APIRouter()
    requests = itertools.count(1)

    @router.get(
        "/health",
        tags=["health"],
        summary="Liveness, version and serving revision",
        responses={
            200: {"model": HealthReport, "description": "Healthy"},
            500: {"model": HealthReport, "description": "Failing (CLARITY_FAULT)"},
        },
    )
    async def health() -> JSONResponse:
        failing = settings.clarity_fault.health_fails(next(requests))
        body: dict[str, object] = {
            "status": "failing" if failing else "ok",
            "service": service,
            "version": settings.clarity_version,
            "revision": settings.k_revision,
        }
        if failing:
            message = f"{service} reports itself failing (CLARITY_FAULT={settings.clarity_fault})"
            body["error"] = error_detail(500, message).model_dump(mode="json")
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
