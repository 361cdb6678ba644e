"""The gateway's dependency probes against real servers: Firestore emulator and ML service."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from api_gateway.main import create_app as create_gateway
from api_gateway.settings import GatewaySettings
from clarity_common.faults import parse_fault
from clarity_common.settings import ServiceSettings
from ml_service.main import create_app as create_ml_service
from tests.support.emulators import EmulatedProject
from tests.support.servers import closed_port, serve_in_thread, silent_listener

pytestmark = pytest.mark.integration


def _gateway(monkeypatch: pytest.MonkeyPatch, **environment: str) -> TestClient:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return TestClient(create_gateway(GatewaySettings()))


# ---------------------------------------------------------------------- /health/database
def test_database_round_trip(gateway: TestClient, gcp_project: EmulatedProject) -> None:
    response = gateway.get("/health/database")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "firestore"
    assert body["project"] == gcp_project.project
    assert body["latency_ms"] >= 0
    assert gcp_project.collection_ids() == []  # the probe only reads


def test_database_refusing_connections_is_503_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with _gateway(monkeypatch, FIRESTORE_EMULATOR_HOST=f"127.0.0.1:{closed_port()}") as client:
        started = time.monotonic()
        response = client.get("/health/database")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["reason"].startswith("Firestore did not answer: ServiceUnavailable")
    assert "Traceback" not in response.text
    assert elapsed < 3.0


def test_hung_database_is_503_within_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        silent_listener() as port,
        _gateway(monkeypatch, FIRESTORE_EMULATOR_HOST=f"127.0.0.1:{port}") as client,
    ):
        started = time.monotonic()
        response = client.get("/health/database")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["reason"].startswith("Firestore did not answer: ")
    assert 1.5 < elapsed < 3.5  # DATABASE_TIMEOUT_SECONDS defaults to 2


# ---------------------------------------------------------------------- /ml/health
@pytest.fixture
def ml_service_url() -> Iterator[str]:
    with serve_in_thread(
        create_ml_service(ServiceSettings(clarity_version="2.0.0", k_revision="ml-00002"))
    ) as url:
        yield url


def test_ml_health_proxies_the_ml_service(
    monkeypatch: pytest.MonkeyPatch, ml_service_url: str
) -> None:
    with _gateway(monkeypatch, ML_SERVICE_URL=ml_service_url) as client:
        response = client.get("/ml/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "service": "ml-service",
        "ml_service": {
            "status": "ok",
            "service": "ml-service",
            "version": "2.0.0",
            "revision": "ml-00002",
        },
    }


def test_ml_service_down_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with _gateway(monkeypatch, ML_SERVICE_URL=url) as client:
        response = client.get("/ml/health")
    assert response.status_code == 503
    assert response.json()["reason"].startswith(f"no usable answer from {url}/health: ConnectError")


def test_failing_ml_service_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    failing = create_ml_service(ServiceSettings(clarity_fault=parse_fault("health-500")))
    with serve_in_thread(failing) as url, _gateway(monkeypatch, ML_SERVICE_URL=url) as client:
        response = client.get("/ml/health")
    assert response.status_code == 503
    reason = f"{url}/health answered 500"
    assert response.json() == {
        "status": "unavailable",
        "service": "ml-service",
        "reason": reason,
        "error": {"code": 503, "reason": "unavailable", "message": reason, "fields": []},
    }


def test_hung_ml_service_is_503_within_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        silent_listener() as port,
        _gateway(
            monkeypatch, ML_SERVICE_URL=f"http://127.0.0.1:{port}", ML_SERVICE_TIMEOUT_SECONDS="1"
        ) as client,
    ):
        started = time.monotonic()
        response = client.get("/ml/health")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert "ReadTimeout" in response.json()["reason"]
    assert 0.8 < elapsed < 2.5


def test_ml_service_answering_garbage_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    async def health(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("fine, thanks")

    impostor = Starlette(routes=[Route("/health", health)])
    with serve_in_thread(impostor) as url, _gateway(monkeypatch, ML_SERVICE_URL=url) as client:
        response = client.get("/ml/health")
    assert response.status_code == 503
    assert "JSONDecodeError" in response.json()["reason"]


# ---------------------------------------------------------------------- ID tokens for a private ML service
class _Recorder:
    """A tiny ML service and metadata server that remember what they were sent."""

    def __init__(self, *, metadata_status: int = 200) -> None:
        self.metadata_status = metadata_status
        self.identity_requests: list[Request] = []
        self.authorizations: list[str | None] = []

    async def identity(self, request: Request) -> PlainTextResponse:
        self.identity_requests.append(request)
        return PlainTextResponse(
            f"token-for-{request.query_params['audience']}", status_code=self.metadata_status
        )

    async def health(self, request: Request) -> JSONResponse:
        self.authorizations.append(request.headers.get("authorization"))
        return JSONResponse(
            {"status": "ok", "service": "ml-service", "version": "x", "revision": None}
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/computeMetadata/v1/instance/service-accounts/default/identity", self.identity
                ),
                Route("/health", self.health),
            ]
        )


def test_a_private_ml_service_gets_an_id_token(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    with serve_in_thread(recorder.app()) as url:
        host = url.removeprefix("http://")
        with _gateway(
            monkeypatch, ML_SERVICE_URL=url, ML_SERVICE_AUTH="id-token", GCE_METADATA_HOST=host
        ) as client:
            response = client.get("/ml/health")
    assert response.status_code == 200
    (identity,) = recorder.identity_requests
    assert identity.headers["metadata-flavor"] == "Google"
    assert identity.query_params["audience"] == url
    assert recorder.authorizations == [f"Bearer token-for-{url}"]


def test_plain_http_ml_service_gets_no_token_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    with (
        serve_in_thread(recorder.app()) as url,
        _gateway(monkeypatch, ML_SERVICE_URL=url) as client,
    ):
        assert client.get("/ml/health").status_code == 200
    assert recorder.identity_requests == []
    assert recorder.authorizations == [None]


def test_no_id_token_is_503_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(metadata_status=404)
    with serve_in_thread(recorder.app()) as url:
        host = url.removeprefix("http://")
        environment = {
            "ML_SERVICE_URL": url,
            "ML_SERVICE_AUTH": "id-token",
            "GCE_METADATA_HOST": host,
        }
        with _gateway(monkeypatch, **environment) as client:
            refused = client.get("/ml/health")
        with _gateway(
            monkeypatch, **{**environment, "GCE_METADATA_HOST": f"127.0.0.1:{closed_port()}"}
        ) as client:
            unreachable = client.get("/ml/health")
    assert refused.status_code == 503
    assert refused.json()["reason"] == f"no ID token for {url}: the metadata server answered 404"
    assert unreachable.status_code == 503
    assert "did not answer (ConnectError)" in unreachable.json()["reason"]
    assert recorder.authorizations == []
