"""The ML service's push consumer against the real emulators, including real dead-lettering."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_gateway.ingestion import INGESTION_TOPIC
from clarity_common.samples import EXPIRE_AT_FIELD
from clarity_common.settings import ServiceSettings
from ml_service.main import INGESTION_PUSH_PATH, PUSH_PATH
from ml_service.main import create_app as create_ml_service
from ml_service.processing import INSIGHT_TOPIC, INSIGHTS_COLLECTION
from tests.support.emulators import EmulatedProject
from tests.support.samples import batch_payload, sample_payload
from tests.support.servers import closed_port, serve_in_thread

pytestmark = pytest.mark.integration

REQUESTS_TOPIC = "ml-processing-requests"
DEAD_LETTER_TOPIC = "ml-processing-requests-dead-letter"


def _envelope(payload: object, message_id: str = "m-1") -> dict[str, Any]:
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    return {
        "subscription": "projects/p/subscriptions/push",
        "message": {"data": data, "messageId": message_id},
    }


@pytest.fixture
def stored_batch(gateway: TestClient, gcp_project: EmulatedProject) -> dict[str, Any]:
    """A batch ingested through the gateway: short sleep, few steps."""
    gcp_project.create_topic(INGESTION_TOPIC)
    payload = batch_payload(
        [
            sample_payload(value=3000),
            sample_payload(
                "sleep_analysis",
                330,
                "min",
                start_date="2026-03-01T23:00:00Z",
                end_date="2026-03-02T04:30:00Z",
            ),
            sample_payload("resting_heart_rate", 58, "count/min"),
        ],
        user_id="user-9",
    )
    assert gateway.post("/v1/healthkit/samples", json=payload).status_code == 201
    return payload


def test_push_writes_an_insight_and_announces_it(
    ml_client: TestClient,
    gcp_project: EmulatedProject,
    insight_subscription: str,
    stored_batch: dict[str, Any],
) -> None:
    request = {"user_id": "user-9", "batch_id": stored_batch["batch_id"]}
    response = ml_client.post(PUSH_PATH, json=_envelope(request, "m-77"))

    assert response.status_code == 200
    assert response.json() == {"insight_id": stored_batch["batch_id"], "duplicate": False}
    insight = gcp_project.documents(INSIGHTS_COLLECTION)[stored_batch["batch_id"]]
    assert insight["user_id"] == "user-9"
    assert insight["source_message_id"] == "m-77"
    summary = insight["summary"]
    assert summary["sample_count"] == 3
    assert summary["days"][0]["steps"] == 3000
    assert summary["days"][0]["sleep_minutes"] == 330.0
    assert [flag["code"] for flag in summary["flags"]] == ["low_activity", "short_sleep"]
    (message,) = gcp_project.wait_for_messages(insight_subscription)
    assert message.attributes == {"insight_id": stored_batch["batch_id"], "user_id": "user-9"}
    assert (
        gcp_project.documents(INSIGHTS_COLLECTION)[stored_batch["batch_id"]]["announced_message_id"]
        == message.message_id
    )
    assert EXPIRE_AT_FIELD not in insight
    assert message.json() == {
        "insight_id": stored_batch["batch_id"],
        "user_id": "user-9",
        "batch_id": stored_batch["batch_id"],
        "flags": ["low_activity", "short_sleep"],
    }


def test_a_duplicate_delivery_leaves_one_insight_announced_once(
    ml_client: TestClient,
    gcp_project: EmulatedProject,
    insight_subscription: str,
    stored_batch: dict[str, Any],
) -> None:
    request = {"user_id": "user-9", "batch_id": stored_batch["batch_id"]}
    first = ml_client.post(PUSH_PATH, json=_envelope(request, "m-1"))
    stored = gcp_project.documents(INSIGHTS_COLLECTION)
    # The same batch again: a redelivery, or the same request on the other topic.
    again = ml_client.post(INGESTION_PUSH_PATH, json=_envelope(request, "m-2"))

    assert first.json() == {"insight_id": stored_batch["batch_id"], "duplicate": False}
    assert again.status_code == 200
    assert again.json() == {"insight_id": stored_batch["batch_id"], "duplicate": True}
    assert gcp_project.documents(INSIGHTS_COLLECTION) == stored  # not even rewritten
    (message,) = gcp_project.wait_for_messages(insight_subscription)
    time.sleep(0.5)
    assert gcp_project.pull(insight_subscription) == []  # announced once
    assert message.attributes["insight_id"] == stored_batch["batch_id"]


def test_the_gateways_announcement_is_a_processing_request(
    ml_client: TestClient,
    gcp_project: EmulatedProject,
    insight_subscription: str,
    stored_batch: dict[str, Any],
) -> None:
    """What the gateway publishes on healthkit-data-ingestion, pushed to its own path."""
    announcement = {
        "batch_id": stored_batch["batch_id"],
        "user_id": "user-9",
        "samples": 3,
        "sample_types": ["resting_heart_rate", "sleep_analysis", "step_count"],
    }
    response = ml_client.post(INGESTION_PUSH_PATH, json=_envelope(announcement, "m-9"))

    assert response.json() == {"insight_id": stored_batch["batch_id"], "duplicate": False}
    (message,) = gcp_project.wait_for_messages(insight_subscription)
    assert message.json()["flags"] == ["low_activity", "short_sleep"]


def test_a_synthetic_batchs_insight_expires_with_it(
    gateway: TestClient,
    ml_client: TestClient,
    gcp_project: EmulatedProject,
    insight_subscription: str,
) -> None:
    gcp_project.create_topic(INGESTION_TOPIC)
    payload = {**batch_payload(user_id="e2e-user"), "synthetic": True}
    assert gateway.post("/v1/healthkit/samples", json=payload).status_code == 201
    request = {"user_id": "e2e-user", "batch_id": payload["batch_id"]}

    assert ml_client.post(INGESTION_PUSH_PATH, json=_envelope(request)).status_code == 200

    record = gcp_project.documents("ingestion_batches")[payload["batch_id"]]
    insight = gcp_project.documents(INSIGHTS_COLLECTION)[payload["batch_id"]]
    assert insight[EXPIRE_AT_FIELD] == record[EXPIRE_AT_FIELD]
    (message,) = gcp_project.wait_for_messages(insight_subscription)
    assert message.attributes["synthetic"] == "true"


def test_unknown_batch_is_404_and_writes_nothing(
    ml_client: TestClient, gcp_project: EmulatedProject, insight_subscription: str
) -> None:
    response = ml_client.post(
        PUSH_PATH, json=_envelope({"user_id": "user-1", "batch_id": "missing-batch"})
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": 404,
            "reason": "not_found",
            "message": "no samples are stored for batch 'missing-batch' of user 'user-1'",
            "fields": [],
        }
    }
    assert gcp_project.collection_ids() == []
    time.sleep(0.3)
    assert gcp_project.pull(insight_subscription) == []


def test_missing_insight_topic_is_503_and_redelivery_recovers(
    ml_client: TestClient, gcp_project: EmulatedProject, stored_batch: dict[str, Any]
) -> None:
    envelope = _envelope({"user_id": "user-9", "batch_id": stored_batch["batch_id"]})
    failed = ml_client.post(PUSH_PATH, json=envelope)
    assert failed.status_code == 503
    assert failed.json()["error"]["message"].startswith(
        f"cannot publish to Pub/Sub topic {INSIGHT_TOPIC!r}: NotFound"
    )

    gcp_project.create_topic(INSIGHT_TOPIC)
    gcp_project.create_subscription("insight-check", topic=INSIGHT_TOPIC)
    assert ml_client.post(PUSH_PATH, json=envelope).status_code == 200
    (message,) = gcp_project.wait_for_messages("insight-check")
    assert message.attributes["insight_id"] == stored_batch["batch_id"]


def test_unreachable_firestore_is_503(
    monkeypatch: pytest.MonkeyPatch, gcp_project: EmulatedProject
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("FIRESTORE_TIMEOUT_SECONDS", "1")
    with TestClient(create_ml_service(ServiceSettings())) as client:
        response = client.post(
            PUSH_PATH, json=_envelope({"user_id": "u", "batch_id": "batch-0001"})
        )
    assert response.status_code == 503
    assert response.json()["error"]["message"].startswith(
        "cannot read the insight from Firestore: "
    )


# ---------------------------------------------------------------------- through the emulator
class _PushLog:
    """Wraps an ASGI app and records the status of every push it answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.statuses: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PUSH_PATH:
            await self.app(scope, receive, send)
            return

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append(message["status"])
            await send(message)

        await self.app(scope, receive, record)


