"""The gateway's endpoints, bound to one app's settings and clients."""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api_gateway.batches import BatchStatus, DeadLetterResult, read_batch_status, record_dead_letter
from api_gateway.ingestion import ingest_batch
from api_gateway.ml_client import IdTokenError, ml_service_headers
from api_gateway.settings import GatewaySettings
from clarity_common.errors import BackendUnavailableError, BatchNotFoundError
from clarity_common.gcp import GoogleClients, describe_error, unavailable_on_google_errors
from clarity_common.openapi import error_responses, json_request
from clarity_common.payloads import json_body, read_sample_request, validate_body
from clarity_common.problems import ErrorDetail, error_detail
from clarity_common.pubsub import MAX_PUSH_BODY_BYTES, PushEnvelope
from clarity_common.samples import MAX_BODY_BYTES, MAX_SAMPLES_PER_BATCH, BatchId, SampleBatch

__all__ = ["DEAD_LETTER_PUSH_PATH", "DependencyHealth", "IngestResponse", "gateway_router"]

DEAD_LETTER_PUSH_PATH = "/v1/pubsub/ingestion-dead-letters"
"""Where the dead-letter topic of ``healthkit-data-ingestion`` pushes (see :mod:`.batches`)."""

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
    """The health probes, ingestion, batch status and the dead-letter push endpoint."""
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

    @router.get(
        "/v1/batches/{batch_id}",
        tags=["ingestion"],
        summary="What became of a batch: pending, processed (with its insight) or failed",
        responses=error_responses(
            {
                404: "No batch with this id was stored",
                503: "Firestore unavailable; retry",
            }
        ),
    )
    def batch_status(batch_id: Annotated[BatchId, Path()]) -> BatchStatus:
        status = read_batch_status(clients, batch_id)
        if status is None:
            msg = f"no batch {batch_id!r} was stored: POST it to /v1/healthkit/samples first"
            raise BatchNotFoundError(msg)
        return status

    @router.post(
        DEAD_LETTER_PUSH_PATH,
        tags=["pubsub"],
        summary="Pub/Sub push endpoint of the ingestion dead letters: mark the batch failed",
        openapi_extra=json_request(
            PushEnvelope,
            description="A Pub/Sub push envelope from healthkit-data-ingestion-dead-letter",
            max_bytes=MAX_PUSH_BODY_BYTES,
        ),
        responses=error_responses(
            {
                413: f"An envelope over {MAX_PUSH_BODY_BYTES} bytes",
                503: "Firestore unavailable (redelivered)",
            }
        ),
    )
    async def dead_letter(request: Request) -> DeadLetterResult:
        envelope = validate_body(PushEnvelope, await json_body(request))
        return await run_in_threadpool(record_dead_letter, clients, envelope)

    return router
