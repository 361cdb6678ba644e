"""Both apps in process, without Google: the /health contract, the fault flag, analysis, limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_gateway.main import create_app as create_gateway
from api_gateway.settings import GatewaySettings
from clarity_common.errors import ConfigError, InjectedFaultError
from clarity_common.faults import parse_fault
from clarity_common.samples import MAX_BODY_BYTES, MAX_SAMPLES_PER_BATCH
from clarity_common.settings import ServiceSettings
from ml_service.main import PUSH_PATH
from ml_service.main import create_app as create_ml_service
from tests.support.samples import batch_payload, sample_payload

pytestmark = pytest.mark.unit

SERVICES = ["api-gateway", "ml-service"]


def _app(service: str, **settings: object) -> FastAPI:
    if service == "api-gateway":
        return create_gateway(GatewaySettings(**settings))  # type: ignore[arg-type]
    return create_ml_service(ServiceSettings(**settings))  # type: ignore[arg-type]


@pytest.fixture
def ml_client() -> Iterator[TestClient]:
    with TestClient(create_ml_service(ServiceSettings())) as client:
        yield client


@pytest.mark.parametrize("service", SERVICES)
def test_health_contract(service: str) -> None:
    app = _app(service, clarity_version="1.4.0", k_revision="clarity-00003-abc")
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "service": service,
        "version": "1.4.0",
        "revision": "clarity-00003-abc",
    }


@pytest.mark.parametrize("service", SERVICES)
def test_health_without_revision_reports_null(service: str) -> None:
    with TestClient(_app(service)) as client:
        assert client.get("/health").json() == {
            "status": "ok",
            "service": service,
            "version": "0.0.0-dev",
            "revision": None,
        }


@pytest.mark.parametrize("service", SERVICES)
def test_health_500_fault(service: str) -> None:
    with TestClient(
        _app(service, clarity_fault=parse_fault("health-500"), k_revision="r2")
    ) as client:
        responses = [client.get("/health") for _ in range(3)]
    assert [response.status_code for response in responses] == [500, 500, 500]
    assert responses[0].json() == {
        "status": "failing",
        "service": service,
        "version": "0.0.0-dev",
        "revision": "r2",
        "error": {
            "code": 500,
            "reason": "internal",
            "message": f"{service} reports itself failing (CLARITY_FAULT=health-500)",
            "fields": [],
        },
    }


@pytest.mark.parametrize("service", SERVICES)
def test_health_500_after_counts_per_app(service: str) -> None:
    with TestClient(_app(service, clarity_fault=parse_fault("health-500-after=2"))) as client:
        statuses = [client.get("/health").status_code for _ in range(4)]
        assert [client.get("/health").json()["status"] for _ in range(2)] == ["failing", "failing"]
    assert statuses == [200, 200, 500, 500]
    with TestClient(_app(service, clarity_fault=parse_fault("health-500-after=2"))) as fresh:
        assert fresh.get("/health").status_code == 200


@pytest.mark.parametrize("service", SERVICES)
def test_crash_on_start_fails_startup(service: str) -> None:
    app = _app(service, clarity_fault=parse_fault("crash-on-start"))
    with (
        pytest.raises(InjectedFaultError, match=f"{service}: CLARITY_FAULT=crash-on-start"),
        TestClient(app),
    ):
        pass


@pytest.mark.parametrize("service", SERVICES)
def test_settings_that_disagree_with_the_environment_are_refused(service: str) -> None:
    with pytest.raises(ConfigError, match="FIRESTORE_EMULATOR_HOST"):
        _app(service, firestore_emulator_host="127.0.0.1:1")


def test_gateway_ml_health_without_url() -> None:
    with TestClient(create_gateway(GatewaySettings())) as client:
        response = client.get("/ml/health")
    assert response.status_code == 503
    reason = "ML_SERVICE_URL is not set: point it at the ML service"
    assert response.json() == {
        "status": "unavailable",
        "service": "ml-service",
        "reason": reason,
        "error": {"code": 503, "reason": "unavailable", "message": reason, "fields": []},
    }


# ---------------------------------------------------------------------- ML analysis
def test_analyze_summarizes(ml_client: TestClient) -> None:
    samples = [sample_payload(value=2000), sample_payload("resting_heart_rate", 61, "count/min")]
    response = ml_client.post("/v1/analyze", json={"user_id": "user-1", "samples": samples})
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == "user-1"
    assert body["sample_count"] == 2
    assert body["days"] == [
        {
            "date": "2026-03-02",
            "steps": 2000,
            "active_energy_kcal": None,
            "sleep_minutes": None,
            "resting_heart_rate": 61.0,
            "average_heart_rate": None,
        }
    ]
    assert [flag["code"] for flag in body["flags"]] == ["low_activity"]


def test_analyze_is_deterministic(ml_client: TestClient) -> None:
    samples = [sample_payload(value=float(value)) for value in range(1, 50)]
    first = ml_client.post("/v1/analyze", json={"user_id": "u", "samples": samples}).json()
    second = ml_client.post(
        "/v1/analyze", json={"user_id": "u", "samples": list(reversed(samples))}
    ).json()
    assert first == second


@pytest.mark.parametrize(
    ("body", "location"),
    [
        (b"{", ["body", 1]),
        (b"[]", ["body"]),
        (json.dumps({"user_id": "u", "samples": []}).encode(), ["body", "samples"]),
        (
            json.dumps({"user_id": "u", "samples": [sample_payload(unit="kg")]}).encode(),
            ["body", "samples", 0, "unit"],
        ),
        (json.dumps({"samples": [sample_payload()]}).encode(), ["body", "user_id"]),
    ],
)
def test_analyze_rejects_bad_input_field_by_field(
    ml_client: TestClient, body: bytes, location: list[object]
) -> None:
    response = ml_client.post(
        "/v1/analyze", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert location in [error["loc"] for error in response.json()["error"]["fields"]]


def test_analyze_over_the_sample_limit_is_413(ml_client: TestClient) -> None:
    samples = [sample_payload()] * (MAX_SAMPLES_PER_BATCH + 1)
    response = ml_client.post("/v1/analyze", json={"user_id": "u", "samples": samples})
    assert response.status_code == 413
    assert "split them into several requests" in response.json()["error"]["message"]


def test_a_body_over_the_byte_limit_is_413_before_parsing(ml_client: TestClient) -> None:
    response = ml_client.post(
        "/v1/analyze",
        content=b"x" * (MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": 413,
            "reason": "payload_too_large",
            "message": f"the request body is over {MAX_BODY_BYTES} bytes: send a smaller body",
            "fields": [],
        }
    }


def test_a_streamed_body_over_the_byte_limit_is_413(ml_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 65_536

    response = ml_client.post(
        "/v1/analyze", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "content-length" not in response.request.headers


def test_gateway_rejects_before_touching_any_store() -> None:
    # No emulator and no credentials here: a rejected batch must not need Firestore at all.
    with TestClient(create_gateway(GatewaySettings())) as client:
        invalid = client.post(
            "/v1/healthkit/samples", json=batch_payload([sample_payload(sample_type="mood")])
        )
        oversize = client.post(
            "/v1/healthkit/samples", json=batch_payload(count=MAX_SAMPLES_PER_BATCH + 1)
        )
    assert invalid.status_code == 422
    assert oversize.status_code == 413


def test_gateway_without_google_answers_503_not_500(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No credentials of any kind: no key file, an empty gcloud configuration, no metadata server.
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    with TestClient(create_gateway(GatewaySettings())) as client:
        response = client.post("/v1/healthkit/samples", json=batch_payload())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["message"].startswith(
        "cannot create a Firestore client: DefaultCredentialsError"
    )


def test_push_with_undecodable_data_is_400(ml_client: TestClient) -> None:
    envelope = {
        "subscription": "projects/p/subscriptions/s",
        "message": {"data": "%%", "messageId": "9"},
    }
    response = ml_client.post(PUSH_PATH, json=envelope)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["loc"] == ["body", "message", "data"]


def test_push_without_an_envelope_is_422(ml_client: TestClient) -> None:
    assert ml_client.post(PUSH_PATH, json={"hello": "world"}).status_code == 422
