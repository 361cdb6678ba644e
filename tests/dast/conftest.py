"""The DAST tier: both services as real uvicorn processes on the real emulators.

Real processes rather than in-process ASGI: the body limits, content types and error
answers are then exercised through uvicorn's HTTP parsing and streaming, as in production,
and schemathesis speaks to them over a socket exactly as ``dagger call dast`` does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api_gateway.ingestion import INGESTION_TOPIC
from ml_service.processing import INSIGHT_TOPIC
from tests.support.emulators import EmulatedProject, Emulators
from tests.support.processes import free_port
from tests.support.stack import LocalStack, service_environment


@pytest.fixture(scope="module")
def stack(
    emulators: Emulators, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Both services on a fresh emulator project with its topics (no push subscriptions: the
    fuzzing stays on the HTTP surface); service name -> base URL."""
    project: EmulatedProject = emulators.for_project()
    for topic in (INGESTION_TOPIC, INSIGHT_TOPIC):
        project.create_topic(topic)
    logs = tmp_path_factory.mktemp("dast")
    services = LocalStack(
        project=project,
        logs=logs,
        env=service_environment(project, logs),
        ports={"ml-service": free_port(), "api-gateway": free_port()},
    )
    try:
        services.start("ml-service")
        services.start("api-gateway")
        yield {name: services.url(name) for name in ("api-gateway", "ml-service")}
    finally:
        services.stop_all()
        project.cleanup()
