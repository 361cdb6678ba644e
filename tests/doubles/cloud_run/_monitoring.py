"""A sibling server: Cloud Monitoring v3 ``MetricService.ListTimeSeries`` over gRPC.

The Python client of Cloud Monitoring (``google-cloud-monitoring``, 2.x) has no REST transport
for ``MetricServiceClient``, only gRPC, so the double speaks what the real client sends: the
method ``/google.monitoring.v3.MetricService/ListTimeSeries`` with the client's own request
and response messages. It listens on loopback with gRPC *local* credentials, which carry the
client's ``authorization`` metadata (call credentials need a channel that is at least local)
without TLS; a client reaches it with ``grpc.local_channel_credentials()`` as its channel
credentials and is otherwise unchanged.

Every call runs the double's request policies (:mod:`._dispatch`) first, as an API call of its
own (RPC ``ListTimeSeries``, HTTP rule ``GET /v3/{name=projects/*}/timeSeries``, permission
``monitoring.timeSeries.list``), so ``fail_next``, ``deny`` and any IAM policy apply here too;
an :class:`~._errors.ApiError` becomes the gRPC status of the same name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from email.message import Message

import grpc
from google.cloud import monitoring_v3

from ._api import ApiRecord, Request, Route
from ._dispatch import RequestPolicy
from ._errors import ApiError
from ._metrics import RequestMetrics
from ._timeseries import Locate, list_time_series

__all__ = ["LIST_TIME_SERIES", "MonitoringServer"]

LIST_TIME_SERIES = Route(
    "ListTimeSeries",
    "GET",
    re.compile(r"^/v3/(?P<parent>projects/[^/]+)/timeSeries$"),
    "monitoring.timeSeries.list",
)
_METHOD = "/google.monitoring.v3.MetricService/ListTimeSeries"


class MonitoringServer:
    """Serves ``ListTimeSeries`` from the proxies' request metrics, with an ingestion delay."""

    def __init__(
        self,
        *,
        metrics: RequestMetrics,
        locate: Locate,
        delay: Callable[[], float],
        policies: Sequence[RequestPolicy],
        record: Callable[[ApiRecord], None],
    ) -> None:
        self._metrics = metrics
        self._locate = locate
        self._delay = delay
        self._policies = policies
        self._record = record
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            "google.monitoring.v3.MetricService",
            {
                "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
                    self._list,
                    request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
                    response_serializer=monitoring_v3.ListTimeSeriesResponse.serialize,
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

    def _list(
        self, request: monitoring_v3.ListTimeSeriesRequest, context: grpc.ServicerContext
    ) -> monitoring_v3.ListTimeSeriesResponse:
        path = f"/v3/{request.name}/timeSeries"
        query = {"filter": request.filter}
        try:
            response = self._answer(request, path, query, context.invocation_metadata())
        except ApiError as error:
            # Recorded before answering, like the Admin API's calls.
            self._record(
                ApiRecord(LIST_TIME_SERIES.rpc, "GET", path, query, error.http_status, time.time())
            )
            context.abort(grpc.StatusCode[error.status], error.message)
            raise  # abort() raises; this keeps the flow visible
        self._record(ApiRecord(LIST_TIME_SERIES.rpc, "GET", path, query, 200, time.time()))
        return response

    def _answer(
        self,
        request: monitoring_v3.ListTimeSeriesRequest,
        path: str,
        query: dict[str, str],
        metadata: Sequence[tuple[str, str | bytes]] | None,
    ) -> monitoring_v3.ListTimeSeriesResponse:
        call = _as_api_call(request, path, query, metadata)
        for policy in self._policies:
            policy.check(LIST_TIME_SERIES, call)
        try:
            samples = self._metrics.visible(time.time(), self._delay())
            return list_time_series(request, samples, self._locate)
        except ApiError:
            raise
        except Exception as error:  # a bug in the double must answer, not hang
            raise ApiError(500, "INTERNAL", f"Cloud Run double bug: {error!r}") from error


def _as_api_call(
    request: monitoring_v3.ListTimeSeriesRequest,
    path: str,
    query: dict[str, str],
    metadata: Sequence[tuple[str, str | bytes]] | None,
) -> Request:
    """The call as the double's request policies see any API call."""
    match = LIST_TIME_SERIES.pattern.match(path)
    if match is None:
        msg = f"Invalid resource name {request.name!r}: expected projects/[PROJECT_ID_OR_NUMBER]."
        raise ApiError.invalid(msg)
    headers: Message[str, str] = Message()
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            headers["Authorization"] = value
    return Request(
        rpc=LIST_TIME_SERIES.rpc,
        http_method=LIST_TIME_SERIES.http_method,
        path=path,
        query=query,
        body=b"",
        params={"parent": match["parent"]},
        headers=headers,
    )
