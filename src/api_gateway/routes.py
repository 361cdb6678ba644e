"""The gateway's endpoints, bound to one app's settings and clients."""

from __future__ import annotations

import time
from typing import Any

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api_gateway.ingestion import ingest_batch
from api_gateway.ml_client import IdTokenError, ml_service_headers
from api_gateway.settings import GatewaySettings
from clarity_common.errors import BackendUnavailableError
from clarity_common.gcp import GoogleClients, describe_error, unavailable_on_google_errors
from clarity_common.openapi import error_responses, json_request
from clarity_common.payloads import read_sample_request
from clarity_common.problems import ErrorDetail, error_detail
from clarity_common.samples import MAX_BODY_BYTES, MAX_SAMPLES_PER_BATCH, SampleBatch

__all__ = ["DependencyHealth", "IngestResponse", "gateway_router"]

_PROBE_COLLECTION = "_health"


class IngestResponse(BaseModel):
    """The answer to an accepted batch."""

    batch_id: str
    samples: int
    message_id: str
    duplicate: bool
    """True when an earlier request had already stored this batch."""


class DependencyHealth(BaseModel):
    """A dependency probe's answer; ``reason`` and ``error`` only when it is unavailable."""

    status: str
    database: str | None = None
    service: str | None = None
    project: str | None = None
    latency_ms: float | None = None
    ml_service: dict[str, Any] | None = None
    reason: str | None = None
    error: ErrorDetail | None = None


_PROBE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": DependencyHealth, "description": "The dependency answered"},
    503: {"model": DependencyHealth, "description": "The dependency did not answer; see reason"},
}


def _unavailable(reason: str, **extra: object) -> JSONResponse:
    error = error_detail(503, reason).model_dump(mode="json")
    body = {"status": "unavailable", **extra, "reason": error["message"], "error": error}
    return JSONResponse(body, status_code=503)


def gateway_router(settings: GatewaySettings, clients: GoogleClients) -> APIRouter:
    """``/health/database``, ``/ml/health`` and ``POST /v1/healthkit/samples``."""
    router = APIRouter()

    @router.get(
        "/health/database",
        tags=["health"],
        summary="A real Firestore round trip",
        responses=_PROBE_RESPONSES,
    )
    def database_health() -> JSONResponse:
        started = time.perf_counter()
        try:
            db = clients.firestore()
            with unavailable_on_google_errors("Firestore did not answer"):
                db.collection(_PROBE_COLLECTION).document("probe").get(
                    retry=None, timeout=settings.database_timeout_seconds
                )
        except BackendUnavailableError as exc:
            return _unavailable(str(exc), database="firestore")
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        return JSONResponse(
            {
                "status": "ok",
                "database": "firestore",
                "project": clients.project,
                "latency_ms": elapsed_ms,
            }
        )

    @router.get(
        "/ml/health",
        tags=["health"],
        summary="The ML service's /health, through the gateway",
        responses=_PROBE_RESPONSES,
    )
    async def ml_health() -> JSONResponse:
        if settings.ml_service_url is None:
            return _unavailable(
                "ML_SERVICE_URL is not set: point it at the ML service", service="ml-service"
            )
        url = f"{str(settings.ml_service_url).rstrip('/')}/health"
        try:
            async with httpx.AsyncClient(timeout=settings.ml_service_timeout_seconds) as client:
                answer = await client.get(url, headers=await ml_service_headers(client, settings))
            body = answer.json() if answer.status_code == 200 else None
        except IdTokenError as exc:
            return _unavailable(str(exc), service="ml-service")
        except (httpx.HTTPError, ValueError) as exc:
            return _unavailable(
                f"no usable answer from {url}: {describe_error(exc)}", service="ml-service"
            )
        if answer.status_code != 200:
            return _unavailable(f"{url} answered {answer.status_code}", service="ml-service")
        return JSONResponse({"status": "ok", "service": "ml-service", "ml_service": body})

    @router.post(
        "/v1/healthkit/samples",
        tags=["ingestion"],
        status_code=201,
        summary="Store a batch of HealthKit samples and announce it (idempotent on batch_id)",
        openapi_extra=json_request(
            SampleBatch, description="One user's batch of samples", max_bytes=MAX_BODY_BYTES
        ),
        responses={
            200: {
                "model": IngestResponse,
                "description": "The batch had been stored before; nothing was stored twice",
            },
            **error_responses(
                {
                    409: "The batch_id was already used for different content",
                    413: f"Over {MAX_SAMPLES_PER_BATCH} samples or {MAX_BODY_BYTES} bytes",
                    503: "Firestore or Pub/Sub unavailable; retry the same request",
                }
            ),
        },
    )
    async def ingest_samples(request: Request, response: Response) -> IngestResponse:
        batch = await read_sample_request(request, SampleBatch, max_samples=MAX_SAMPLES_PER_BATCH)
        result = await run_in_threadpool(ingest_batch, clients, batch)
        if not result.stored_now:
            response.status_code = 200
        return IngestResponse(
            batch_id=result.batch_id,
            samples=result.samples,
            message_id=result.message_id,
            duplicate=not result.stored_now,
        )

    return router
