"""Decoding Pub/Sub push requests, and mapping Google errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.api_core.exceptions import NotFound, ServiceUnavailable
from google.auth.exceptions import DefaultCredentialsError
from pydantic import ValidationError

from clarity_common.errors import BackendUnavailableError, InvalidMessageError
from clarity_common.gcp import describe_error, unavailable_on_google_errors
from clarity_common.pubsub import PushEnvelope, PushMessage
from ml_service.processing import ProcessingRequest, decode_request

pytestmark = pytest.mark.unit


def _envelope(data: str, **message: Any) -> PushEnvelope:
    return PushEnvelope.model_validate(
        {
            "subscription": "projects/p/subscriptions/s",
            "message": {"data": data, "messageId": "42", **message},
        }
    )


def _encoded(payload: object) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def test_decodes_a_processing_request() -> None:
    request = decode_request(
        _envelope(_encoded({"user_id": "user-1", "batch_id": "batch-0001", "extra": 1}))
    )
    assert request == ProcessingRequest(user_id="user-1", batch_id="batch-0001")


def test_envelope_accepts_both_spellings_pubsub_uses() -> None:
    camel = PushEnvelope.model_validate(
        {
            "subscription": "s",
            "deliveryAttempt": 3,
            "message": {"data": "", "messageId": "7", "publishTime": "2026-03-02T08:00:00.123Z"},
        }
    )
    snake = PushEnvelope.model_validate(
        {
            "subscription": "s",
            "message": {"data": "", "message_id": "7", "publish_time": "2026-03-02T08:00:00.123Z"},
        }
    )
    assert camel.message.message_id == snake.message.message_id == "7"
    assert camel.message.publish_time == snake.message.publish_time
    assert camel.delivery_attempt == 3
    assert snake.delivery_attempt is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("abc", "data is not base64-encoded JSON"),
        (base64.b64encode(b"\xff\xfe").decode(), "data is not base64-encoded JSON"),
        (base64.b64encode(b'{"user_id": NaN}').decode(), "data is not base64-encoded JSON"),
        (base64.b64encode(b"[" * 2000 + b"]" * 2000).decode(), "data is not base64-encoded JSON"),
        (base64.b64encode(b"1" * 5000).decode(), "data is not base64-encoded JSON"),
        (base64.b64encode(b"{not json").decode(), "data is not base64-encoded JSON"),
        ("", "data is not base64-encoded JSON"),
        (_encoded({"user_id": "user-1"}), r"not a processing request \(batch_id: Field required\)"),
        (
            _encoded({"user_id": "user/1", "batch_id": "batch-0001"}),
            r"not a processing request \(user_id: String should match",
        ),
        (_encoded([1, 2]), r"not a processing request \(data: Input should be a valid dictionary"),
    ],
)
def test_undecodable_messages_are_invalid(data: str, reason: str) -> None:
    with pytest.raises(InvalidMessageError, match=rf"^message 42: {reason}"):
        decode_request(_envelope(data))


def test_data_that_skipped_validation_is_still_a_clean_error() -> None:
    # The envelope's pattern refuses non-ASCII data; the decoder must not rely on it.
    envelope = PushEnvelope.model_construct(
        message=PushMessage.model_construct(data="é", message_id="42"), subscription="s"
    )
    with pytest.raises(InvalidMessageError, match=r"^message 42: data is not base64-encoded JSON"):
        decode_request(envelope)


@pytest.mark.parametrize(
    "message",
    [
        {"data": "é", "messageId": "1"},
        {"data": "", "messageId": "\ud800"},
        {"data": "", "messageId": ""},
        {"data": "", "messageId": "1", "attributes": {"a": 1}},
    ],
)
def test_envelopes_pubsub_never_sends_are_refused(message: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PushEnvelope.model_validate({"subscription": "s", "message": message})


@pytest.mark.parametrize(
    "error",
    [
        ServiceUnavailable("down"),
        NotFound("no topic"),
        DefaultCredentialsError("no credentials"),
        TimeoutError(),
    ],
)
def test_google_errors_become_unavailable(error: Exception) -> None:
    with (
        pytest.raises(
            BackendUnavailableError, match=rf"^reading: {type(error).__name__}"
        ) as caught,
        unavailable_on_google_errors("reading"),
    ):
        raise error
    assert caught.value.__cause__ is error


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), unavailable_on_google_errors("reading"):
        raise KeyError(0)


def test_error_descriptions_are_one_bounded_line() -> None:
    text = describe_error(ValueError("first line\n\tsecond   line " + "x" * 400))
    assert text.startswith("ValueError: first line second line x")
    assert "\n" not in text
    assert len(text) <= len("ValueError: ") + 300
    assert text.endswith("...")
    assert describe_error(TimeoutError()) == "TimeoutError"
