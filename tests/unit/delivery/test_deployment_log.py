"""The deployment entry is the contract Terraform's log-based metrics and alerts read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clarity_delivery._errors import ConfigError
from clarity_delivery.deployment_log import (
    LOG_ID,
    SEVERITY,
    deployment_entry,
    log_name,
    logging_client,
)
from clarity_delivery.ledger import DeploymentRecord, StepRecord
from clarity_delivery.permissions import NEEDED, granted_by
from google.auth.credentials import AnonymousCredentials
from google.cloud.logging_v2.types import LogEntry
from google.protobuf import json_format

pytestmark = pytest.mark.unit

OBSERVABILITY = Path(__file__).resolve().parents[3] / "terraform" / "modules" / "observability"


def _record(**changes: object) -> DeploymentRecord:
    record = DeploymentRecord(
        id="abc123def456",
        kind="rollout",
        environment="staging",
        version="1.4.0",
        commit="c0ffee1",
        services=["ml-service", "api-gateway"],
        strategy="canary",
        started_at=1_800_000_000.0,
        ended_at=1_800_000_321.5,
        outcome="succeeded",
        steps=[StepRecord("ml-service", 10, 1_800_000_010.0, 30.0, 3, 0)],
    )
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def _json(entry: LogEntry) -> dict[str, object]:
    return json_format.MessageToDict(LogEntry.pb(entry))


def test_an_entry_carries_every_field_of_the_contract() -> None:
    entry = _json(deployment_entry(_record(), "clarity-loop-staging"))
    assert entry["logName"] == "projects/clarity-loop-staging/logs/clarity-deployments"
    assert entry["resource"] == {"type": "global", "labels": {"project_id": "clarity-loop-staging"}}
    assert entry["severity"] == "INFO"
    assert entry["insertId"] == "abc123def456"
    assert entry["timestamp"] == "2027-01-15T08:05:21.500Z"
    payload = entry["jsonPayload"]
    assert isinstance(payload, dict)
    assert {
        k: payload[k] for k in ("kind", "environment", "version", "commit", "outcome", "id")
    } == {
        "kind": "rollout",
        "environment": "staging",
        "version": "1.4.0",
        "commit": "c0ffee1",
        "outcome": "succeeded",
        "id": "abc123def456",
    }
    assert payload["services"] == ["ml-service", "api-gateway"]
    assert payload["duration_seconds"] == 321.5
    assert payload["time_to_rollback_seconds"] is None
    assert payload["error"] is None
    assert payload["strategy"] == "canary"
    assert payload["steps"][0]["percent"] == 10


@pytest.mark.parametrize(
    ("outcome", "severity"),
    [
        ("succeeded", "INFO"),
        ("rolled_back", "WARNING"),
        ("aborted", "WARNING"),
        ("conflict", "WARNING"),
        ("failed", "ERROR"),
    ],
)
def test_severity_follows_the_outcome(outcome: str, severity: str) -> None:
    record = _record(outcome=outcome, time_to_rollback_seconds=12.3456, error="it broke")
    entry = _json(deployment_entry(record, "p-1234"))
    assert entry["severity"] == severity
    payload = entry["jsonPayload"]
    assert isinstance(payload, dict)
    assert payload["time_to_rollback_seconds"] == 12.346
    assert payload["error"] == "it broke"
    assert set(SEVERITY) == {"succeeded", "rolled_back", "aborted", "conflict", "failed"}


def test_the_log_and_fields_are_the_ones_terraform_reads() -> None:
    main = (OBSERVABILITY / "main.tf").read_text()
    assert re.search(rf'_deployment_log\s*=\s*"{LOG_ID}"', main)
    metrics = (OBSERVABILITY / "metrics.tf").read_text()
    read = set(
        re.findall(r"^\s*(\w+)\s*=\s*\"", metrics.split("_labels = {")[1].split("}")[0], re.M)
    )
    read |= set(re.findall(r'field\s*=\s*"(\w+)"', metrics))
    payload = _json(deployment_entry(_record(), "p-1234"))["jsonPayload"]
    assert isinstance(payload, dict)
    assert read == {
        "environment",
        "kind",
        "outcome",
        "duration_seconds",
        "time_to_rollback_seconds",
    }
    assert read <= set(payload)
    assert log_name("p-1234") in metrics.replace("${var.project_id}", "p-1234").replace(
        "${local._deployment_log}", LOG_ID
    )


def test_the_payload_has_every_field_of_the_contract_table() -> None:
    readme = (OBSERVABILITY.parents[1] / "README.md").read_text()
    section = readme.split("### Deployment events in Cloud Logging", 1)[1].split("\n## ", 1)[0]
    contract = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))
    assert len(contract) == 10
    payload = _json(deployment_entry(_record(), "p-1234"))["jsonPayload"]
    assert isinstance(payload, dict)
    assert contract <= set(payload)


def test_the_permission_and_its_role() -> None:
    need = NEEDED["logging.logEntries.create"]
    assert need.role == "roles/logging.logWriter"
    assert "logging.logEntries.create" in granted_by("roles/logging.logWriter")


def test_plain_http_is_refused_off_loopback() -> None:
    with pytest.raises(ConfigError, match="only allowed on a loopback address"):
        logging_client(AnonymousCredentials(), "http://logging.example.com:80")
