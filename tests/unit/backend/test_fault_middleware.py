"""The request faults of CLARITY_FAULT, in both apps: what health checks cannot see."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_gateway.main import create_app as create_gateway
from api_gateway.settings import GatewaySettings
from clarity_common.faults import parse_fault
from clarity_common.settings import ServiceSettings
from ml_service.main import create_app as create_ml_service
from tests.support.samples import batch_payload, sample_payload

pytestmark = pytest.mark.unit

ANALYZE = {"user_id": "user-1", "samples": [sample_payload(value=2000)]}


def _ml(fault: str) -> FastAPI:
    return create_ml_service(ServiceSettings(clarity_fault=parse_fault(fault)))


def test_ingest_500_fails_only_the_ingestion_endpoint() -> None:
    app = create_gateway(GatewaySettings(clarity_fault=parse_fault("ingest-500")))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        response = client.post("/v1/healthkit/samples", json=batch_payload())
        assert response.status_code == 500
        assert "CLARITY_FAULT=ingest-500" in response.json()["error"]["message"]
        assert response.json()["error"]["reason"] == "FAULT_INJECTED"
        # Other methods on the same path are not the ingestion call.
        assert client.get("/v1/healthkit/samples").status_code == 405


def test_ingest_500_leaves_the_ml_service_alone() -> None:
    with TestClient(_ml("ingest-500")) as client:
        assert client.post("/v1/analyze", json=ANALYZE).status_code == 200


def test_error_rate_fails_that_fraction_of_requests_evenly_and_spares_health() -> None:
    with TestClient(_ml("error-rate=0.25")) as client:
        statuses = []
        for _ in range(8):
            assert client.get("/health").status_code == 200
            statuses.append(client.post("/v1/analyze", json=ANALYZE).status_code)
    assert statuses == [200, 200, 200, 500, 200, 200, 200, 500]


def test_error_rate_of_three_percent_over_a_hundred_requests() -> None:
    fault = parse_fault("error-rate=0.03")
    failed = [n for n in range(1, 101) if fault.request_fails("GET", "/x", n)]
    assert failed == [34, 67, 100]


def test_latency_delays_every_answer_without_changing_it() -> None:
    with TestClient(_ml("latency=120")) as client:
        started = time.monotonic()
        response = client.get("/health")
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert elapsed >= 0.12


def test_a_healthy_app_has_no_fault_middleware() -> None:
    app = _ml("")
    assert not any("InjectedFaults" in repr(m) for m in app.user_middleware)
    faulty = _ml("latency=5")
    assert any("InjectedFaults" in repr(m) for m in faulty.user_middleware)
