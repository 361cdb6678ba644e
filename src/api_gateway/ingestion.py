"""Storing a HealthKit batch in Firestore and announcing it on Pub/Sub, once per batch id.

State lives in ``ingestion_batches/{batch_id}``; the samples in ``health_data/{batch_id}-{n}``.

1. One atomic batched write creates the record and every sample, on the precondition that
   the record does not exist yet: all or nothing. The record carries a *publish lease* (an
   expiry time and a random holder token) so that only one request publishes at a time.
2. If the record already exists, it is read: other content under the same id is a conflict
   (409); a recorded message id means the batch is done (200, nothing repeated); an unexpired
   lease held by another request means "in progress" (503 with Retry-After); otherwise the
   lease is taken with a compare-and-set on the record's update time.
3. The lease holder publishes to ``healthkit-data-ingestion``, then records the message id
   and drops the lease.

Partial failures, and what a retry of the same request does:

* the write fails: nothing was stored; the retry starts over;
* the publish fails: samples are stored, the lease is dropped; the retry publishes and
  stores nothing again;
* recording the message id fails after a successful publish: the retry publishes again once
  the lease expires. Delivery is therefore at least once; every message carries the batch id
  in its ``batch_id`` attribute, which consumers use to drop repeats.

Every Firestore call is bounded (``FIRESTORE_TIMEOUT_SECONDS``), so an unreachable database
turns into a 503 within seconds.

A *synthetic* batch (``"synthetic": true``, the end-to-end checks' test traffic) is stored
and processed like any other, but its record and samples carry ``expire_at`` (now plus
:data:`SYNTHETIC_RETENTION`), which the ML service copies onto the insight: Firestore's TTL
policies on that field (Terraform, ``module "firestore"``) delete all of it, so test traffic
needs no delete endpoint and leaves nothing behind. Its message carries ``synthetic=true``.
"""

from __future__ import annotations

import contextlib
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core.exceptions import AlreadyExists, FailedPrecondition
from google.cloud import firestore

from clarity_common.errors import BackendUnavailableError, BatchConflictError, BatchInProgressError
from clarity_common.gcp import GoogleClients, unavailable_on_google_errors
from clarity_common.samples import EXPIRE_AT_FIELD, HEALTH_DATA_COLLECTION, SampleBatch

__all__ = [
    "BATCHES_COLLECTION",
    "INGESTION_TOPIC",
    "SYNTHETIC_RETENTION",
    "IngestResult",
    "ingest_batch",
    "sample_document_id",
]

BATCHES_COLLECTION = "ingestion_batches"
INGESTION_TOPIC = "healthkit-data-ingestion"
SYNTHETIC_RETENTION = timedelta(days=1)
"""How long a synthetic batch is kept; Firestore deletes expired documents within about a day."""
_LEASE_MARGIN_SECONDS = 5.0


def sample_document_id(batch_id: str, index: int) -> str:
    """Deterministic sample ids: a batch can only ever occupy the same documents."""
    return f"{batch_id}-{index:04d}"


@dataclass(frozen=True)
class IngestResult:
    """What happened to a batch."""

    batch_id: str
    samples: int
    message_id: str
    stored_now: bool


