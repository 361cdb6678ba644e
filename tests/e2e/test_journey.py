"""The user's journey through the backend, step by step, against one gateway.

By default against the local stack (the emulators, both services as processes, the Pub/Sub
emulator pushing to the local ML service); with ``--e2e-base-url`` and an ID token, against a
deployed environment or a candidate's tag URL (``dagger call e2e``). Every batch is synthetic:
it carries its own batch id and is deleted by Firestore's TTL a day later, so the suite leaves
nothing to clean up and needs no delete endpoint.

The steps are the delivery library's (:mod:`clarity_delivery.journey`), the same ones a rollout
runs on a candidate before it takes traffic; here each is asserted on its own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio
import httpx
import pytest
from clarity_delivery.journey import JOURNEY_USER, Journey

from tests.e2e.conftest import Target

pytestmark = pytest.mark.e2e

T = TypeVar("T")


def _run(action: Callable[..., Awaitable[T]], *args: Any) -> T:
    return anyio.run(action, *args)


def test_a_synthetic_batch_is_processed_into_an_insight_in_time(journey: Journey) -> None:
    batch = journey.new_batch()
    ingested = _run(journey.ingest, batch)
    started = time.monotonic()

    status = _run(journey.wait_until_processed, ingested)

    assert time.monotonic() - started <= journey.timeout_seconds
    assert status["batch_id"] == batch["batch_id"]
    assert status["user_id"] == JOURNEY_USER
    assert status["status"] == "processed"
    assert status["samples"] == 3
    insight = status["insight"]
    assert insight["sample_count"] == 3
    assert sum(day["steps"] or 0 for day in insight["days"]) == 6000
    assert insight["user_id"] == JOURNEY_USER
    assert status["failure"] is None


def test_a_resend_is_a_duplicate_and_changes_nothing(journey: Journey) -> None:
    ingested = _run(journey.ingest, journey.new_batch())
    processed = _run(journey.wait_until_processed, ingested)

    _run(journey.resend, ingested)

    assert _run(journey.status, ingested.batch_id) == processed


def test_a_bad_batch_is_rejected_and_nothing_is_stored(journey: Journey) -> None:
    _run(journey.reject_bad)


def test_synthetic_data_expires_and_nothing_can_delete_it(journey: Journey, target: Target) -> None:
    ingested = _run(journey.ingest, journey.new_batch())
    status = _run(journey.status, ingested.batch_id)

    assert status["synthetic"] is True
    expires = datetime.fromisoformat(status["expires_at"])
    now = datetime.now(UTC)
    assert now + timedelta(hours=23) < expires <= now + timedelta(days=1, minutes=5)
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    deleted = httpx.delete(f"{target.base_url}/v1/batches/{ingested.batch_id}", headers=headers)
    assert deleted.status_code == 405  # the public API has no delete; the TTL is the cleanup


def test_the_whole_journey_as_a_rollout_measures_it(journey: Journey, target: Target) -> None:
    result = _run(lambda: journey.run(expect_version=target.expect_version))

    assert result.phase == "successful", result.describe()
    expected = ["ingest", "processed", "resend", "reject"]
    if target.expect_version is not None:
        expected.insert(0, "version")
    assert [step.name for step in result.steps] == expected
    assert result.batch_id is not None
    assert result.batch_id.startswith("e2e-")
