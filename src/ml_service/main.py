"""The ML service's ASGI app: ``python -m uvicorn ml_service.main:app``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from clarity_common.contract import install_api_contract
from clarity_common.fault_middleware import install_fault_middleware
from clarity_common.gcp import GoogleClients
from clarity_common.health import health_router, startup_lifespan
from clarity_common.openapi import error_responses, json_request
from clarity_common.payloads import json_body, read_sample_request, validate_body
from clarity_common.pubsub import MAX_PUSH_BODY_BYTES, PushEnvelope
from clarity_common.samples import MAX_BODY_BYTES, MAX_SAMPLES_PER_BATCH
from clarity_common.settings import (
    ServiceSettings,
    check_emulator_environment,
    settings_from_environment,
)
from ml_service import SERVICE_NAME
from ml_service.analysis import AnalysisRequest, Summary, summarize
from ml_service.processing import PushResult, decode_request, process_request

__all__ = ["INGESTION_PUSH_PATH", "PUSH_PATH", "PUSH_PATHS", "app", "create_app"]

INGESTION_PUSH_PATH = "/v1/pubsub/healthkit-data-ingestion"
PUSH_PATH = "/v1/pubsub/ml-processing-requests"
PUSH_PATHS = {"healthkit-data-ingestion": INGESTION_PUSH_PATH, "ml-processing-requests": PUSH_PATH}
"""The push endpoint of each topic the service consumes. One handler serves both (their
messages name a batch the same way); a path per topic keeps each subscription's deliveries
apart in logs and metrics."""


def create_app(settings: ServiceSettings) -> FastAPI:
    """Build the ML service for ``settings``; Google clients are created on first use."""
    check_emulator_environment(settings)
    clients = GoogleClients(settings)
    app = FastAPI(
        title="Clarity ML service",
        version=settings.clarity_version,
        lifespan=startup_lifespan(SERVICE_NAME, settings, on_shutdown=clients.close),
    )
    install_api_contract(app, bodies=[AnalysisRequest, PushEnvelope])
    install_fault_middleware(app, settings.clarity_fault)
    app.include_router(health_router(SERVICE_NAME, settings))

    @app.post(
        "/v1/analyze",
        tags=["analysis"],
        summary="A deterministic, explainable summary of one user's samples",
        openapi_extra=json_request(
            AnalysisRequest, description="One user's samples", max_bytes=MAX_BODY_BYTES
        ),
        responses=error_responses(
            {413: f"Over {MAX_SAMPLES_PER_BATCH} samples or {MAX_BODY_BYTES} bytes"}
        ),
    )
    async def analyze(request: Request) -> Summary:
        body = await read_sample_request(
            request, AnalysisRequest, max_samples=MAX_SAMPLES_PER_BATCH
        )
        return summarize(body.user_id, body.samples)

    async def process_push(request: Request) -> PushResult:
        envelope = validate_body(PushEnvelope, await json_body(request))
        processing = decode_request(envelope)
        result = await run_in_threadpool(
            process_request, clients, processing, message_id=envelope.message.message_id
        )
        return PushResult(insight_id=result.insight_id, duplicate=result.duplicate)

    for topic, path in PUSH_PATHS.items():
        app.post(
            path,
            tags=["pubsub"],
            summary=f"Pub/Sub push endpoint of {topic}: analyse a stored batch into an insight",
            operation_id=f"push_{topic.replace('-', '_')}",
            openapi_extra=json_request(
                PushEnvelope, description="A Pub/Sub push envelope", max_bytes=MAX_PUSH_BODY_BYTES
            ),
            responses=error_responses(
                {
                    400: "Undecodable message (redelivered, then dead-lettered)",
                    404: "No samples stored for the batch",
                    413: f"An envelope over {MAX_PUSH_BODY_BYTES} bytes",
                    503: "Firestore or Pub/Sub unavailable (redelivered)",
                }
            ),
        )(process_push)

    return app


app = create_app(settings_from_environment(ServiceSettings, SERVICE_NAME))
