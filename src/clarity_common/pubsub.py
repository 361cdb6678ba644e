"""Pub/Sub push deliveries: the envelope both services receive, and decoding its data.

Pub/Sub POSTs ``{"message": {"data": <base64>, "attributes": {...}, "messageId": ...},
"subscription": ..., "deliveryAttempt": n}`` to a push endpoint. A 2xx answer acknowledges
the message; anything else has it redelivered, and after the subscription's
``max_delivery_attempts`` moved to its dead-letter topic.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
)

from clarity_common.errors import InvalidJsonError, InvalidMessageError
from clarity_common.payloads import parse_json
from clarity_common.samples import Rfc3339Datetime

__all__ = [
    "MAX_PUSH_BODY_BYTES",
    "PushEnvelope",
    "PushMessage",
    "decode_message",
    "example_envelope",
]

MessageT = TypeVar("MessageT", bound=BaseModel)

MAX_PUSH_BODY_BYTES = 65_536
"""Largest push envelope accepted. Our messages are a few hundred bytes; anything near
Pub/Sub's 10 MB message limit is not one of them, and is refused (413) before it is parsed."""

_BASE64 = r"^[A-Za-z0-9+/]*={0,2}$"
_MESSAGE_ID = r"^[A-Za-z0-9_.:-]{1,128}$"


def _json_integer(value: object) -> object:
    """A JSON number (``3`` or ``3.0``); a lax int would also take ``true`` and ``"3"``."""
    if isinstance(value, bool | str):
        msg = "send a whole number"
        raise ValueError(msg)  # noqa: TRY004 - pydantic reports ValueError; a TypeError escapes
    return value


class PushMessage(BaseModel):
    """The ``message`` of a push request (Pub/Sub sends both camelCase and snake_case ids)."""

    model_config = ConfigDict(extra="ignore")

    data: str = Field(default="", pattern=_BASE64, description="Base64 of the JSON payload.")
    attributes: dict[str, str] = Field(default_factory=dict)
    message_id: str = Field(
        validation_alias=AliasChoices("messageId", "message_id"), pattern=_MESSAGE_ID
    )
    publish_time: Rfc3339Datetime | None = Field(
        default=None, validation_alias=AliasChoices("publishTime", "publish_time")
    )


def example_envelope(data: bytes, subscription: str) -> dict[str, JsonValue]:
    """A documented example push of ``data`` (encoded here, so the example stays readable)."""
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": "1234567890",
            "publishTime": "2026-03-02T08:00:00Z",
        },
        "subscription": f"projects/clarity/subscriptions/{subscription}",
        "deliveryAttempt": 1,
    }


class PushEnvelope(BaseModel):
    """The body Pub/Sub POSTs to a push endpoint."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                example_envelope(
                    b'{"user_id": "user-1", "batch_id": "example-batch-0001"}',
                    "healthkit-data-ingestion-ml",
                )
            ]
        },
    )

    message: PushMessage
    subscription: str = Field(max_length=512)
    # The bound sits on the integer, so the document says "minimum": 0 where a client reads it.
    delivery_attempt: Annotated[int, Field(ge=0), BeforeValidator(_json_integer)] | None = Field(
        default=None, validation_alias=AliasChoices("deliveryAttempt", "delivery_attempt")
    )


def decode_message(envelope: PushEnvelope, model: type[MessageT], *, what: str) -> MessageT:
    """Decode the base64 JSON payload as ``model`` (``what`` names it in errors).

    :class:`InvalidMessageError` if the data is not JSON or not such a message.
    """
    message_id = envelope.message.message_id
    try:
        # ValueError: b64decode refuses non-ASCII text before it decodes anything.
        raw = base64.b64decode(envelope.message.data, validate=True)
        data = parse_json(raw)
    except (binascii.Error, ValueError, InvalidJsonError) as exc:
        msg = f"message {message_id}: data is not base64-encoded JSON ({exc})"
        raise InvalidMessageError(msg) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'data'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        msg = f"message {message_id}: not {what} ({fields})"
        raise InvalidMessageError(msg) from None
