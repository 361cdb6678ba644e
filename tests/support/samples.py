"""Building HealthKit sample payloads for tests (plain JSON-ready dicts)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["DAY", "batch_payload", "new_batch_id", "sample_payload"]

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def new_batch_id() -> str:
    """A fresh batch id, as a client would make one."""
    return uuid.uuid4().hex


def sample_payload(
    sample_type: str = "step_count",
    value: float = 1200,
    unit: str = "count",
    *,
    start: datetime = DAY + timedelta(hours=9),
    minutes: int = 30,
    **overrides: Any,
) -> dict[str, Any]:
    """One sample as the iOS client sends it."""
    payload: dict[str, Any] = {
        "sample_type": sample_type,
        "value": value,
        "unit": unit,
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(minutes=minutes)).isoformat(),
    }
    payload.update(overrides)
    return payload


def batch_payload(
    samples: list[dict[str, Any]] | None = None,
    *,
    batch_id: str | None = None,
    user_id: str = "user-1",
    count: int = 3,
) -> dict[str, Any]:
    """A batch: the given samples, or ``count`` step samples an hour apart."""
    if samples is None:
        samples = [
            sample_payload(start=DAY + timedelta(hours=8 + index), value=1000 + index)
            for index in range(count)
        ]
    return {"batch_id": batch_id or new_batch_id(), "user_id": user_id, "samples": samples}
