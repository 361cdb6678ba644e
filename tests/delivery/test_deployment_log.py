"""Deployment events in Cloud Logging end to end: every rollout and rollback record is also one
entry, written with the real google-cloud-logging client to the Logging double, exactly as the
contract with Terraform's log-based metrics says (terraform/README.md, "Deployment events in
Cloud Logging"). The fixture app stands in for the backend.

The case of a deployer without ``roles/logging.logWriter`` is in ``test_cloud_fidelity.py``
(``test_a_deployer_that_may_not_write_logs_keeps_its_result``), beside the grants it exempts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.stage import PROJECT, QUICK_OPERATION_SECONDS, SERVICES, Stage, open_stage
from tests.doubles.oauth import TokenEndpoint
from tests.support.emulators import Emulators

pytestmark = [pytest.mark.delivery, pytest.mark.timeout(180)]

LOG_NAME = f"projects/{PROJECT}/logs/clarity-deployments"
CONTRACT = {
    "kind": str,
    "environment": str,
    "version": str,
    "commit": str,
    "services": list,
    "outcome": str,
    "duration_seconds": float,
    "id": str,
}
"""The contract's fields that always have a value, and their JSON types (numbers are
doubles in a Struct); ``time_to_rollback_seconds`` and ``error`` may be null."""


@pytest.fixture
def fast(tmp_path: Path, token_endpoint: TokenEndpoint, emulators: Emulators) -> Iterator[Stage]:
    """The fixture app as every revision, and 50 ms operations: the entries are the subject,
    not what happens while an operation runs."""
    with open_stage(
        tmp_path,
        token_endpoint,
        emulators,
        fixture_app=True,
        operation_delay=QUICK_OPERATION_SECONDS,
    ) as stage:
        yield stage


def _payloads(stage: Stage) -> list[dict[str, Any]]:
    return [e["jsonPayload"] for e in stage.double.log_entries()]


def test_a_success_a_rollback_and_a_failed_rollback_are_one_entry_each(fast: Stage) -> None:
    assert fast.deploy("1.1.0") == 0
    assert fast.deploy("1.2.0", faults={"ml-service": "health-500"}) == 1
    # The revision `rollback --to previous` restores (0.9.0) has died: the rollback moves
    # traffic, then its health checks fail, so the rollback itself failed.
    previous = next(
        r for r in fast.double.revision_processes() if r.startswith("clarity-api-gateway-0")
    )
    fast.double.kill_revision(previous)
    assert fast.cli("rollback", "--env", "dev", "--to", "previous") == 1

    entries = fast.double.log_entries()
    ledger = fast.records()
    assert [e["insertId"] for e in entries] == [r["id"] for r in ledger]
    for entry, record in zip(entries, ledger, strict=True):
        assert entry["logName"] == LOG_NAME
        assert entry["resource"] == {"type": "global", "labels": {"project_id": PROJECT}}
        payload = entry["jsonPayload"]
        for field, kind in CONTRACT.items():
            assert isinstance(payload[field], kind), (field, payload[field])
            if field != "duration_seconds":
                assert payload[field] == record[field], field
        assert payload["duration_seconds"] == pytest.approx(record["duration_seconds"], abs=1e-3)
    success, rolled_back, failed_rollback = entries
    assert (success["severity"], success["jsonPayload"]["outcome"]) == ("INFO", "succeeded")
    assert success["jsonPayload"]["kind"] == "rollout"
    assert success["jsonPayload"]["services"] == list(SERVICES)
    assert success["jsonPayload"]["time_to_rollback_seconds"] is None
    assert success["jsonPayload"]["error"] is None

    assert rolled_back["severity"] == "WARNING"
    assert rolled_back["jsonPayload"]["outcome"] == "rolled_back"
    assert rolled_back["jsonPayload"]["time_to_rollback_seconds"] > 0
    assert "health" in rolled_back["jsonPayload"]["error"]

    assert failed_rollback["severity"] == "ERROR"
    assert failed_rollback["jsonPayload"]["kind"] == "rollback"
    assert failed_rollback["jsonPayload"]["outcome"] == "failed"
    assert failed_rollback["jsonPayload"]["version"] == "previous"
    assert "GET /health failed" in failed_rollback["jsonPayload"]["error"]
    # What Terraform's metrics filter on: the log and the kind (modules/observability).
    assert {p["kind"] for p in _payloads(fast)} <= {"rollout", "rollback"}
