"""The Logging double: the real google-cloud-logging client writes entries over gRPC, checked
as Cloud Logging checks them and kept for the tests to read."""

from __future__ import annotations

import pytest
from clarity_delivery.deployment_log import logging_client
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
from google.cloud.logging_v2.types import LogEntry

from tests.doubles.cloud_run import CloudRunDouble

pytestmark = pytest.mark.delivery

LOG = "projects/clarity-test/logs/clarity-deployments"
GLOBAL = {"type": "global", "labels": {"project_id": "clarity-test"}}


@pytest.fixture
def client(double: CloudRunDouble) -> LoggingServiceV2Client:
    return logging_client(AnonymousCredentials(), double.logging_endpoint)


def test_entries_are_kept_with_the_request_defaults_applied(
    double: CloudRunDouble, client: LoggingServiceV2Client
) -> None:
    client.write_log_entries(
        log_name=LOG,
        resource=GLOBAL,
        labels={"source": "test"},
        entries=[
            LogEntry(severity="WARNING", json_payload={"outcome": "rolled_back", "n": 2}),
            LogEntry(log_name="projects/clarity-test/logs/other", text_payload="plain"),
        ],
    )
    first, second = double.log_entries()
    assert first["logName"] == LOG
    assert first["resource"] == GLOBAL
    assert first["severity"] == "WARNING"
    assert first["jsonPayload"] == {"outcome": "rolled_back", "n": 2.0}
    assert first["labels"] == {"source": "test"}
    assert second["logName"] == "projects/clarity-test/logs/other"
    assert second["textPayload"] == "plain"
    (call,) = [r for r in double.api_log if r.rpc == "WriteLogEntries"]
    assert (call.http_method, call.path, call.status) == ("POST", "/v2/entries:write", 200)


@pytest.mark.parametrize(
    ("log_name", "resource", "error"),
    [
        ("clarity-deployments", GLOBAL, "projects/\\[PROJECT_ID\\]/logs/\\[LOG_ID\\]"),
        (LOG, None, "monitored resource is required"),
    ],
    ids=["bare log id", "no resource"],
)
def test_a_malformed_entry_is_refused_and_nothing_is_written(
    double: CloudRunDouble,
    client: LoggingServiceV2Client,
    log_name: str,
    resource: dict[str, object] | None,
    error: str,
) -> None:
    entries = [LogEntry(json_payload={"ok": True}), LogEntry(json_payload={"ok": False})]
    with pytest.raises(exceptions.InvalidArgument, match=error):
        client.write_log_entries(log_name=log_name, resource=resource, entries=entries)
    assert double.log_entries() == []


def test_a_denied_write_names_the_permission_and_writes_nothing(
    double: CloudRunDouble, client: LoggingServiceV2Client
) -> None:
    double.deny("logging.logEntries.create")
    with pytest.raises(exceptions.PermissionDenied, match=r"logging\.logEntries\.create"):
        client.write_log_entries(
            log_name=LOG, resource=GLOBAL, entries=[LogEntry(text_payload="x")]
        )
    assert double.log_entries() == []
    assert [r.status for r in double.api_log if r.rpc == "WriteLogEntries"] == [403]


def test_a_dry_run_is_checked_but_not_kept(
    double: CloudRunDouble, client: LoggingServiceV2Client
) -> None:
    client.write_log_entries(
        request={"log_name": LOG, "resource": GLOBAL, "entries": [{}], "dry_run": True}
    )
    assert double.log_entries() == []
