"""What became of a batch: pending, processed (its insight) or failed (dead-lettered).

The gateway owns the batch record (``ingestion_batches/{batch_id}``, see
:mod:`api_gateway.ingestion`); the ML service owns the insight (``insights/{batch_id}``). A
batch's status is read from both:

* **processed**: the insight exists (it wins: a batch analysed again after a failure, by a
  request on ``ml-processing-requests``, is processed);
* **failed**: no insight, and the record holds a ``failure``. The gateway writes it when the
  batch's announcement reaches the dead-letter topic of ``healthkit-data-ingestion``, pushed
  by a subscription of that topic to :func:`record_dead_letter`. The dead-letter topic's own
  pull subscription keeps the message too, so nothing is lost while the cause is fixed;
* **pending**: neither yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from google.api_core.exceptions import NotFound
from google.cloud import firestore
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api_gateway.ingestion import BATCHES_COLLECTION
from clarity_common.errors import BackendUnavailableError, InvalidMessageError
from clarity_common.gcp import GoogleClients, unavailable_on_google_errors
from clarity_common.pubsub import PushEnvelope, decode_message
from clarity_common.samples import EXPIRE_AT_FIELD, INSIGHTS_COLLECTION, BatchId

__all__ = [
    "DEAD_LETTER_SOURCE_COUNT",
    "DEAD_LETTER_SOURCE_SUBSCRIPTION",
    "BatchStatus",
    "DeadLetterResult",
    "read_batch_status",
    "record_dead_letter",
]

DEAD_LETTER_SOURCE_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
DEAD_LETTER_SOURCE_SUBSCRIPTION = "CloudPubSubDeadLetterSourceSubscription"
"""Attributes Pub/Sub adds to a message it moves to a dead-letter topic."""

BatchState = Literal["pending", "processed", "failed"]


class BatchStatus(BaseModel):
    """A stored batch and what became of it."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    user_id: str
    samples: int = Field(description="Samples stored for the batch.")
    status: BatchState
    received_at: datetime | None = None
    synthetic: bool = False
    expires_at: datetime | None = Field(
        default=None,
        description="Synthetic batches only: when Firestore's TTL policy deletes the batch, its samples and its insight.",
    )
    insight: dict[str, Any] | None = Field(
        default=None, description="The ML service's summary, once processed."
    )
    failure: str | None = Field(default=None, description="Why the batch failed, once failed.")


class DeadLetterResult(BaseModel):
    """The answer to a dead-lettered announcement: whether a batch was marked failed."""

    batch_id: str | None
    recorded: bool
    detail: str


class _Announcement(BaseModel):
    """The part of an ingestion announcement that names the batch."""

    model_config = ConfigDict(extra="ignore")

    batch_id: BatchId


def read_batch_status(clients: GoogleClients, batch_id: str) -> BatchStatus | None:
    """The status of ``batch_id``, or None when no such batch was stored."""
    db = clients.firestore()
    with unavailable_on_google_errors("cannot read the batch from Firestore"):
        record = (
            db.collection(BATCHES_COLLECTION).document(batch_id).get(**clients.firestore_call())
        )
    stored = record.to_dict() if record.exists else None
    if stored is None:
        return None
    with unavailable_on_google_errors("cannot read the insight from Firestore"):
        insight = (
            db.collection(INSIGHTS_COLLECTION).document(batch_id).get(**clients.firestore_call())
        )
    found = insight.to_dict() if insight.exists else None
    state: BatchState = "pending"
    if found is not None:
        state = "processed"
    elif stored.get("failure"):
        state = "failed"
    synthetic = bool(stored.get("synthetic"))
    return BatchStatus(
        batch_id=batch_id,
        user_id=str(stored.get("user_id", "")),
        samples=int(stored.get("samples", 0)),
        status=state,
        received_at=stored.get("received_at"),
        synthetic=synthetic,
        expires_at=stored.get(EXPIRE_AT_FIELD) if synthetic else None,
        insight=found.get("summary") if found is not None else None,
        failure=str(stored["failure"]) if state == "failed" else None,
    )


def record_dead_letter(clients: GoogleClients, envelope: PushEnvelope) -> DeadLetterResult:
    """Mark the batch a dead-lettered announcement names as failed.

    A message that names no stored batch (a poison message someone else published) is
    acknowledged without a change: redelivering it would change nothing, and the dead-letter
    topic's pull subscription still holds it. Only an unavailable Firestore is an error (503,
    so Pub/Sub delivers the message again).
    """
    attributes = envelope.message.attributes
    try:
        batch_id = _named_batch(envelope)
    except InvalidMessageError as exc:
        return DeadLetterResult(batch_id=None, recorded=False, detail=str(exc))
    attempts = attributes.get(DEAD_LETTER_SOURCE_COUNT, "the maximum number of")
    source = attributes.get(DEAD_LETTER_SOURCE_SUBSCRIPTION, "its subscription")
    failure = (
        f"not processed: dead-lettered after {attempts} delivery attempts to {source}; "
        f"the message is kept on the dead-letter subscription (message {envelope.message.message_id})"
    )
    record = clients.firestore().collection(BATCHES_COLLECTION).document(batch_id)
    try:
        with unavailable_on_google_errors("cannot record the failure in Firestore"):
            record.update(
                {"failure": failure, "failed_at": firestore.SERVER_TIMESTAMP},
                **clients.firestore_call(),
            )
    except BackendUnavailableError as exc:
        if isinstance(exc.__cause__, NotFound):
            return DeadLetterResult(
                batch_id=batch_id, recorded=False, detail=f"no batch {batch_id!r} is stored"
            )
        raise
    return DeadLetterResult(batch_id=batch_id, recorded=True, detail=failure)


def _named_batch(envelope: PushEnvelope) -> str:
    """The batch an announcement names: its ``batch_id`` attribute, else its data."""
    named = envelope.message.attributes.get("batch_id")
    if named is None:
        return decode_message(envelope, _Announcement, what="an ingestion announcement").batch_id
    try:
        return _Announcement(batch_id=named).batch_id
    except ValidationError:
        msg = f"message {envelope.message.message_id}: its batch_id attribute is not a batch id"
        raise InvalidMessageError(msg) from None
