"""Business transactions: a real request of each service's main job, sent and checked per round.

Health endpoints say a process is up; a transaction says it does its work. Each kind named in
``transaction_checks`` is a fixed request and a check of the answer's shape:

``ingest-synthetic-batch`` (API gateway, ``POST /v1/healthkit/samples``)
    A batch of two samples for the user ``synthetic-canary`` under a fresh batch id
    ``synthetic-<random>``. Synthetic data is marked by that ``synthetic-`` prefix on both
    ids, which no client id can carry by accident (the backend reserves it, see
    ``clarity_common.samples.SYNTHETIC_ID_PREFIX``): consumers drop it by the ``user_id``
    attribute of the Pub/Sub message. The batch id is the gateway's idempotency key, so a
    retried request stores nothing twice. Passes on 201 (stored) or 200 (already stored) with
    the same batch id, the sample count and a message id.

``analyze-fixed-payload`` (ML service, ``POST /v1/analyze``)
    A fixed day of samples; passes on 200 with the summary's shape (``user_id``, ``method``,
    ``sample_count``, ``days``, ``averages``, ``flags``) and the known step total of that day,
    which the deterministic rules must reproduce.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from ..settings import TransactionCheck

__all__ = ["SYNTHETIC_PREFIX", "Transaction", "transaction_for"]

SYNTHETIC_PREFIX = "synthetic-"
SYNTHETIC_USER = f"{SYNTHETIC_PREFIX}canary"

_DAY = "2026-01-05"
_SAMPLES = (
    {
        "sample_type": "step_count",
        "value": 1200,
        "unit": "count",
        "start_date": f"{_DAY}T09:00:00+00:00",
        "end_date": f"{_DAY}T09:30:00+00:00",
    },
    {
        "sample_type": "step_count",
        "value": 800,
        "unit": "count",
        "start_date": f"{_DAY}T17:00:00+00:00",
        "end_date": f"{_DAY}T17:20:00+00:00",
    },
    {
        "sample_type": "resting_heart_rate",
        "value": 61,
        "unit": "count/min",
        "start_date": f"{_DAY}T07:00:00+00:00",
        "end_date": f"{_DAY}T07:01:00+00:00",
    },
)
_STEPS_OF_THE_DAY = 2000


@dataclass(frozen=True)
class Transaction:
    """One request to send and how to judge its answer."""

    body: dict[str, Any]
    accepted: tuple[int, ...]

    def problem(self, kind: str, status: int, answer: object) -> str | None:
        """Why the answer is wrong, or None when it is right."""
        if status not in self.accepted:
            wanted = " or ".join(str(s) for s in self.accepted)
            return f"answered {status}, expected {wanted}"
        if not isinstance(answer, dict):
            return "the answer is not a JSON object"
        if kind == "ingest-synthetic-batch":
            return _ingest_problem(self.body, answer)
        return _summary_problem(self.body, answer)


def transaction_for(check: TransactionCheck) -> Transaction:
    """A fresh request of ``check``'s kind (ingestion gets a new synthetic batch id)."""
    samples = [dict(s) for s in _SAMPLES]
    if check.kind == "ingest-synthetic-batch":
        body = {
            "batch_id": f"{SYNTHETIC_PREFIX}{secrets.token_hex(12)}",
            "user_id": SYNTHETIC_USER,
            "samples": samples[:2],
        }
        return Transaction(body, (201, 200))
    return Transaction({"user_id": SYNTHETIC_USER, "samples": samples}, (200,))


def _ingest_problem(sent: dict[str, Any], answer: dict[str, Any]) -> str | None:
    if answer.get("batch_id") != sent["batch_id"]:
        return f"answered batch_id {answer.get('batch_id')!r}, sent {sent['batch_id']!r}"
    if answer.get("samples") != len(sent["samples"]):
        return f"answered samples={answer.get('samples')!r}, sent {len(sent['samples'])}"
    message_id = answer.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        return "the answer carries no message_id: the batch was not announced"
    return None


def _summary_problem(sent: dict[str, Any], answer: dict[str, Any]) -> str | None:
    shape = {
        "user_id": str,
        "method": str,
        "sample_count": int,
        "days": list,
        "averages": dict,
        "flags": list,
    }
    for key, kind in shape.items():
        if not isinstance(answer.get(key), kind):
            return f"the summary has no {kind.__name__} {key!r}"
    if answer["user_id"] != sent["user_id"] or answer["sample_count"] != len(sent["samples"]):
        return "the summary is not of the samples sent"
    days = [d for d in answer["days"] if isinstance(d, dict) and d.get("date") == _DAY]
    if not days or days[0].get("steps") != _STEPS_OF_THE_DAY:
        return f"the summary of {_DAY} does not hold the {_STEPS_OF_THE_DAY} steps sent"
    return None
