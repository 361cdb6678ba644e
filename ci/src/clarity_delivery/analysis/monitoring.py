"""The one seam to Cloud Monitoring: Cloud Run's request metrics of some revisions in one window.

:class:`MonitoringApi` asks ``projects.timeSeries.list`` (``google-cloud-monitoring``'s
``MetricServiceClient``) two questions per window, each for every revision at once so that
candidate and stable are read over exactly the same interval:

* ``run.googleapis.com/request_count`` (DELTA, INT64), ``ALIGN_DELTA`` over the window,
  ``REDUCE_SUM`` grouped by ``resource.labels.revision_name`` and
  ``metric.labels.response_code_class``: requests and 5xx responses per revision;
* ``run.googleapis.com/request_latencies`` (DELTA, DISTRIBUTION, ms), ``ALIGN_DELTA``,
  ``REDUCE_SUM`` grouped by revision: one merged latency histogram per revision, from which
  :mod:`.distribution` takes the percentiles.

The client has no REST transport (only gRPC), so unlike the Cloud Run client it runs on its
default gRPC transport. An endpoint override on a loopback address is reached with gRPC local
credentials (no TLS, which gRPC only allows on loopback; the bearer token still travels):
that is how tests point it at the Monitoring double. google-api-core and google-auth errors
are mapped to the delivery error tree here, where they enter.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import anyio.to_thread
import grpc
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.api_core.client_options import ClientOptions
from google.auth.credentials import Credentials
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports.grpc import (
    MetricServiceGrpcTransport,
)

from .._apierrors import map_client_error
from .._errors import (
    ConfigError,
)
from .distribution import Histogram
from .limits import RevisionStats

__all__ = ["MonitoringApi", "monitoring_client"]

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_PERMISSION = "monitoring.timeSeries.list"


def monitoring_client(
    credentials: Credentials, endpoint: str | None = None
) -> monitoring_v3.MetricServiceClient:
    """A ``MetricServiceClient``; ``endpoint`` overrides ``monitoring.googleapis.com``.

    ``host:port``, ``https://host[:port]`` or, on loopback only, ``http://host:port``.
    """
    if not endpoint:
        return monitoring_v3.MetricServiceClient(credentials=credentials)
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    host = parts.hostname or ""
    if parts.scheme == "http" and host not in _LOOPBACK:
        msg = f"--monitoring-endpoint {endpoint}: plain http is only allowed on a loopback address"
        raise ConfigError(msg)
    target = parts.netloc or endpoint
    options = ClientOptions(api_endpoint=target)
    if host in _LOOPBACK:
        # gRPC local credentials: loopback only, no TLS, call credentials still sent.
        transport = functools.partial(
            MetricServiceGrpcTransport,
            ssl_channel_credentials=grpc.local_channel_credentials(
                grpc.LocalConnectionType.LOCAL_TCP
            ),
        )
        return monitoring_v3.MetricServiceClient(
            credentials=credentials, transport=transport, client_options=options
        )
    return monitoring_v3.MetricServiceClient(credentials=credentials, client_options=options)


class MonitoringApi:
    """Reads request counts and latency histograms per revision, with bounded retries."""

    def __init__(
        self,
        client: monitoring_v3.MetricServiceClient,
        *,
        default_endpoint: bool,
        deadline: float = 15.0,
    ) -> None:
        self._client = client
        self.default_endpoint = default_endpoint
        """True when this is Cloud Monitoring itself (windows of at least 60 s)."""
        # The client's own default retries UNAVAILABLE for 90 s; a round must not stall that long.
        self._retry = gretry.Retry(
            initial=0.2,
            maximum=2.0,
            multiplier=1.5,
            predicate=gretry.if_exception_type(gexc.ServiceUnavailable),
            timeout=deadline,
        )
        self._timeout = deadline

    @classmethod
    def connect(cls, credentials: Credentials, *, endpoint: str | None = None) -> MonitoringApi:
        """A client for ``endpoint`` (default: Cloud Monitoring)."""
        return cls(monitoring_client(credentials, endpoint), default_endpoint=not endpoint)

    async def check_access(self, project: str) -> None:
        """Raise :class:`PermissionDenied` (or another DeployError) if metrics cannot be read."""
        end = time.time()
        request = _request(
            project,
            REQUEST_COUNT,
            where='resource.type = "cloud_run_revision"',
            start=end - 60,
            end=end,
            headers_only=True,
        )
        await self._list(request, project)

    async def window(
        self,
        *,
        project: str,
        location: str,
        service: str,
        revisions: Sequence[str],
        start: float,
        end: float,
    ) -> dict[str, RevisionStats]:
        """Requests, 5xx responses and latency histogram of each revision in ``(start, end]``."""
        names = ", ".join(f'"{r}"' for r in revisions)
        where = (
            f'resource.type = "cloud_run_revision" AND resource.labels.service_name = "{service}" '
            f'AND resource.labels.location = "{location}" '
            f"AND resource.labels.revision_name = one_of({names})"
        )
        query = functools.partial(_request, project, where=where, start=start, end=end)
        counts = await self._list(
            query(REQUEST_COUNT, group=("metric.labels.response_code_class",)), project
        )
        latencies = await self._list(query(REQUEST_LATENCIES), project)
        requests = dict.fromkeys(revisions, 0)
        errors = dict.fromkeys(revisions, 0)
        for series in counts:
            revision = series.resource.labels.get("revision_name", "")
            total = sum(int(point.value.int64_value) for point in series.points)
            if revision in requests:
                requests[revision] += total
                if series.metric.labels.get("response_code_class") == "5xx":
                    errors[revision] += total
        histograms: dict[str, Histogram] = {}
        for series in latencies:
            revision = series.resource.labels.get("revision_name", "")
            for point in series.points:
                found = Histogram.from_distribution(point.value.distribution_value)
                if found is None or revision not in requests:
                    continue
                histograms[revision] = (
                    found if revision not in histograms else histograms[revision].merged(found)
                )
        return {
            r: RevisionStats(
                revision=r, requests=requests[r], errors=errors[r], latency=histograms.get(r)
            )
            for r in revisions
        }

    async def _list(
        self, request: monitoring_v3.ListTimeSeriesRequest, project: str
    ) -> list[monitoring_v3.TimeSeries]:
        def call() -> list[monitoring_v3.TimeSeries]:
            try:
                pages = self._client.list_time_series(
                    request=request, retry=self._retry, timeout=self._timeout
                )
                return list(pages)
            except Exception as exc:
                raise map_client_error(
                    exc,
                    what="read Cloud Run's request metrics from Cloud Monitoring",
                    api="Cloud Monitoring",
                    project=project,
                    permission=_PERMISSION,
                ) from exc

        return await anyio.to_thread.run_sync(call)


def _request(
    project: str,
    metric: str,
    *,
    where: str,
    start: float,
    end: float,
    group: tuple[str, ...] = (),
    headers_only: bool = False,
) -> monitoring_v3.ListTimeSeriesRequest:
    seconds = max(end - start, 0.001)
    whole = math.floor(seconds)
    return monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{project}",
        filter=f'metric.type = "{metric}" AND {where}',
        interval=_interval(start, end),
        aggregation=monitoring_v3.Aggregation(
            alignment_period={"seconds": whole, "nanos": round((seconds - whole) * 1e9)},
            per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_DELTA,
            cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_SUM,
            group_by_fields=["resource.labels.revision_name", *group],
        ),
        view=(
            monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.HEADERS
            if headers_only
            else monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL
        ),
    )


def _interval(start: float, end: float) -> monitoring_v3.TimeInterval:
    return monitoring_v3.TimeInterval(
        start_time=datetime.fromtimestamp(start, tz=UTC),
        end_time=datetime.fromtimestamp(end, tz=UTC),
    )