@pytest.fixture
def pushed_ml_service(gcp_project: EmulatedProject) -> Iterator[tuple[str, _PushLog]]:
    """The ML service on a real socket, with a log of the pushes it answered."""
    log = _PushLog(create_ml_service(ServiceSettings()))
    with serve_in_thread(log) as url:
        yield url, log


@pytest.mark.push
def test_emulator_push_produces_an_insight(
    gcp_project: EmulatedProject,
    insight_subscription: str,
    stored_batch: dict[str, Any],
    pushed_ml_service: tuple[str, _PushLog],
) -> None:
    url, log = pushed_ml_service
    gcp_project.create_topic(REQUESTS_TOPIC)
    gcp_project.create_subscription(
        "ml-push", topic=REQUESTS_TOPIC, push_endpoint=f"{url}{PUSH_PATH}"
    )
    request = {"user_id": "user-9", "batch_id": stored_batch["batch_id"]}
    gcp_project.publish(REQUESTS_TOPIC, json.dumps(request).encode())

    (message,) = gcp_project.wait_for_messages(insight_subscription, timeout=30)
    assert message.json()["batch_id"] == stored_batch["batch_id"]
    assert stored_batch["batch_id"] in gcp_project.documents(INSIGHTS_COLLECTION)
    assert log.statuses == [200]


