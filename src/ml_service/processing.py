"""The Pub/Sub push consumer of ``healthkit-data-ingestion`` and ``ml-processing-requests``.

Both topics carry JSON naming a batch the gateway stored in ``health_data``: the gateway
announces every stored batch on ``healthkit-data-ingestion`` (``{"batch_id", "user_id",
"samples", ...}``), and ``{"user_id", "batch_id"}`` on ``ml-processing-requests`` asks for a
batch to be analysed again (a batch that was dead-lettered, once the cause is fixed). The
consumer analyses the batch, writes the insight to ``insights/{batch_id}`` and announces it
once on ``insight-generation`` (``{"insight_id", "user_id", "batch_id", "flags"}``).

Any failure answers non-2xx so Pub/Sub redelivers; after the subscription's
``max_delivery_attempts`` the message goes to its dead-letter topic. Redelivery and duplicate
delivery are safe: the insight's document id is the batch id, so there is only ever one
insight per batch, and an insight already announced is neither rewritten nor announced again.
Only when announcing fails after the insight was written (or two deliveries of one batch run
at the same moment) is it announced twice, under the same insight id.

Synthetic batches (test traffic, see :mod:`api_gateway.ingestion`) keep their ``expire_at``
on the insight, so Firestore's TTL policy deletes the insight with the batch, and their
announcement carries the attribute ``synthetic=true``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import BaseModel, ConfigDict

from clarity_common.errors import BackendUnavailableError, BatchNotFoundError
from clarity_common.gcp import GoogleClients, unavailable_on_google_errors
from clarity_common.pubsub import PushEnvelope, decode_message
from clarity_common.samples import (
    EXPIRE_AT_FIELD,
    HEALTH_DATA_COLLECTION,
    INSIGHTS_COLLECTION,
    BatchId,
    HealthSample,
    UserId,
)
from ml_service.analysis import summarize

__all__ = [
    "INSIGHTS_COLLECTION",
    "INSIGHT_TOPIC",
    "ProcessingRequest",
    "ProcessingResult",
    "PushResult",
    "decode_request",
    "process_request",
]

INSIGHT_TOPIC = "insight-generation"

_log = logging.getLogger("clarity")


class PushResult(BaseModel):
    """The answer to a processed push: the insight, and whether it existed already."""

    insight_id: str
    duplicate: bool = False
    """True when the insight had been written and announced by an earlier delivery."""


class ProcessingRequest(BaseModel):
    """What a message on ``ml-processing-requests`` asks for."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: UserId
    batch_id: BatchId


def decode_request(envelope: PushEnvelope) -> ProcessingRequest:
    """Decode the base64 JSON payload; :class:`InvalidMessageError` if it is not a valid request."""
    return decode_message(envelope, ProcessingRequest, what="a processing request")


@dataclass(frozen=True)
class ProcessingResult:
    """What processing a request did."""

    insight_id: str
    duplicate: bool


def process_request(
    clients: GoogleClients, request: ProcessingRequest, *, message_id: str
) -> ProcessingResult:
    """Analyse the batch, store the insight and announce it, unless that was done already."""
    db = clients.firestore()
    insight_id = request.batch_id
    insight = db.collection(INSIGHTS_COLLECTION).document(insight_id)
    with unavailable_on_google_errors("cannot read the insight from Firestore"):
        existing = insight.get(**clients.firestore_call()).to_dict() or {}
    if existing.get("announced_message_id") and existing.get("user_id") == request.user_id:
        return ProcessingResult(insight_id, duplicate=True)

    with unavailable_on_google_errors("cannot read the batch from Firestore"):
        documents = [
            doc.to_dict() or {}
            for doc in db.collection(HEALTH_DATA_COLLECTION)
            .where(filter=FieldFilter("batch_id", "==", request.batch_id))
            .where(filter=FieldFilter("user_id", "==", request.user_id))
            .stream(**clients.firestore_call())
        ]
    if not documents:
        msg = f"no samples are stored for batch {request.batch_id!r} of user {request.user_id!r}"
        raise BatchNotFoundError(msg)
    fields = set(HealthSample.model_fields)
    samples = [
        HealthSample.model_validate({key: value for key, value in doc.items() if key in fields})
        for doc in documents
    ]
    summary = summarize(request.user_id, samples)
    expire_at = _expiry(documents)
    document: dict[str, Any] = {
        "user_id": request.user_id,
        "batch_id": request.batch_id,
        "summary": summary.model_dump(mode="json"),
        "source_message_id": message_id,
        "created_at": firestore.SERVER_TIMESTAMP,
        "announced_message_id": None,
    }
    attributes = {"insight_id": insight_id, "user_id": request.user_id}
    if expire_at is not None:
        document[EXPIRE_AT_FIELD] = expire_at
        attributes["synthetic"] = "true"
    with unavailable_on_google_errors("cannot store the insight in Firestore"):
        insight.set(document, **clients.firestore_call())
    announced = clients.publish(
        INSIGHT_TOPIC,
        {
            "insight_id": insight_id,
            "user_id": request.user_id,
            "batch_id": request.batch_id,
            "flags": [flag.code for flag in summary.flags],
        },
        attributes=attributes,
    )
    try:
        with unavailable_on_google_errors("cannot record the announcement"):
            insight.update({"announced_message_id": announced}, **clients.firestore_call())
    except BackendUnavailableError as exc:
        # The work is done: a redelivery would only announce it again. A later duplicate
        # delivery does that anyway, which is the at-least-once case the docstring names.
        _log.warning("insight %s announced as %s: %s", insight_id, announced, exc)
    return ProcessingResult(insight_id, duplicate=False)


def _expiry(documents: list[dict[str, Any]]) -> datetime | None:
    """The latest ``expire_at`` of a synthetic batch's samples; None for a real batch."""
    expiries = [
        doc[EXPIRE_AT_FIELD] for doc in documents if isinstance(doc.get(EXPIRE_AT_FIELD), datetime)
    ]
    return max(expiries) if expiries else None
