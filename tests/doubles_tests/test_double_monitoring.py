"""The Monitoring double: the real google-cloud-monitoring client reads Cloud Run's request
metrics computed from what the proxies really served, per revision, after an ingestion delay."""

from __future__ import annotations

import time

import httpx
import pytest
from google.api import metric_pb2
from google.api_core import exceptions
from google.cloud import monitoring_v3, run_v2

from tests.doubles.cloud_run import CloudRunDouble
from tests.support.processes import wait_for

from .helpers import FAST_POLL, PARENT, bearer, create, monitoring_client, short, target, template

pytestmark = pytest.mark.delivery

PROJECT = "projects/clarity-test"
COUNT = 'metric.type = "run.googleapis.com/request_count"'
LATENCY = 'metric.type = "run.googleapis.com/request_latencies"'


@pytest.fixture
def monitoring(double: CloudRunDouble) -> monitoring_v3.MetricServiceClient:
    return monitoring_client(double.monitoring_endpoint)


def query(
    filter_: str,
    *,
    group_by: tuple[str, ...] = (),
    seconds: float = 60,
    reducer: str = "REDUCE_SUM",
) -> monitoring_v3.ListTimeSeriesRequest:
    now = time.time()
    return monitoring_v3.ListTimeSeriesRequest(
        name=PROJECT,
        filter=filter_,
        interval=monitoring_v3.TimeInterval(
            start_time={"seconds": int(now - seconds)}, end_time={"seconds": int(now) + 1}
        ),
        aggregation=monitoring_v3.Aggregation(
            alignment_period={"seconds": int(seconds) + 1},
            per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_DELTA,
            cross_series_reducer=reducer,
            group_by_fields=list(group_by),
        ),
    )


def counts(
    client: monitoring_v3.MetricServiceClient, request: monitoring_v3.ListTimeSeriesRequest
) -> dict[tuple[str, ...], int]:
    out = {}
    for series in client.list_time_series(request=request):
        key = (*series.resource.labels.values(), *series.metric.labels.values())
        out[key] = sum(point.value.int64_value for point in series.points)
    return out


def send(url: str, path: str, times: int) -> list[int]:
    with httpx.Client(headers=bearer()) as client:
        return [client.get(url + path).status_code for _ in range(times)]


@pytest.fixture
def split_service(services: run_v2.ServicesClient) -> tuple[run_v2.Service, str, str]:
    """api-gateway with a healthy revision and one failing a quarter of its requests, 50/50."""
    first = create(services, revision="api-gateway-good")
    change = run_v2.Service(
        name=first.name,
        template=template(revision="api-gateway-bad", env={"CLARITY_FAULT": "error-rate=0.25"}),
        traffic=[target("api-gateway-good", 50), target("api-gateway-bad", 50)],
    )
    service = services.update_service(service=change).result(timeout=30, polling=FAST_POLL)
    return service, "api-gateway-good", "api-gateway-bad"


def test_request_count_by_revision_and_code_class_is_what_the_proxies_served(
    double: CloudRunDouble,
    monitoring: monitoring_v3.MetricServiceClient,
    split_service: tuple[run_v2.Service, str, str],
) -> None:
    service, good, bad = split_service
    statuses = send(str(service.uri), "/work", 40) + send(str(service.uri), "/health", 10)
    assert statuses.count(500) == 5  # 20 of /work reached the bad revision, a quarter failed
    by_revision = counts(
        monitoring,
        query(
            f'{COUNT} AND resource.labels.service_name = "api-gateway"',
            group_by=("resource.labels.revision_name", "metric.labels.response_code_class"),
        ),
    )
    assert by_revision == {(good, "2xx"): 25, (bad, "2xx"): 20, (bad, "5xx"): 5}
    # The same figures as the proxy log, which is what really happened.
    served = [r for r in double.proxy_log if r.revision == bad]
    assert sum(1 for r in served if r.status >= 500) == 5


def test_filters_on_revision_and_code_class_and_one_of(
    monitoring: monitoring_v3.MetricServiceClient, split_service: tuple[run_v2.Service, str, str]
) -> None:
    service, good, bad = split_service
    send(str(service.uri), "/work", 40)
    only_errors = query(
        f'{COUNT} AND resource.label.revision_name = "{bad}" AND metric.labels.response_code_class = "5xx"'
    )
    assert counts(monitoring, only_errors) == {(): 5}
    both = query(
        f'{COUNT} AND resource.labels.revision_name = one_of("{good}", "{bad}")',
        group_by=("resource.labels.revision_name",),
    )
    assert counts(monitoring, both) == {(good,): 20, (bad,): 20}
    ungrouped = query(
        f'{COUNT} AND resource.labels.revision_name = "{good}"', reducer="REDUCE_NONE"
    )
    series = list(monitoring.list_time_series(request=ungrouped))
    assert [dict(s.metric.labels) for s in series] == [
        {"response_code": "200", "response_code_class": "2xx"}
    ]
    assert dict(series[0].resource.labels) == {
        "configuration_name": "api-gateway",
        "location": "europe-west1",
        "project_id": "clarity-test",
        "revision_name": good,
        "service_name": "api-gateway",
    }
    assert series[0].metric_kind == metric_pb2.MetricDescriptor.DELTA
    assert series[0].value_type == metric_pb2.MetricDescriptor.INT64
    assert series[0].unit == "1"


