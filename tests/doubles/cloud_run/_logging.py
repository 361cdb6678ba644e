"""A sibling server: Cloud Logging v2 ``LoggingServiceV2.WriteLogEntries`` over gRPC.

The REST call ``POST /v2/entries:write`` and the gRPC method
``/google.logging.v2.LoggingServiceV2/WriteLogEntries`` take the same request message. The
generated client of ``google-cloud-logging`` (3.x, ``LoggingServiceV2Client``) has only gRPC
transports, and that is the client the delivery library uses, so the double serves the gRPC
method with the client's own messages, on loopback with gRPC *local* credentials as the
Monitoring double does (a client reaches it with ``grpc.local_channel_credentials()``).

What the real API checks, checked here: every entry has a log name
``projects/[PROJECT_ID]/logs/[LOG_ID]`` (its own or the request's default) and a monitored
resource with a type; the caller needs ``logging.logEntries.create`` on each project that
receives entries (https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/write).
Every call runs the double's request policies first (RPC ``WriteLogEntries``, HTTP rule
``POST /v2/entries:write``, once per receiving project, that project as the resource), so
``fail_next``, ``deny`` and the IAM policy apply; an :class:`~._errors.ApiError` becomes the
gRPC status of the same name. Nothing is stored unless every entry passes (the library never
asks for partial success); ``dryRun`` stores nothing.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from email.message import Message
from typing import Any

import grpc
from google.cloud.logging_v2.types import LogEntry, WriteLogEntriesRequest, WriteLogEntriesResponse
from google.protobuf import json_format

from ._api import ApiRecord, Request, Route
from ._dispatch import RequestPolicy
from ._errors import ApiError

__all__ = ["WRITE_LOG_ENTRIES", "LoggingServer"]

WRITE_LOG_ENTRIES = Route(
    "WriteLogEntries",
    "POST",
    re.compile(r"^/v2/entries:write$"),
    "logging.logEntries.create",
)
_LOG_NAME = re.compile(r"^projects/(?P<project>[a-z0-9-]+)/logs/(?P<log>[^/]{1,512})$")


class LoggingServer:
    """Serves ``WriteLogEntries`` and keeps what was written, in order."""

    def __init__(
        self, *, policies: Sequence[RequestPolicy], record: Callable[[ApiRecord], None]
    ) -> None:
        self._policies = policies
        self._record = record
        self._lock = threading.Lock()
        self._entries: list[LogEntry] = []
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            "google.logging.v2.LoggingServiceV2",
            {
                "WriteLogEntries": grpc.unary_unary_rpc_method_handler(
                    self._write,
                    request_deserializer=WriteLogEntriesRequest.deserialize,
                    response_serializer=WriteLogEntriesResponse.serialize,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        # Port 0: the kernel picks a free port at bind time.
        self.port: int = self._server.add_secure_port(
            "127.0.0.1:0", grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        )

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None).wait(timeout=5)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry written so far, as ``entries.list`` renders it (camelCase JSON)."""
        with self._lock:
            written = list(self._entries)
        return [
            json_format.MessageToDict(LogEntry.pb(e), preserving_proto_field_name=False)
            for e in written
        ]

    def _write(
        self, request: WriteLogEntriesRequest, context: grpc.ServicerContext
    ) -> WriteLogEntriesResponse:
        path = "/v2/entries:write"
        body = WriteLogEntriesRequest.to_json(request).encode()
        try:
            entries = self._accept(request, path, context.invocation_metadata())
        except ApiError as error:
            self._record(
                ApiRecord(
                    WRITE_LOG_ENTRIES.rpc, "POST", path, {}, error.http_status, time.time(), body
                )
            )
            context.abort(grpc.StatusCode[error.status], error.message)
            raise  # abort() raises; this keeps the flow visible
        if not request.dry_run:
            with self._lock:
                self._entries.extend(entries)
        self._record(ApiRecord(WRITE_LOG_ENTRIES.rpc, "POST", path, {}, 200, time.time(), body))
        return WriteLogEntriesResponse()

    def _accept(
        self,
        request: WriteLogEntriesRequest,
        path: str,
        metadata: Sequence[tuple[str, str | bytes]] | None,
    ) -> list[LogEntry]:
        """The entries as stored (request defaults applied), once every check passed."""
        if not request.entries:
            msg = "entries: at least one log entry is required."
            raise ApiError.invalid(msg)
        entries: list[LogEntry] = []
        projects: list[str] = []
        for n, given in enumerate(request.entries):
            entry = LogEntry(given)
            entry.log_name = entry.log_name or request.log_name
            if not entry.resource.type:
                entry.resource = request.resource
            match = _LOG_NAME.match(entry.log_name)
            if match is None:
                msg = (
                    f"entries[{n}].log_name {entry.log_name!r}: expected "
                    "projects/[PROJECT_ID]/logs/[LOG_ID]."
                )
                raise ApiError.invalid(msg)
            if not entry.resource.type:
                msg = f"entries[{n}].resource: a monitored resource is required."
                raise ApiError.invalid(msg)
            for key, value in request.labels.items():
                entry.labels.setdefault(key, value)
            entries.append(entry)
            if match["project"] not in projects:
                projects.append(match["project"])
        headers: Message[str, str] = Message()
        for key, sent in metadata or ():
            if key == "authorization" and isinstance(sent, str):
                headers["Authorization"] = sent
        for project in projects:
            call = Request(
                rpc=WRITE_LOG_ENTRIES.rpc,
                http_method=WRITE_LOG_ENTRIES.http_method,
                path=path,
                query={},
                body=b"",
                params={"parent": f"projects/{project}"},
                headers=headers,
            )
            for policy in self._policies:
                policy.check(WRITE_LOG_ENTRIES, call)
        return entries
