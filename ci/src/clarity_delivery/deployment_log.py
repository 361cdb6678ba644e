"""Deployment events in Cloud Logging: one structured entry per rollout and rollback.

The entry is a contract with Terraform's log-based metrics and alerts
(``terraform/README.md``, "Deployment events in Cloud Logging"; ``modules/observability``):

* log ``projects/<project>/logs/clarity-deployments``, in the environment's own project;
* monitored resource ``global`` with the label ``project_id``;
* severity ``INFO`` for ``succeeded``, ``WARNING`` for ``rolled_back``, ``aborted`` and
  ``conflict``, ``ERROR`` for ``failed``;
* ``jsonPayload``: ``kind``, ``environment``, ``version``, ``commit``, ``services``,
  ``outcome``, ``duration_seconds``, ``time_to_rollback_seconds`` (null when nothing was
  rolled back), ``id`` and ``error``, plus ``strategy`` and ``steps`` for Logs Explorer.

:func:`deployment_entry` builds it (pure); :class:`DeploymentLog` writes it with
``google-cloud-logging``'s ``LoggingServiceV2Client.write_log_entries``. That generated client
has only a gRPC transport (3.17: ``grpc`` and ``grpc_asyncio``); the hand-written
``google.cloud.logging.Client`` can send the REST ``entries:write`` call, but only behind the
private ``_use_grpc=False`` switch (or an environment variable read at import), so the public,
typed client on gRPC is used, exactly as Cloud Monitoring's is. An endpoint override on a
loopback address is reached with gRPC local credentials (no TLS; the bearer token still
travels): that is how the tests point it at the double. The entry's id is its ``insertId`` and
its end its ``timestamp``, so a retried write is deduplicated by Cloud Logging.

A write is bookkeeping: :class:`~.rollout._records.Records` reports a failure (naming the
permission and the role) and never lets it change a result.
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import grpc
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.api_core.client_options import ClientOptions
from google.auth.credentials import Credentials
from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
from google.cloud.logging_v2.services.logging_service_v2.transports.grpc import (
    LoggingServiceV2GrpcTransport,
)
from google.cloud.logging_v2.types import LogEntry, WriteLogEntriesRequest

from ._apierrors import map_client_error
from ._errors import (
    ConfigError,
)
from .ledger import DeploymentRecord, Outcome

__all__ = ["LOG_ID", "PERMISSION", "SEVERITY", "DeploymentLog", "deployment_entry", "log_name"]

LOG_ID = "clarity-deployments"
"""The log's id; ``modules/observability`` filters on it."""
PERMISSION = "logging.logEntries.create"
SEVERITY: dict[Outcome, str] = {
    "succeeded": "INFO",
    "rolled_back": "WARNING",
    "aborted": "WARNING",
    "conflict": "WARNING",
    "failed": "ERROR",
}
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def log_name(project: str) -> str:
    """``projects/<project>/logs/clarity-deployments``."""
    return f"projects/{project}/logs/{LOG_ID}"


def deployment_entry(record: DeploymentRecord, project: str) -> LogEntry:
    """The one entry of ``record`` in ``project``, as the contract says."""
    rollback = record.time_to_rollback_seconds
    payload: dict[str, Any] = {
        "kind": record.kind,
        "environment": record.environment,
        "version": record.version,
        "commit": record.commit,
        "services": list(record.services),
        "outcome": record.outcome,
        "duration_seconds": round(record.duration_seconds, 3),
        "time_to_rollback_seconds": None if rollback is None else round(rollback, 3),
        "id": record.id,
        "error": record.error,
        "strategy": record.strategy,
        "steps": [asdict(step) for step in record.steps],
    }
    return LogEntry(
        log_name=log_name(project),
        resource={"type": "global", "labels": {"project_id": project}},
        severity=SEVERITY[record.outcome],
        json_payload=payload,
        insert_id=record.id,
        timestamp=datetime.fromtimestamp(record.ended_at or record.started_at, tz=UTC),
    )


def logging_client(credentials: Credentials, endpoint: str | None = None) -> LoggingServiceV2Client:
    """A ``LoggingServiceV2Client``; ``endpoint`` overrides ``logging.googleapis.com``.

    ``host:port``, ``https://host[:port]`` or, on loopback only, ``http://host:port``.
    """
    if not endpoint:
        return LoggingServiceV2Client(credentials=credentials)
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    host = parts.hostname or ""
    if parts.scheme == "http" and host not in _LOOPBACK:
        msg = f"--logging-endpoint {endpoint}: plain http is only allowed on a loopback address"
        raise ConfigError(msg)
    options = ClientOptions(api_endpoint=parts.netloc or endpoint)
    if host in _LOOPBACK:
        # gRPC local credentials: loopback only, no TLS, call credentials still sent.
        transport = functools.partial(
            LoggingServiceV2GrpcTransport,
            ssl_channel_credentials=grpc.local_channel_credentials(
                grpc.LocalConnectionType.LOCAL_TCP
            ),
        )
        return LoggingServiceV2Client(
            credentials=credentials, transport=transport, client_options=options
        )
    return LoggingServiceV2Client(credentials=credentials, client_options=options)


class DeploymentLog:
    """Writes deployment entries, with a bounded retry (a write must not hold a rollout up)."""

    def __init__(self, client: LoggingServiceV2Client, *, deadline: float = 10.0) -> None:
        self._client = client
        # The client's default retries for 60 s; an entry is not worth holding CI that long.
        self._retry = gretry.Retry(
            initial=0.2,
            maximum=2.0,
            multiplier=1.5,
            predicate=gretry.if_exception_type(
                gexc.ServiceUnavailable, gexc.InternalServerError, gexc.DeadlineExceeded
            ),
            timeout=deadline,
        )
        self._timeout = deadline

    @classmethod
    def connect(cls, credentials: Credentials, *, endpoint: str | None = None) -> DeploymentLog:
        """A client for ``endpoint`` (default: Cloud Logging)."""
        return cls(logging_client(credentials, endpoint))

    async def write(self, record: DeploymentRecord, project: str) -> None:
        """Write ``record``'s entry to ``project``; a failure is a DeployError saying what to do."""
        request = WriteLogEntriesRequest(entries=[deployment_entry(record, project)])

        def call() -> None:
            try:
                self._client.write_log_entries(
                    request=request, retry=self._retry, timeout=self._timeout
                )
            except Exception as exc:
                raise map_client_error(
                    exc,
                    what=f"write the deployment entry to Cloud Logging ({log_name(project)})",
                    api="Cloud Logging",
                    project=project,
                    permission=PERMISSION,
                ) from exc

        await anyio.to_thread.run_sync(call)
