"""The Pub/Sub push consumer of ``ml-processing-requests``.

A message's data is JSON ``{"user_id": ..., "batch_id": ...}`` naming a batch the gateway
stored in ``health_data``. The consumer analyses that batch, writes the insight to
``insights/{batch_id}`` and publishes ``{"insight_id", "user_id", "batch_id", "flags"}`` to
``insight-generation``.

Any failure answers non-2xx so Pub/Sub redelivers; after the subscription's
``max_delivery_attempts`` the message goes to its dead-letter topic. Redelivery is safe: the
insight document id is the batch id, so a repeat overwrites it with the same content.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from clarity_common.errors import BatchNotFoundError, InvalidJsonError, InvalidMessageError
from clarity_common.gcp import GoogleClients, unavailable_on_google_errors
from clarity_common.payloads import parse_json
from clarity_common.samples import (
    HEALTH_DATA_COLLECTION,
    BatchId,
    HealthSample,
    Rfc3339Datetime,
    UserId,
)
from ml_service.analysis import summarize

__all__ = [
    "INSIGHTS_COLLECTION",
    "INSIGHT_TOPIC",
    "MAX_PUSH_BODY_BYTES",
    "ProcessingRequest",
    "PushEnvelope",
    "PushMessage",
    "PushResult",
    "decode_request",
    "process_request",
]

INSIGHTS_COLLECTION = "insights"
INSIGHT_TOPIC = "insight-generation"

MAX_PUSH_BODY_BYTES = 65_536
"""Largest push envelope accepted. A processing request is about 100 bytes; anything near
Pub/Sub's 10 MB message limit is not one, and is refused (413) before it is parsed."""

_BASE64 = r"^[A-Za-z0-9+/]*={0,2}$"
_EXAMPLE_DATA = base64.b64encode(
    b'{"user_id": "user-1", "batch_id": "example-batch-0001"}'
).decode()
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

    data: str = Field(default="", pattern=_BASE64, description="Base64 of the JSON request.")
    attributes: dict[str, str] = Field(default_factory=dict)
    message_id: str = Field(
        validation_alias=AliasChoices("messageId", "message_id"), pattern=_MESSAGE_ID
    )
    publish_time: Rfc3339Datetime | None = Field(
        default=None, validation_alias=AliasChoices("publishTime", "publish_time")
    )


class PushEnvelope(BaseModel):
    """The body Pub/Sub POSTs to a push endpoint."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "message": {
                        "data": _EXAMPLE_DATA,
                        "messageId": "1234567890",
                        "publishTime": "2026-03-02T08:00:00Z",
                    },
                    "subscription": "projects/clarity/subscriptions/ml-processing-requests-push",
                    "deliveryAttempt": 1,
                }
            ]
        },
    )

    message: PushMessage
    subscription: str = Field(max_length=512)
    delivery_attempt: Annotated[int, BeforeValidator(_json_integer)] | None = Field(
        default=None,
        ge=0,
        validation_alias=AliasChoices("deliveryAttempt", "delivery_attempt"),
    )


class PushResult(BaseModel):
    """The answer to a processed push: the insight written."""

    insight_id: str


class ProcessingRequest(BaseModel):
    """What a message on ``ml-processing-requests`` asks for."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: UserId
    batch_id: BatchId


def decode_request(envelope: PushEnvelope) -> ProcessingRequest:
    """Decode the base64 JSON payload; :class:`InvalidMessageError` if it is not a valid request."""
    try:
        # ValueError: b64decode refuses non-ASCII text before it decodes anything.
        raw = base64.b64decode(envelope.message.data, validate=True)
        data = parse_json(raw)
    except (binascii.Error, ValueError, InvalidJsonError) as exc:
        msg = f"message {envelope.message.message_id}: data is not base64-encoded JSON ({exc})"
        raise InvalidMessageError(msg) from None
    try:
        return ProcessingRequest.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'data'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        msg = f"message {envelope.message.message_id}: not a processing request ({fields})"
        raise InvalidMessageError(msg) from None


def process_request(clients: GoogleClients, request: ProcessingRequest, *, message_id: str) -> str:
    """Analyse the batch, store the insight and announce it; return the insight id."""
    db = clients.firestore()
    with unavailable_on_google_errors("cannot read the batch from Firestore"):
        documents = list(
            db.collection(HEALTH_DATA_COLLECTION)
            .where(filter=FieldFilter("batch_id", "==", request.batch_id))
            .where(filter=FieldFilter("user_id", "==", request.user_id))
            .stream(**clients.firestore_call())
        )
    if not documents:
        msg = f"no samples are stored for batch {request.batch_id!r} of user {request.user_id!r}"
        raise BatchNotFoundError(msg)
    fields = set(HealthSample.model_fields)
    samples = [
        HealthSample.model_validate(
            {key: value for key, value in (doc.to_dict() or {}).items() if key in fields}
        )
        for doc in documents
    ]
    summary = summarize(request.user_id, samples)
    insight_id = request.batch_id
    with unavailable_on_google_errors("cannot store the insight in Firestore"):
        db.collection(INSIGHTS_COLLECTION).document(insight_id).set(
            {
                "user_id": request.user_id,
                "batch_id": request.batch_id,
                "summary": summary.model_dump(mode="json"),
                "source_message_id": message_id,
                "created_at": firestore.SERVER_TIMESTAMP,
            },
            **clients.firestore_call(),
        )
    clients.publish(
        INSIGHT_TOPIC,
        {
            "insight_id": insight_id,
            "user_id": request.user_id,
            "batch_id": request.batch_id,
            "flags": [flag.code for flag in summary.flags],
        },
        attributes={"insight_id": insight_id, "user_id": request.user_id},
    )
    return insight_id