def test_latency_distribution_per_revision(
    services: run_v2.ServicesClient, monitoring: monitoring_v3.MetricServiceClient
) -> None:
    first = create(services, revision="api-gateway-fast")
    change = run_v2.Service(
        name=first.name,
        template=template(revision="api-gateway-slow", env={"CLARITY_FAULT": "latency=80"}),
        traffic=[target("api-gateway-fast", 50, tag="fast"), target("api-gateway-slow", 50)],
    )
    service = services.update_service(service=change).result(timeout=30, polling=FAST_POLL)
    send(str(service.uri), "/work", 20)
    request = query(LATENCY, group_by=("resource.labels.revision_name",))
    found = {
        s.resource.labels["revision_name"]: s.points[0].value.distribution_value
        for s in monitoring.list_time_series(request=request)
    }
    slow, fast = found["api-gateway-slow"], found["api-gateway-fast"]
    assert (slow.count, fast.count) == (10, 10)
    assert slow.mean >= 80 > fast.mean
    assert sum(slow.bucket_counts) == 10
    assert slow.bucket_options.exponential_buckets.growth_factor == pytest.approx(1.4)
    # Trailing empty buckets are left out, as the Distribution proto allows.
    assert slow.bucket_counts[-1] > 0
    assert len(slow.bucket_counts) < 66


def test_ingestion_delay_hides_recent_requests(
    double: CloudRunDouble,
    services: run_v2.ServicesClient,
    monitoring: monitoring_v3.MetricServiceClient,
) -> None:
    service = create(services)
    double.metrics_delay = 1.0
    send(str(service.uri), "/work", 5)
    request = query(COUNT)
    assert counts(monitoring, request) == {}
    wait_for(
        lambda: counts(monitoring, query(COUNT)) == {(): 5}, timeout=10, what="metrics to arrive"
    )


def test_refused_requests_are_not_counted(
    services: run_v2.ServicesClient, monitoring: monitoring_v3.MetricServiceClient
) -> None:
    service = create(services)
    assert httpx.get(str(service.uri) + "/work").status_code == 403  # no token: never reached
    send(str(service.uri), "/work", 2)
    assert counts(monitoring, query(COUNT)) == {(): 2}


def test_bad_queries_are_invalid_argument(monitoring: monitoring_v3.MetricServiceClient) -> None:
    for bad, words in (
        ('resource.labels.service_name = "x"', "exactly one metric.type"),
        (f'{COUNT} AND resource.labels.colour = "red"', "Unknown label"),
        (f"{COUNT} OR metric.type = 'x'", "Could not parse"),
    ):
        with pytest.raises(exceptions.InvalidArgument, match=words):
            list(monitoring.list_time_series(request=query(bad)))
    percentile = query(LATENCY, reducer="REDUCE_PERCENTILE_99")
    with pytest.raises(exceptions.InvalidArgument, match="REDUCE_NONE and REDUCE_SUM only"):
        list(monitoring.list_time_series(request=percentile))


def test_policies_of_the_admin_api_guard_monitoring_too(
    double: CloudRunDouble,
    services: run_v2.ServicesClient,
    monitoring: monitoring_v3.MetricServiceClient,
) -> None:
    create(services)
    double.deny("monitoring.timeSeries.list")
    with pytest.raises(exceptions.PermissionDenied, match=r"monitoring\.timeSeries\.list"):
        list(monitoring.list_time_series(request=query(COUNT)))
    double.allow("monitoring.timeSeries.list")
    # The client's default retry covers UNAVAILABLE.
    double.fail_next("ListTimeSeries", status=503, times=2)
    assert counts(monitoring, query(COUNT)) == {}
    assert [r.status for r in double.api_log if r.rpc == "ListTimeSeries"][-3:] == [503, 503, 200]


def test_other_projects_see_nothing(
    services: run_v2.ServicesClient, monitoring: monitoring_v3.MetricServiceClient
) -> None:
    service = create(services)
    send(str(service.uri), "/work", 3)
    other = query(COUNT)
    other.name = "projects/someone-else"
    assert counts(monitoring, other) == {}
    assert short(service.name) == "api-gateway"
    assert PARENT.startswith(PROJECT)
