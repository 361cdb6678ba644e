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
import json
from datetime import datetime

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from clarity_common.errors import BatchNotFoundError, InvalidMessageError
from clarity_common.gcp import GoogleClients, unavailable_on_google_errors
from clarity_common.samples import HEALTH_DATA_COLLECTION, BatchId, HealthSample, UserId
from ml_service.analysis import summarize

__all__ = [
    "INSIGHTS_COLLECTION",
    "INSIGHT_TOPIC",
    "ProcessingRequest",
    "PushEnvelope",
    "PushMessage",
    "decode_request",
    "process_request",
]

INSIGHTS_COLLECTION = "insights"
INSIGHT_TOPIC = "insight-generation"


class PushMessage(BaseModel):
    """The ``message`` of a push request (Pub/Sub sends both camelCase and snake_case ids)."""

    model_config = ConfigDict(extra="ignore")

    data: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    message_id: str = Field(validation_alias=AliasChoices("messageId", "message_id"))
    publish_time: datetime | None = Field(
        default=None, validation_alias=AliasChoices("publishTime", "publish_time")
    )


class PushEnvelope(BaseModel):
    """The body Pub/Sub POSTs to a push endpoint."""

    model_config = ConfigDict(extra="ignore")

    message: PushMessage
    subscription: str
    delivery_attempt: int | None = Field(
        default=None, validation_alias=AliasChoices("deliveryAttempt", "delivery_attempt")
    )


class ProcessingRequest(BaseModel):
    """What a message on ``ml-processing-requests`` asks for."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: UserId
    batch_id: BatchId


def decode_request(envelope: PushEnvelope) -> ProcessingRequest:
    """Decode the base64 JSON payload; :class:`InvalidMessageError` if it is not a valid request."""
    try:
        raw = base64.b64decode(envelope.message.data, validate=True)
        return ProcessingRequest.model_validate(json.loads(raw))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"message {envelope.message.message_id}: data is not base64-encoded JSON ({exc})"
        raise InvalidMessageError(msg) from None
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
