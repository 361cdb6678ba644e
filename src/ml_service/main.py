"""The ML service's ASGI app: ``python -m uvicorn ml_service.main:app``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from clarity_common.fault_middleware import install_fault_middleware
from clarity_common.gcp import GoogleClients
from clarity_common.handlers import install_error_handlers
from clarity_common.health import health_router, startup_lifespan
from clarity_common.payloads import read_sample_request
from clarity_common.samples import MAX_BODY_BYTES, MAX_SAMPLES_PER_BATCH
from clarity_common.settings import (
    ServiceSettings,
    check_emulator_environment,
    settings_from_environment,
)
from ml_service import SERVICE_NAME
from ml_service.analysis import AnalysisRequest, Summary, summarize
from ml_service.processing import PushEnvelope, decode_request, process_request

__all__ = ["PUSH_PATH", "app", "create_app"]

PUSH_PATH = "/v1/pubsub/ml-processing-requests"


def create_app(settings: ServiceSettings) -> FastAPI:
    """Build the ML service for ``settings``; Google clients are created on first use."""
    check_emulator_environment(settings)
    clients = GoogleClients(settings)
    app = FastAPI(
        title="Clarity ML service",
        version=settings.clarity_version,
        lifespan=startup_lifespan(SERVICE_NAME, settings, on_shutdown=clients.close),
    )
    install_error_handlers(app)
    install_fault_middleware(app, settings.clarity_fault)
    app.include_router(health_router(SERVICE_NAME, settings))

    @app.post(
        "/v1/analyze",
        tags=["analysis"],
        summary="A deterministic, explainable summary of one user's samples",
        responses={
            413: {"description": f"Over {MAX_SAMPLES_PER_BATCH} samples or {MAX_BODY_BYTES} bytes"}
        },
    )
    async def analyze(request: Request) -> Summary:
        body = await read_sample_request(
            request, AnalysisRequest, max_bytes=MAX_BODY_BYTES, max_samples=MAX_SAMPLES_PER_BATCH
        )
        return summarize(body.user_id, body.samples)

    @app.post(
        PUSH_PATH,
        tags=["pubsub"],
        summary="Pub/Sub push endpoint: analyse a stored batch into an insight",
        responses={
            400: {"description": "Undecodable message (redelivered, then dead-lettered)"},
            404: {"description": "No samples stored for the batch"},
            503: {"description": "Firestore or Pub/Sub unavailable (redelivered)"},
        },
    )
    async def process_push(envelope: PushEnvelope) -> dict[str, str]:
        request = decode_request(envelope)
        insight_id = await run_in_threadpool(
            process_request, clients, request, message_id=envelope.message.message_id
        )
        return {"insight_id": insight_id}

    return app


app = create_app(settings_from_environment(ServiceSettings, SERVICE_NAME))
