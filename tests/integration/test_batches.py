"""The gateway's read side and failure record: batch status, synthetic expiry, dead letters.

Against the real emulators; the push of the dead-letter topic is sent here as Pub/Sub sends
it (the whole flow through the emulator's own pushes is the e2e tier's).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_gateway.batches import DEAD_LETTER_SOURCE_COUNT, DEAD_LETTER_SOURCE_SUBSCRIPTION
from api_gateway.ingestion import BATCHES_COLLECTION, INGESTION_TOPIC, SYNTHETIC_RETENTION
from api_gateway.main import create_app as create_gateway
from api_gateway.routes import DEAD_LETTER_PUSH_PATH
from api_gateway.settings import GatewaySettings
from clarity_common.samples import EXPIRE_AT_FIELD, HEALTH_DATA_COLLECTION
from ml_service.main import INGESTION_PUSH_PATH
from tests.support.emulators import EmulatedProject
from tests.support.samples import batch_payload
from tests.support.servers import closed_port

pytestmark = pytest.mark.integration

SAMPLES = "/v1/healthkit/samples"


def _status(gateway: TestClient, batch_id: str) -> dict[str, Any]:
    response = gateway.get(f"/v1/batches/{batch_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _dead_letter(batch_id: str | None, *, data: object = None, **attributes: str) -> dict[str, Any]:
    """A push from the dead-letter topic, with the attributes Pub/Sub adds when it moves one."""
    named = {"batch_id": batch_id} if batch_id is not None else {}
    payload = data if data is not None else {"batch_id": batch_id, "user_id": "user-1"}
    return {
        "subscription": "projects/p/subscriptions/healthkit-data-ingestion-dead-letter-gateway",
        "message": {
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "messageId": "dl-1",
            "attributes": {
                **named,
                DEAD_LETTER_SOURCE_COUNT: "5",
                DEAD_LETTER_SOURCE_SUBSCRIPTION: "healthkit-data-ingestion-ml",
                **attributes,
            },
        },
    }


@pytest.fixture
def stored(gateway: TestClient, gcp_project: EmulatedProject) -> dict[str, Any]:
    gcp_project.create_topic(INGESTION_TOPIC)
    payload = batch_payload(user_id="user-1", count=2)
    assert gateway.post(SAMPLES, json=payload).status_code == 201
    return payload


def test_a_stored_batch_is_pending_until_its_insight_exists(
    gateway: TestClient, ml_client: TestClient, gcp_project: EmulatedProject, stored: dict[str, Any]
) -> None:
    pending = _status(gateway, stored["batch_id"])
    assert pending["status"] == "pending"
    assert pending["samples"] == 2
    assert pending["user_id"] == "user-1"
    assert pending["synthetic"] is False
    assert pending["expires_at"] is None
    assert pending["insight"] is None
    assert pending["failure"] is None
    received = datetime.fromisoformat(pending["received_at"])
    assert abs(datetime.now(UTC) - received) < timedelta(minutes=1)

    gcp_project.create_topic("insight-generation")
    push = {
        "subscription": "projects/p/subscriptions/healthkit-data-ingestion-ml",
        "message": {
            "data": base64.b64encode(
                json.dumps({"batch_id": stored["batch_id"], "user_id": "user-1"}).encode()
            ).decode(),
            "messageId": "m-1",
        },
    }
    assert ml_client.post(INGESTION_PUSH_PATH, json=push).status_code == 200

    processed = _status(gateway, stored["batch_id"])
    assert processed["status"] == "processed"
    assert processed["insight"]["sample_count"] == 2
    assert processed["insight"]["days"][0]["steps"] == 1000 + 1001


def test_unknown_and_invalid_batch_ids(gateway: TestClient, gcp_project: EmulatedProject) -> None:
    missing = gateway.get("/v1/batches/never-stored-batch")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == (
        "no batch 'never-stored-batch' was stored: POST it to /v1/healthkit/samples first"
    )
    invalid = gateway.get("/v1/batches/bad.id")
    assert invalid.status_code == 422
    assert invalid.json()["error"]["fields"][0]["loc"] == ["path", "batch_id"]
    assert gcp_project.collection_ids() == []


def test_a_synthetic_batch_expires_everywhere_it_is_stored(
    gateway: TestClient, gcp_project: EmulatedProject, ingestion_subscription: str
) -> None:
    payload = {**batch_payload(user_id="e2e", count=3), "synthetic": True}
    before = datetime.now(UTC)
    assert gateway.post(SAMPLES, json=payload).status_code == 201

    status = _status(gateway, payload["batch_id"])
    assert status["synthetic"] is True
    expires = datetime.fromisoformat(status["expires_at"])
    assert before + SYNTHETIC_RETENTION <= expires <= datetime.now(UTC) + SYNTHETIC_RETENTION
    record = gcp_project.documents(BATCHES_COLLECTION)[payload["batch_id"]]
    samples = gcp_project.documents(HEALTH_DATA_COLLECTION)
    assert len(samples) == 3
    assert {sample[EXPIRE_AT_FIELD] for sample in samples.values()} == {record[EXPIRE_AT_FIELD]}
    (message,) = gcp_project.wait_for_messages(ingestion_subscription)
    assert message.attributes["synthetic"] == "true"
    assert message.json()["synthetic"] is True


def test_a_real_batch_never_expires(
    gateway: TestClient, gcp_project: EmulatedProject, stored: dict[str, Any]
) -> None:
    documents = [
        *gcp_project.documents(BATCHES_COLLECTION).values(),
        *gcp_project.documents(HEALTH_DATA_COLLECTION).values(),
    ]
    assert len(documents) == 3
    assert all(EXPIRE_AT_FIELD not in document for document in documents)


def test_a_synthetic_resend_is_one_batch_and_a_real_one_with_its_id_conflicts(
    gateway: TestClient, gcp_project: EmulatedProject, ingestion_subscription: str
) -> None:
    payload = {**batch_payload(), "synthetic": True}
    assert gateway.post(SAMPLES, json=payload).status_code == 201
    assert gateway.post(SAMPLES, json=payload).status_code == 200
    payload["synthetic"] = False
    assert gateway.post(SAMPLES, json=payload).status_code == 409
    assert len(gcp_project.wait_for_messages(ingestion_subscription)) == 1


def test_a_dead_lettered_announcement_marks_the_batch_failed(
    gateway: TestClient, gcp_project: EmulatedProject, stored: dict[str, Any]
) -> None:
    response = gateway.post(DEAD_LETTER_PUSH_PATH, json=_dead_letter(stored["batch_id"]))

    assert response.status_code == 200
    assert response.json()["recorded"] is True
    status = _status(gateway, stored["batch_id"])
    assert status["status"] == "failed"
    assert status["failure"] == (
        "not processed: dead-lettered after 5 delivery attempts to healthkit-data-ingestion-ml; "
        "the message is kept on the dead-letter subscription (message dl-1)"
    )
    # Redelivered (the answer was lost): the same record, still one batch.
    assert gateway.post(DEAD_LETTER_PUSH_PATH, json=_dead_letter(stored["batch_id"])).json()[
        "recorded"
    ]
    assert list(gcp_project.documents(BATCHES_COLLECTION)) == [stored["batch_id"]]


def test_the_batch_id_comes_from_the_data_when_no_attribute_names_it(
    gateway: TestClient, stored: dict[str, Any]
) -> None:
    response = gateway.post(DEAD_LETTER_PUSH_PATH, json=_dead_letter(None, data=stored))
    assert response.json() == {
        "batch_id": stored["batch_id"],
        "recorded": True,
        "detail": response.json()["detail"],
    }
    assert _status(gateway, stored["batch_id"])["status"] == "failed"


@pytest.mark.parametrize(
    ("envelope", "detail"),
    [
        (_dead_letter("never-stored-batch"), "no batch 'never-stored-batch' is stored"),
        (
            _dead_letter(None, data={"hello": "world"}),
            "message dl-1: not an ingestion announcement (batch_id: Field required)",
        ),
        (
            _dead_letter("../etc"),
            "message dl-1: its batch_id attribute is not a batch id",
        ),
    ],
    ids=["unknown batch", "poison data", "poison attribute"],
)
def test_a_dead_letter_naming_no_stored_batch_is_acknowledged_and_changes_nothing(
    gateway: TestClient, gcp_project: EmulatedProject, envelope: dict[str, Any], detail: str
) -> None:
    response = gateway.post(DEAD_LETTER_PUSH_PATH, json=envelope)
    assert response.status_code == 200  # redelivering it would change nothing
    assert response.json()["recorded"] is False
    assert response.json()["detail"] == detail
    assert gcp_project.collection_ids() == []


def test_an_unreachable_firestore_makes_both_answer_503(
    monkeypatch: pytest.MonkeyPatch, gcp_project: EmulatedProject
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("FIRESTORE_TIMEOUT_SECONDS", "1")
    with TestClient(create_gateway(GatewaySettings())) as client:
        status = client.get("/v1/batches/some-batch-0001")
        dead = client.post(DEAD_LETTER_PUSH_PATH, json=_dead_letter("some-batch-0001"))
    assert status.status_code == dead.status_code == 503
    assert status.headers["retry-after"] == "1"
    assert status.json()["error"]["message"].startswith("cannot read the batch from Firestore: ")
    assert dead.json()["error"]["message"].startswith("cannot record the failure in Firestore: ")
