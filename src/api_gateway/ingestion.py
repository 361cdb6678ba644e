"""Storing a HealthKit batch in Firestore and announcing it on Pub/Sub, exactly once per batch id.

State lives in ``ingestion_batches/{batch_id}``; the samples in ``health_data/{batch_id}-{n}``.

1. One Firestore transaction checks the record and either creates it together with every
   sample (all or nothing) or finds it. Whoever proceeds to publish holds a *publish lease*
   recorded in the same transaction, so concurrent retries never publish twice.
2. The batch is published to ``healthkit-data-ingestion``; the message id is recorded and the
   lease released.

Partial failures and what a retry of the same request does:

* transaction fails: nothing was written, the retry starts over;
* publish fails: samples are stored, the lease is released, the retry publishes (it stores
  nothing again);
* recording the message id fails after a successful publish: the retry publishes again once
  the lease expires. Delivery is therefore at least once; every message carries the batch id
  as its ``batch_id`` attribute, which consumers use to drop repeats.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.cloud import firestore

from clarity_common.errors import BackendUnavailableError, BatchConflictError, BatchInProgressError
from clarity_common.gcp import GoogleClients, unavailable_on_google_errors
from clarity_common.samples import HEALTH_DATA_COLLECTION, SampleBatch

__all__ = [
    "BATCHES_COLLECTION",
    "INGESTION_TOPIC",
    "IngestResult",
    "ingest_batch",
    "sample_document_id",
]

BATCHES_COLLECTION = "ingestion_batches"
INGESTION_TOPIC = "healthkit-data-ingestion"


def sample_document_id(batch_id: str, index: int) -> str:
    """Deterministic sample ids: a retried batch overwrites nothing and adds nothing."""
    return f"{batch_id}-{index:04d}"


@dataclass(frozen=True)
class IngestResult:
    """What happened to a batch."""

    batch_id: str
    samples: int
    message_id: str
    stored_now: bool


@dataclass(frozen=True)
class _Claim:
    stored_now: bool
    message_id: str | None


def ingest_batch(
    clients: GoogleClients, batch: SampleBatch, *, now: datetime | None = None
) -> IngestResult:
    """Store and publish ``batch`` unless that already happened (see the module docstring)."""
    db = clients.firestore()
    # A publisher may hold the batch for its publish timeout plus a margin.
    lease = timedelta(seconds=clients.publish_timeout_seconds + 5.0)
    record = db.collection(BATCHES_COLLECTION).document(batch.batch_id)
    with unavailable_on_google_errors("cannot store the batch in Firestore"):
        claim = _claim(
            db.transaction(),
            db=db,
            batch=batch,
            fingerprint=batch.fingerprint(),
            now=now or datetime.now(UTC),
            lease=lease,
        )
    if claim.message_id is not None:
        return IngestResult(batch.batch_id, len(batch.samples), claim.message_id, stored_now=False)
    try:
        message_id = clients.publish(
            INGESTION_TOPIC,
            {
                "batch_id": batch.batch_id,
                "user_id": batch.user_id,
                "samples": len(batch.samples),
                "sample_types": sorted({sample.sample_type.value for sample in batch.samples}),
            },
            attributes={"batch_id": batch.batch_id, "user_id": batch.user_id},
        )
    except Exception:
        _release_lease(record)
        raise
    with unavailable_on_google_errors("published the batch but could not record it; retry later"):
        record.update(
            {
                "message_id": message_id,
                "published_at": firestore.SERVER_TIMESTAMP,
                "lease_until": None,
            }
        )
    return IngestResult(batch.batch_id, len(batch.samples), message_id, stored_now=claim.stored_now)


def _release_lease(record: firestore.DocumentReference) -> None:
    # Best effort: if this fails too, the lease simply expires; the publish error is reported.
    with (
        contextlib.suppress(BackendUnavailableError),
        unavailable_on_google_errors("cannot release the lease"),
    ):
        record.update({"lease_until": None})


@firestore.transactional
def _claim(
    transaction: firestore.Transaction,
    *,
    db: firestore.Client,
    batch: SampleBatch,
    fingerprint: str,
    now: datetime,
    lease: timedelta,
) -> _Claim:
    record = db.collection(BATCHES_COLLECTION).document(batch.batch_id)
    snapshot = record.get(transaction=transaction)
    if not snapshot.exists:
        transaction.create(
            record,
            {
                "user_id": batch.user_id,
                "fingerprint": fingerprint,
                "samples": len(batch.samples),
                "received_at": firestore.SERVER_TIMESTAMP,
                "lease_until": now + lease,
                "message_id": None,
            },
        )
        samples = db.collection(HEALTH_DATA_COLLECTION)
        for index, sample in enumerate(batch.samples):
            transaction.create(
                samples.document(sample_document_id(batch.batch_id, index)),
                {
                    "user_id": batch.user_id,
                    "batch_id": batch.batch_id,
                    **sample.model_dump(mode="python"),
                },
            )
        return _Claim(stored_now=True, message_id=None)
    existing = snapshot.to_dict() or {}
    if existing.get("fingerprint") != fingerprint:
        msg = (
            f"batch_id {batch.batch_id!r} was already used for a different batch: "
            "give every new batch a new batch_id (a UUID)"
        )
        raise BatchConflictError(msg)
    if existing.get("message_id"):
        return _Claim(stored_now=False, message_id=str(existing["message_id"]))
    lease_until = existing.get("lease_until")
    if isinstance(lease_until, datetime) and lease_until > now:
        wait = max(1, math.ceil((lease_until - now).total_seconds()))
        msg = f"batch {batch.batch_id!r} is being published by another request: retry in {wait} s"
        raise BatchInProgressError(msg, retry_after_seconds=wait)
    transaction.update(record, {"lease_until": now + lease})
    return _Claim(stored_now=False, message_id=None)
