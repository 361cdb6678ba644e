"""Fixtures for the backend's integration tier: the real apps against the real emulators."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api_gateway.ingestion import INGESTION_TOPIC
from api_gateway.main import create_app as create_gateway
from api_gateway.settings import GatewaySettings
from clarity_common.settings import ServiceSettings
from ml_service.main import create_app as create_ml_service
from ml_service.processing import INSIGHT_TOPIC
from tests.support.emulators import EmulatedProject
from tests.support.servers import serve_in_thread

SERVICE_VARIABLES = (
    "CLARITY_FAULT",
    "CLARITY_VERSION",
    "K_REVISION",
    "K_SERVICE",
    "ML_SERVICE_URL",
    "PORT",
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
)


@pytest.fixture(autouse=True)
def _clean_service_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from an environment without any service variable of the developer's shell."""
    for name in SERVICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ingestion_subscription(gcp_project: EmulatedProject) -> str:
    """The ingestion topic and a pull subscription that sees every message published to it."""
    gcp_project.create_topic(INGESTION_TOPIC)
    gcp_project.create_subscription("ingestion-check", topic=INGESTION_TOPIC)
    return "ingestion-check"


@pytest.fixture
def insight_subscription(gcp_project: EmulatedProject) -> str:
    """The insight topic and a pull subscription on it."""
    gcp_project.create_topic(INSIGHT_TOPIC)
    gcp_project.create_subscription("insight-check", topic=INSIGHT_TOPIC)
    return "insight-check"


@pytest.fixture
def gateway(gcp_project: EmulatedProject) -> Iterator[TestClient]:
    """The gateway, configured from the environment the emulators fixture exported."""
    with TestClient(create_gateway(GatewaySettings())) as client:
        yield client


@pytest.fixture
def ml_client(gcp_project: EmulatedProject) -> Iterator[TestClient]:
    """The ML service in process, on the emulators."""
    with TestClient(create_ml_service(ServiceSettings())) as client:
        yield client


@pytest.fixture
def ml_server(gcp_project: EmulatedProject) -> Iterator[str]:
    """The ML service on a real socket (so the Pub/Sub emulator can push to it); its base URL."""
    with serve_in_thread(create_ml_service(ServiceSettings())) as url:
        yield url