@pytest.mark.push
@pytest.mark.timeout(240)
def test_a_message_that_keeps_failing_lands_on_the_dead_letter_topic(
    gcp_project: EmulatedProject, insight_subscription: str, pushed_ml_service: tuple[str, _PushLog]
) -> None:
    url, log = pushed_ml_service
    gcp_project.create_topic(REQUESTS_TOPIC)
    gcp_project.create_topic(DEAD_LETTER_TOPIC)
    gcp_project.create_subscription("dead-letter-check", topic=DEAD_LETTER_TOPIC)
    gcp_project.create_subscription(
        "ml-push",
        topic=REQUESTS_TOPIC,
        push_endpoint=f"{url}{PUSH_PATH}",
        dead_letter_topic=DEAD_LETTER_TOPIC,
        max_delivery_attempts=5,
    )
    # Names a batch that was never stored: the consumer answers 404 on every delivery.
    poison = json.dumps({"user_id": "user-1", "batch_id": "never-stored"}).encode()
    published_id = gcp_project.publish(REQUESTS_TOPIC, poison, origin="test")

    (dead,) = gcp_project.wait_for_messages("dead-letter-check", timeout=120)

    assert dead.data == poison
    assert dead.attributes["origin"] == "test"
    assert dead.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert dead.attributes["CloudPubSubDeadLetterSourceSubscription"] == "ml-push"
    assert log.statuses == [404] * 5
    assert dead.message_id != published_id  # re-published on the dead-letter topic
    assert INSIGHTS_COLLECTION not in gcp_project.collection_ids()
    assert gcp_project.pull(insight_subscription) == []
