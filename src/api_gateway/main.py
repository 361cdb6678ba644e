"""The gateway's ASGI app: ``python -m uvicorn api_gateway.main:app``."""

from __future__ import annotations

from fastapi import FastAPI

from api_gateway import SERVICE_NAME
from api_gateway.routes import gateway_router
from api_gateway.settings import GatewaySettings
from clarity_common.contract import install_api_contract
from clarity_common.fault_middleware import install_fault_middleware
from clarity_common.gcp import GoogleClients
from clarity_common.health import health_router, startup_lifespan
from clarity_common.pubsub import PushEnvelope
from clarity_common.samples import SampleBatch
from clarity_common.settings import check_emulator_environment, settings_from_environment

__all__ = ["app", "create_app"]


def create_app(settings: GatewaySettings) -> FastAPI:
    """Build the gateway for ``settings``; Google clients are created on first use."""
    check_emulator_environment(settings)
    clients = GoogleClients(settings)
    app = FastAPI(
        title="Clarity API gateway",
        version=settings.clarity_version,
        lifespan=startup_lifespan(SERVICE_NAME, settings, on_shutdown=clients.close),
    )
    install_api_contract(app, bodies=[SampleBatch, PushEnvelope])
    install_fault_middleware(app, settings.clarity_fault)
    app.include_router(health_router(SERVICE_NAME, settings))
    app.include_router(gateway_router(settings, clients))
    return app


app = create_app(settings_from_environment(GatewaySettings, SERVICE_NAME))
