"""POST /v1/healthkit/samples against the real Firestore and Pub/Sub emulators."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from api_gateway.ingestion import BATCHES_COLLECTION, INGESTION_TOPIC, ingest_batch
from api_gateway.main import create_app as create_gateway
from api_gateway.settings import GatewaySettings
from clarity_common.gcp import GoogleClients
from clarity_common.samples import MAX_BODY_BYTES, MAX_SAMPLES_PER_BATCH, SampleBatch
from tests.support.emulators import EmulatedProject
from tests.support.samples import batch_payload, sample_payload
from tests.support.servers import closed_port, serve_in_thread

pytestmark = pytest.mark.integration

PATH = "/v1/healthkit/samples"


def _assert_nothing_published(gcp_project: EmulatedProject, subscription: str) -> None:
    time.sleep(0.3)  # a publish completes before the response; leave the emulator a moment anyway
    assert gcp_project.pull(subscription) == []


def test_a_batch_is_stored_and_announced_once(
    gateway: TestClient, gcp_project: EmulatedProject, ingestion_subscription: str
) -> None:
    payload = batch_payload(
        [
            sample_payload(
                value=1200,
                start_date="2026-03-02T10:00:00+02:00",
                end_date="2026-03-02T10:30:00+02:00",
            ),
            sample_payload("heart_rate", 64.5, "count/min"),
        ],
        user_id="user-7",
    )
    response = gateway.post(PATH, json=payload)

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "batch_id": payload["batch_id"],
        "samples": 2,
        "message_id": body["message_id"],
        "duplicate": False,
    }
    samples = gcp_project.documents("health_data")
    assert sorted(samples) == [f"{payload['batch_id']}-0000", f"{payload['batch_id']}-0001"]
    first = samples[f"{payload['batch_id']}-0000"]
    assert first == {
        "user_id": "user-7",
        "batch_id": payload["batch_id"],
        "sample_type": "step_count",
        "value": 1200.0,
        "unit": "count",
        "start_date": "2026-03-02T08:00:00Z",
        "end_date": "2026-03-02T08:30:00Z",
    }
    record = gcp_project.documents(BATCHES_COLLECTION)[payload["batch_id"]]
    assert record["message_id"] == body["message_id"]
    assert record["samples"] == 2
    assert record["lease_until"] is None
    (message,) = gcp_project.wait_for_messages(ingestion_subscription)
    assert message.message_id == body["message_id"]
    assert message.attributes == {"batch_id": payload["batch_id"], "user_id": "user-7"}
    assert message.json() == {
        "batch_id": payload["batch_id"],
        "user_id": "user-7",
        "samples": 2,
        "sample_types": ["heart_rate", "step_count"],
    }


def test_a_retried_batch_stores_and_publishes_nothing_twice(
    gateway: TestClient, gcp_project: EmulatedProject, ingestion_subscription: str
) -> None:
    payload = batch_payload(count=4)
    first = gateway.post(PATH, json=payload)
    gcp_project.wait_for_messages(ingestion_subscription)
    stored = gcp_project.documents("health_data")

    retries = [gateway.post(PATH, json=payload) for _ in range(3)]

    assert [retry.status_code for retry in retries] == [200, 200, 200]
    for retry in retries:
        assert retry.json() == {**first.json(), "duplicate": True}
    assert gcp_project.documents("health_data") == stored
    assert len(stored) == 4
    _assert_nothing_published(gcp_project, ingestion_subscription)


def test_the_same_batch_id_with_other_content_is_409(
    gateway: TestClient, gcp_project: EmulatedProject, ingestion_subscription: str
) -> None:
    payload = batch_payload(count=2)
    gateway.post(PATH, json=payload)
    gcp_project.wait_for_messages(ingestion_subscription)
    stored = gcp_project.documents("health_data")
    records = gcp_project.documents(BATCHES_COLLECTION)

    altered = {**payload, "samples": [sample_payload(value=5)]}
    response = gateway.post(PATH, json=altered)

    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": 409,
            "reason": "conflict",
            "message": f"batch_id {payload['batch_id']!r} was already used for a different "
            "batch: give every new batch a new batch_id (a UUID)",
            "fields": [],
        }
    }
    assert gcp_project.documents("health_data") == stored
    assert gcp_project.documents(BATCHES_COLLECTION) == records
    _assert_nothing_published(gcp_project, ingestion_subscription)


def _json(payload: Any) -> bytes:
    return json.dumps(payload).encode()


REJECTED: list[tuple[str, bytes, int, list[Any] | None]] = [
    ("malformed JSON", b'{"batch_id": "batch-0001", "samples": [', 422, ["body", 39]),
    ("not JSON at all", b"samples=1", 422, ["body", 0]),
    ("JSON but not an object", _json([sample_payload()]), 422, ["body"]),
    (
        "missing samples",
        _json({"batch_id": "batch-0001", "user_id": "u"}),
        422,
        ["body", "samples"],
    ),
    (
        "missing batch id",
        _json({"user_id": "u", "samples": [sample_payload()]}),
        422,
        ["body", "batch_id"],
    ),
    (
        "wrong type for value",
        _json(batch_payload([{**sample_payload(), "value": "12"}])),
        422,
        ["body", "samples", 0, "value"],
    ),
    (
        "wrong type for samples",
        _json({**batch_payload(), "samples": {"a": 1}}),
        422,
        ["body", "samples"],
    ),
    ("wrong type for user id", _json({**batch_payload(), "user_id": 12}), 422, ["body", "user_id"]),
    (
        "unknown sample type",
        _json(batch_payload([sample_payload(), sample_payload(sample_type="mood")])),
        422,
        ["body", "samples", 1, "sample_type"],
    ),
    (
        "unit not fitting the type",
        _json(batch_payload([sample_payload(unit="steps")])),
        422,
        ["body", "samples", 0, "unit"],
    ),
    (
        "value out of range",
        _json(batch_payload([sample_payload("heart_rate", 900, "count/min")])),
        422,
        ["body", "samples", 0, "value"],
    ),
    (
        "timestamp without offset",
        _json(batch_payload([sample_payload(start_date="2026-03-02T09:00:00")])),
        422,
        ["body", "samples", 0, "start_date"],
    ),
    (
        "end before start",
        _json(batch_payload([sample_payload(minutes=-5)])),
        422,
        ["body", "samples", 0, "end_date"],
    ),
    ("unknown field", _json({**batch_payload(), "device": "watch"}), 422, ["body", "device"]),
    ("empty batch", _json(batch_payload([])), 422, ["body", "samples"]),
    (
        "batch id that is not a key",
        _json(batch_payload(batch_id="a/b/c/d/e")),
        422,
        ["body", "batch_id"],
    ),
    ("one sample over the limit", _json(batch_payload(count=MAX_SAMPLES_PER_BATCH + 1)), 413, None),
    ("body over the byte limit", b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}', 413, None),
]


@pytest.mark.parametrize("case", REJECTED, ids=[case[0] for case in REJECTED])
def test_rejected_requests_write_nothing(
    gateway: TestClient,
    gcp_project: EmulatedProject,
    ingestion_subscription: str,
    case: tuple[str, bytes, int, list[Any] | None],
) -> None:
    _, body, status, location = case
    response = gateway.post(PATH, content=body, headers={"content-type": "application/json"})

    assert response.status_code == status
    if location is not None:
        assert location in [error["loc"] for error in response.json()["error"]["fields"]]
    else:
        message = response.json()["error"]["message"]
        assert "limit" in message or "over" in message
    assert gcp_project.collection_ids() == []
    _assert_nothing_published(gcp_project, ingestion_subscription)


def test_publish_failure_keeps_the_samples_and_a_retry_publishes_once(
    gateway: TestClient, gcp_project: EmulatedProject
) -> None:
    # The ingestion topic does not exist yet: the write succeeds, the publish fails.
    payload = batch_payload(count=3)
    failed = gateway.post(PATH, json=payload)

    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "1"
    assert failed.json()["error"]["message"].startswith(
        f"cannot publish to Pub/Sub topic {INGESTION_TOPIC!r}: NotFound"
    )
    assert len(gcp_project.documents("health_data")) == 3
    record = gcp_project.documents(BATCHES_COLLECTION)[payload["batch_id"]]
    assert record["message_id"] is None
    assert record["lease_until"] is None  # dropped, so the retry need not wait

    gcp_project.create_topic(INGESTION_TOPIC)
    gcp_project.create_subscription("ingestion-check", topic=INGESTION_TOPIC)
    retried = gateway.post(PATH, json=payload)
    again = gateway.post(PATH, json=payload)

    assert retried.status_code == 200
    assert retried.json()["duplicate"] is True
    assert again.json() == retried.json()
    messages = gcp_project.wait_for_messages("ingestion-check")
    _assert_nothing_published(gcp_project, "ingestion-check")
    assert [message.message_id for message in messages] == [retried.json()["message_id"]]
    assert len(gcp_project.documents("health_data")) == 3


def test_unreachable_firestore_is_503_and_publishes_nothing(
    monkeypatch: pytest.MonkeyPatch, gcp_project: EmulatedProject, ingestion_subscription: str
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("FIRESTORE_TIMEOUT_SECONDS", "1")
    with TestClient(create_gateway(GatewaySettings())) as client:
        started = time.monotonic()
        response = client.post(PATH, json=batch_payload())
        elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["error"]["message"].startswith("cannot store the batch in Firestore: ")
    assert elapsed < 3.0
    _assert_nothing_published(gcp_project, ingestion_subscription)


def test_concurrent_retries_publish_exactly_once(
    gcp_project: EmulatedProject, ingestion_subscription: str
) -> None:
    payload = batch_payload(count=20)
    statuses: list[int] = []
    start = threading.Barrier(6)

    with serve_in_thread(create_gateway(GatewaySettings())) as url:

        def post() -> None:
            start.wait()
            statuses.append(httpx.post(f"{url}{PATH}", json=payload, timeout=30).status_code)

        threads = [threading.Thread(target=post) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        final = httpx.post(f"{url}{PATH}", json=payload, timeout=30)

    assert statuses.count(201) == 1
    assert set(statuses) <= {200, 201, 503}
    assert final.status_code == 200
    assert len(gcp_project.documents("health_data")) == 20
    (message,) = gcp_project.wait_for_messages(ingestion_subscription)
    assert message.message_id == final.json()["message_id"]
    _assert_nothing_published(gcp_project, ingestion_subscription)


def test_a_named_database_is_used_when_configured(
    monkeypatch: pytest.MonkeyPatch, gcp_project: EmulatedProject, ingestion_subscription: str
) -> None:
    monkeypatch.setenv("FIRESTORE_DATABASE", "clarity-dev")
    payload = batch_payload(count=2)
    with TestClient(create_gateway(GatewaySettings())) as client:
        assert client.post(PATH, json=payload).status_code == 201

    try:
        assert len(gcp_project.documents("health_data", database="clarity-dev")) == 2
        assert gcp_project.collection_ids() == []  # nothing in (default)
    finally:
        gcp_project.reset_firestore(database="clarity-dev")


def test_a_publisher_that_died_holds_the_batch_until_its_lease_expires(
    gateway: TestClient, gcp_project: EmulatedProject
) -> None:
    payload = batch_payload(count=2)
    assert gateway.post(PATH, json=payload).status_code == 503  # stored; no topic to publish to
    gcp_project.create_topic(INGESTION_TOPIC)
    gcp_project.create_subscription("ingestion-check", topic=INGESTION_TOPIC)
    # Another instance took the lease and died before publishing.
    taken_at = datetime.now(UTC)
    database = firestore.Client(project=gcp_project.project)
    database.collection(BATCHES_COLLECTION).document(payload["batch_id"]).update(
        {"lease_until": taken_at + timedelta(seconds=60), "lease_holder": "instance-that-died"}
    )

    blocked = gateway.post(PATH, json=payload)

    assert blocked.status_code == 503
    assert 55 <= int(blocked.headers["retry-after"]) <= 60
    assert "is being published by another request" in blocked.json()["error"]["message"]
    time.sleep(0.3)
    assert gcp_project.pull("ingestion-check") == []

    settings = GatewaySettings()
    clients = GoogleClients(settings)
    try:
        batch = SampleBatch.model_validate(payload)
        result = ingest_batch(clients, batch, now=taken_at + timedelta(seconds=61))
    finally:
        clients.close()
    assert result.stored_now is False
    (message,) = gcp_project.wait_for_messages("ingestion-check")
    assert message.message_id == result.message_id
    assert gateway.post(PATH, json=payload).json()["message_id"] == result.message_id