def ingest_batch(
    clients: GoogleClients, batch: SampleBatch, *, now: datetime | None = None
) -> IngestResult:
    """Store and publish ``batch`` unless that already happened (see the module docstring)."""
    db = clients.firestore()
    now = now or datetime.now(UTC)
    # Identifies this request's lease: if a retried commit had in fact landed, the record that
    # "already exists" is our own and this request may go on publishing.
    holder = secrets.token_hex(8)
    lease_until = now + timedelta(seconds=clients.publish_timeout_seconds + _LEASE_MARGIN_SECONDS)
    record = db.collection(BATCHES_COLLECTION).document(batch.batch_id)
    fingerprint = batch.fingerprint()

    expiry = {EXPIRE_AT_FIELD: now + SYNTHETIC_RETENTION} if batch.synthetic else {}
    stored_now = _store(
        clients,
        db,
        record,
        batch,
        fingerprint=fingerprint,
        holder=holder,
        lease_until=lease_until,
        expiry=expiry,
    )
    if not stored_now:
        message_id = _claim_existing(
            clients,
            db,
            record,
            batch,
            fingerprint=fingerprint,
            holder=holder,
            now=now,
            lease_until=lease_until,
        )
        if message_id is not None:
            return IngestResult(batch.batch_id, len(batch.samples), message_id, stored_now=False)

    payload: dict[str, Any] = {
        "batch_id": batch.batch_id,
        "user_id": batch.user_id,
        "samples": len(batch.samples),
        "sample_types": sorted({sample.sample_type.value for sample in batch.samples}),
    }
    attributes = {"batch_id": batch.batch_id, "user_id": batch.user_id}
    if batch.synthetic:
        payload["synthetic"] = True
        attributes["synthetic"] = "true"
    try:
        message_id = clients.publish(INGESTION_TOPIC, payload, attributes=attributes)
    except BackendUnavailableError:
        # Best effort: if dropping the lease fails too, it expires; the publish error is reported.
        with (
            contextlib.suppress(BackendUnavailableError),
            unavailable_on_google_errors("cannot drop the lease"),
        ):
            record.update({"lease_until": None, "lease_holder": None}, **clients.firestore_call())
        raise
    with unavailable_on_google_errors("published the batch but could not record that; retry later"):
        record.update(
            {
                "message_id": message_id,
                "published_at": firestore.SERVER_TIMESTAMP,
                "lease_until": None,
                "lease_holder": None,
            },
            **clients.firestore_call(),
        )
    return IngestResult(batch.batch_id, len(batch.samples), message_id, stored_now=stored_now)


def _store(
    clients: GoogleClients,
    db: firestore.Client,
    record: firestore.DocumentReference,
    batch: SampleBatch,
    *,
    fingerprint: str,
    holder: str,
    lease_until: datetime,
    expiry: dict[str, datetime],
) -> bool:
    """Create the record and all samples atomically; False if the record already exists."""
    write = db.batch()
    write.create(
        record,
        {
            "user_id": batch.user_id,
            "fingerprint": fingerprint,
            "samples": len(batch.samples),
            "received_at": firestore.SERVER_TIMESTAMP,
            "lease_until": lease_until,
            "lease_holder": holder,
            "message_id": None,
            "synthetic": batch.synthetic,
            **expiry,
        },
    )
    samples = db.collection(HEALTH_DATA_COLLECTION)
    for index, sample in enumerate(batch.samples):
        document: dict[str, Any] = {
            "user_id": batch.user_id,
            "batch_id": batch.batch_id,
            **sample.model_dump(),
        }
        document["sample_type"] = sample.sample_type.value
        document.update(expiry)
        write.create(samples.document(sample_document_id(batch.batch_id, index)), document)
    try:
        with unavailable_on_google_errors("cannot store the batch in Firestore"):
            write.commit(**clients.firestore_call())
    except BackendUnavailableError as exc:
        if isinstance(exc.__cause__, AlreadyExists):
            return False
        raise
    return True


def _claim_existing(
    clients: GoogleClients,
    db: firestore.Client,
    record: firestore.DocumentReference,
    batch: SampleBatch,
    *,
    fingerprint: str,
    holder: str,
    now: datetime,
    lease_until: datetime,
) -> str | None:
    """Decide about a batch stored before: its message id if done, else take the lease."""
    with unavailable_on_google_errors("cannot read the batch record from Firestore"):
        snapshot = record.get(**clients.firestore_call())
    existing = snapshot.to_dict() or {}
    if existing.get("fingerprint") != fingerprint:
        msg = f"batch_id {batch.batch_id!r} was already used for a different batch: give every new batch a new batch_id (a UUID)"
        raise BatchConflictError(msg)
    if existing.get("message_id"):
        return str(existing["message_id"])
    current = existing.get("lease_until")
    if isinstance(current, datetime) and current > now and existing.get("lease_holder") != holder:
        wait = max(1, math.ceil((current - now).total_seconds()))
        msg = f"batch {batch.batch_id!r} is being published by another request: retry in {wait} s"
        raise BatchInProgressError(msg, retry_after_seconds=wait)
    try:
        with unavailable_on_google_errors("cannot take the publish lease"):
            record.update(
                {"lease_until": lease_until, "lease_holder": holder},
                option=db.write_option(last_update_time=snapshot.update_time),
                **clients.firestore_call(),
            )
    except BackendUnavailableError as exc:
        if isinstance(exc.__cause__, FailedPrecondition):
            msg = f"batch {batch.batch_id!r} is being published by another request: retry in 1 s"
            raise BatchInProgressError(msg, retry_after_seconds=1) from exc
        raise
    return None
