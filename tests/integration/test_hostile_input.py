"""Hostile input against both services on the real emulators: a clean 4xx, nothing stored.

Each case once answered 500 (or a 503 that never went away). Now every one is a 4xx in the
error shape, the answer is strict JSON (no NaN, no unpaired surrogate), and neither
Firestore nor Pub/Sub saw anything.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import httpx
import pytest
from fastapi.testclient import TestClient

from clarity_common.pubsub import MAX_PUSH_BODY_BYTES
from clarity_common.settings import ServiceSettings
from ml_service.main import PUSH_PATH
from ml_service.main import create_app as create_ml_service
from tests.support.emulators import EmulatedProject
from tests.support.samples import batch_payload, sample_payload
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration

SAMPLES = "/v1/healthkit/samples"
ANALYZE = "/v1/analyze"
JSON = {"content-type": "application/json"}


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        msg = f"{name} in an answer"
        raise AssertionError(msg)

    text.encode("utf-8")  # an unpaired surrogate would raise here
    return json.loads(text, parse_constant=refuse)


class _Answer(Protocol):
    """What is read of an answer (httpx's, or the test client's own httpx copy)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...


def _assert_error(response: _Answer, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = _strict_json(response.text)
    assert set(body) == {"error"}
    assert body["error"]["code"] == status
    assert set(body["error"]) == {"code", "reason", "message", "fields"}
    error: dict[str, Any] = body["error"]
    return error


def _sample_with(**fields: Any) -> bytes:
    return json.dumps(batch_payload([sample_payload(**fields)])).encode()


def _batch_with_raw(field: str, literal: str) -> bytes:
    """A valid batch whose ``field`` is replaced by a raw JSON literal (NaN, 1e400...)."""
    text = json.dumps(batch_payload())
    return (text[:-1] + f', "{field}": {literal}}}').encode()


BAD_BODIES: list[tuple[str, bytes, list[str | int] | None]] = [
    ("1e400 in an unknown field", _batch_with_raw("x", "1e400"), ["body"]),
    ("-1e400", _batch_with_raw("x", "-1e400"), ["body"]),
    ("NaN", _batch_with_raw("x", "NaN"), ["body"]),
    ("Infinity", _batch_with_raw("x", "Infinity"), ["body"]),
    ("-Infinity", _batch_with_raw("x", "-Infinity"), ["body"]),
    ("a lone surrogate", _batch_with_raw("user_id", '"\\ud800"'), ["body"]),
    ("a lone surrogate key", _batch_with_raw("\\udfff", "1"), ["body"]),
    ("5,000 digits", _batch_with_raw("x", "1" * 5000), ["body"]),
    ("1,000 levels", _batch_with_raw("x", "[" * 1000 + "]" * 1000), ["body"]),
    ("33 levels", _batch_with_raw("x", "[" * 33 + "]" * 33), ["body"]),
    ("UTF-16", json.dumps(batch_payload()).encode("utf-16"), ["body", 0]),
    (
        "year 1 with an offset",
        _sample_with(start_date="0001-01-01T00:00:00+01:00"),
        ["body", "samples", 0, "start_date"],
    ),
    (
        "year 9999 with an offset",
        _sample_with(end_date="9999-12-31T23:59:59-01:00"),
        ["body", "samples", 0, "end_date"],
    ),
    (
        "before 2000",
        _sample_with(start_date="1999-12-31T23:00:00Z"),
        ["body", "samples", 0, "start_date"],
    ),
    (
        "in the future",
        _sample_with(end_date="2999-01-01T00:00:00Z"),
        ["body", "samples", 0, "end_date"],
    ),
    (
        "an epoch number",
        _sample_with(start_date=1_772_442_000),
        ["body", "samples", 0, "start_date"],
    ),
    (
        "an epoch string",
        _sample_with(start_date="1772442000"),
        ["body", "samples", 0, "start_date"],
    ),
]


@pytest.fixture
def watched(gcp_project: EmulatedProject, ingestion_subscription: str) -> Iterator[EmulatedProject]:
    """The project; after the test, assert that nothing was stored or published."""
    gcp_project.create_topic("insight-generation")
    gcp_project.create_subscription("insight-check", topic="insight-generation")
    yield gcp_project
    time.sleep(0.3)
    assert gcp_project.collection_ids() == []
    assert gcp_project.pull(ingestion_subscription) == []
    assert gcp_project.pull("insight-check") == []


# Each test sends all its cases and reports every one that failed: one project (and one
# nothing-stored check) per test keeps the tier fast.
@pytest.mark.parametrize("path", [SAMPLES, ANALYZE])
def test_bad_bodies_are_422_on_both_services(
    gateway: TestClient, ml_client: TestClient, watched: EmulatedProject, path: str
) -> None:
    client = gateway if path == SAMPLES else ml_client
    failed = []
    for case, batch, location in BAD_BODIES:
        # The analysis takes no batch id: the same body, with the id under another name.
        body = (
            batch.replace(b'"batch_id": ', b'"ignored_batch_id": ', 1) if path == ANALYZE else batch
        )
        try:
            error = _assert_error(client.post(path, content=body, headers=JSON), 422)
            assert error["reason"] == "invalid_request"
            assert location in [field["loc"] for field in error["fields"]], error
        except AssertionError as exc:
            failed.append(f"{case}: {exc}")
    assert not failed, "\n".join(failed)


def test_a_firestore_reserved_id_is_422_not_503_forever(
    gateway: TestClient, watched: EmulatedProject
) -> None:
    for _ in range(2):
        response = gateway.post(SAMPLES, json=batch_payload(batch_id="__batch__"))
        error = _assert_error(response, 422)
        (field,) = error["fields"]
        assert field["loc"] == ["body", "batch_id"]
        assert field["msg"].startswith("ids of the form __name__ are reserved by Firestore")


NOT_JSON = [
    None,
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/json; charset=latin-1",
    "application/jsonx",
]


@pytest.mark.parametrize("path", [SAMPLES, ANALYZE, PUSH_PATH])
def test_only_json_is_accepted(
    gateway: TestClient, ml_client: TestClient, watched: EmulatedProject, path: str
) -> None:
    client = gateway if path == SAMPLES else ml_client
    body = json.dumps(batch_payload()).encode()
    for content_type in NOT_JSON:
        headers = {} if content_type is None else {"content-type": content_type}
        error = _assert_error(client.post(path, content=body, headers=headers), 415)
        assert "Content-Type: application/json" in error["message"], content_type


def test_json_with_a_utf8_charset_is_accepted(
    gateway: TestClient, watched: EmulatedProject
) -> None:
    response = gateway.post(
        SAMPLES,
        content=json.dumps(batch_payload([sample_payload(value=-1)])).encode(),
        headers={"content-type": "Application/JSON; charset=UTF-8"},
    )
    assert _assert_error(response, 422)["fields"][0]["loc"] == ["body", "samples", 0, "value"]


def _envelope(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"subscription": "projects/p/subscriptions/s", "message": message, **extra}


def _data(payload: bytes) -> str:
    return base64.b64encode(payload).decode()


PUSHES: list[tuple[str, bytes, int]] = [
    ("non-ASCII data", json.dumps(_envelope({"data": "é", "messageId": "1"})).encode(), 422),
    (
        "a surrogate message id",
        b'{"subscription": "s", "message": {"data": "", "messageId": "\\ud800"}}',
        422,
    ),
    (
        "NaN delivery attempt",
        b'{"subscription": "s", "message": {"data": "", "messageId": "1"}, "deliveryAttempt": NaN}',
        422,
    ),
    (
        "a boolean delivery attempt",
        json.dumps(_envelope({"data": "", "messageId": "1"}, deliveryAttempt=True)).encode(),
        422,
    ),
    (
        "an epoch publish time",
        json.dumps(_envelope({"data": "", "messageId": "1", "publishTime": 1})).encode(),
        422,
    ),
    (
        "data that is not base64",
        json.dumps(_envelope({"data": "abc", "messageId": "1"})).encode(),
        400,
    ),
    (
        "data with NaN",
        json.dumps(_envelope({"data": _data(b'{"user_id": NaN}'), "messageId": "1"})).encode(),
        400,
    ),
    (
        "data nested 2,000 deep",
        json.dumps(
            _envelope({"data": _data(b"[" * 2000 + b"]" * 2000), "messageId": "1"})
        ).encode(),
        400,
    ),
    (
        "data with 5,000 digits",
        json.dumps(_envelope({"data": _data(b"1" * 5000), "messageId": "1"})).encode(),
        400,
    ),
    (
        "data naming a reserved batch id",
        json.dumps(
            _envelope(
                {"data": _data(b'{"user_id": "u", "batch_id": "__batch__"}'), "messageId": "1"}
            )
        ).encode(),
        400,
    ),
]


def test_bad_pushes_are_clean_4xx(ml_client: TestClient, watched: EmulatedProject) -> None:
    failed = []
    for case, body, status in PUSHES:
        try:
            error = _assert_error(ml_client.post(PUSH_PATH, content=body, headers=JSON), status)
            if status == 400:
                assert error["message"].startswith("message 1: "), error
        except AssertionError as exc:
            failed.append(f"{case}: {exc}")
    assert not failed, "\n".join(failed)


def test_bodies_over_the_limit_are_413_before_they_are_read(watched: EmulatedProject) -> None:
    # Through a real server: the limit holds for declared and for streamed (chunked) bodies.
    ten_megabytes = b'{"pad": "' + b"x" * 10_000_000 + b'"}'
    near_the_push_limit = json.dumps(
        _envelope({"data": "", "messageId": "1"}, pad="x" * MAX_PUSH_BODY_BYTES)
    ).encode()

    def chunks() -> Iterator[bytes]:
        yield near_the_push_limit

    with serve_in_thread(create_ml_service(ServiceSettings())) as url:
        declared = httpx.post(f"{url}{PUSH_PATH}", content=ten_megabytes, headers=JSON)
        streamed = httpx.post(f"{url}{PUSH_PATH}", content=chunks(), headers=JSON)
        analysis = httpx.post(f"{url}{ANALYZE}", content=ten_megabytes, headers=JSON)
    for response in (declared, streamed):
        error = _assert_error(response, 413)
        assert error["message"] == (
            f"the request body is over {MAX_PUSH_BODY_BYTES} bytes: send a smaller body"
        )
    assert _assert_error(analysis, 413)["reason"] == "payload_too_large"


def test_framework_errors_have_the_same_shape(
    gateway: TestClient, watched: EmulatedProject
) -> None:
    for method, path, status in [
        ("GET", "/nowhere", 404),
        ("DELETE", "/health", 405),
        ("PUT", SAMPLES, 405),
    ]:
        response = gateway.request(method, path, content=b"not json")
        _assert_error(response, status)
        if status == 405:
            assert response.headers["allow"] in ("GET", "POST")
