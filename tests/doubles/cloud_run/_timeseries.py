"""``projects.timeSeries.list`` over the served requests: filter, align, reduce.

What is implemented is what a canary analysis of Cloud Run asks for (see the README next to
this file for the divergences):

* **filter**: terms joined by ``AND``, each ``KEY = "value"`` or ``KEY = one_of("a", ...)``,
  with KEY one of ``metric.type``, ``resource.type``, ``resource.labels.NAME`` (``project_id``,
  ``service_name``, ``revision_name``, ``location``, ``configuration_name``) and
  ``metric.labels.NAME`` (``response_code``, ``response_code_class``); the singular
  ``resource.label.NAME`` / ``metric.label.NAME`` spellings are accepted too;
* **interval** ``(startTime, endTime]`` (a DELTA point belongs to the period it ends in);
* **aggregation**: ``ALIGN_DELTA`` or ``ALIGN_SUM`` over ``alignmentPeriod`` (periods counted
  back from ``endTime``), then ``REDUCE_NONE`` or ``REDUCE_SUM`` with ``groupByFields``;
  ``REDUCE_SUM`` of distributions adds their histograms, as Monitoring does;
* **view** ``FULL`` or ``HEADERS`` (no points).

``request_latencies`` points carry exponential bucket options (:data:`LATENCY_BUCKETS`), with
trailing empty buckets left out of ``bucketCounts`` as the Distribution proto allows.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from google.api import distribution_pb2, metric_pb2
from google.cloud import monitoring_v3

from ._errors import ApiError
from ._metrics import Served

__all__ = ["LATENCY_BUCKETS", "REQUEST_COUNT", "REQUEST_LATENCIES", "list_time_series"]

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
RESOURCE_TYPE = "cloud_run_revision"

LATENCY_BUCKETS = distribution_pb2.Distribution.BucketOptions(
    exponential_buckets=distribution_pb2.Distribution.BucketOptions.Exponential(
        num_finite_buckets=64, growth_factor=1.4, scale=1.0
    )
)
"""Milliseconds: underflow below 1 ms, then buckets 40 % wide up to about 2.2e9 ms."""

_RESOURCE_LABELS = ("project_id", "service_name", "revision_name", "location", "configuration_name")
_METRIC_LABELS = ("response_code", "response_code_class")
_TERM = re.compile(
    r"""\s*(?P<key>[a-z_.]+)\s*=\s*(?:"(?P<value>[^"]*)"|one_of\((?P<values>[^)]*)\))\s*"""
)
_QUOTED = re.compile(r'\s*"([^"]*)"\s*')
_ALIGNERS = {
    monitoring_v3.Aggregation.Aligner.ALIGN_DELTA,
    monitoring_v3.Aggregation.Aligner.ALIGN_SUM,
}
_REDUCE_NONE = monitoring_v3.Aggregation.Reducer.REDUCE_NONE
_REDUCERS = {_REDUCE_NONE, monitoring_v3.Aggregation.Reducer.REDUCE_SUM}

Locate = Callable[[str], "tuple[str, str] | None"]
"""Service id → (project, location), or None for a service the double no longer has."""


@dataclass(frozen=True)
class _Series:
    """One raw time series: its labels and the samples in it."""

    resource: tuple[tuple[str, str], ...]
    metric: tuple[tuple[str, str], ...]
    samples: tuple[Served, ...]


def list_time_series(
    request: monitoring_v3.ListTimeSeriesRequest, samples: Iterable[Served], locate: Locate
) -> monitoring_v3.ListTimeSeriesResponse:
    """The answer to ``request`` over ``samples``; :class:`ApiError` for what is not valid."""
    project = _project(request.name)
    terms = _parse_filter(request.filter)
    metric_type = _single(terms, "metric.type")
    if metric_type is None:
        msg = "The filter must name exactly one metric.type."
        raise ApiError.invalid(msg)
    end, start = _interval(request)
    raw = [
        s
        for s in _series(samples, project, locate)
        if _matches(s, terms, metric_type) and any(start < x.at <= end for x in s.samples)
    ]
    if metric_type not in (REQUEST_COUNT, REQUEST_LATENCIES):
        raw = []
    aggregation = request.aggregation
    aligner = aggregation.per_series_aligner
    if aligner not in _ALIGNERS:
        msg = f"The Cloud Run double implements ALIGN_DELTA and ALIGN_SUM only, not {aligner.name}."
        raise ApiError.invalid(msg)
    # proto-plus hands durations and timestamps out as timedelta and datetime, although the
    # stubs say Duration and Timestamp.
    period = aggregation.alignment_period.total_seconds()  # type: ignore[attr-defined]
    if period <= 0:
        msg = "alignment_period is required with a per_series_aligner and must be positive."
        raise ApiError.invalid(msg)
    reducer = aggregation.cross_series_reducer
    if reducer not in _REDUCERS:
        msg = (
            f"The Cloud Run double implements REDUCE_NONE and REDUCE_SUM only, not {reducer.name}."
        )
        raise ApiError.invalid(msg)
    groups = _group(raw, aggregation.group_by_fields, reduce=reducer != _REDUCE_NONE)
    headers_only = request.view == monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.HEADERS
    out = [
        _render(
            metric_type,
            labels,
            members,
            interval=(start, end),
            period=period,
            headers_only=headers_only,
        )
        for labels, members in groups.items()
    ]
    return monitoring_v3.ListTimeSeriesResponse(time_series=[s for s in out if s is not None])


def _project(name: str) -> str:
    match = re.fullmatch(r"projects/([^/]+)", name)
    if match is None:
        msg = f"Invalid resource name {name!r}: expected projects/[PROJECT_ID_OR_NUMBER]."
        raise ApiError.invalid(msg)
    return match[1]


def _parse_filter(text: str) -> dict[str, tuple[str, ...]]:
    """``KEY = value`` terms joined by AND → key (canonical spelling) → accepted values."""
    terms: dict[str, tuple[str, ...]] = {}
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = _TERM.fullmatch(part)
        if match is None:
            msg = f'Could not parse the filter term {part!r}: the Cloud Run double accepts KEY = "value" and KEY = one_of(...) joined by AND.'
            raise ApiError.invalid(msg)
        key = _canonical(match["key"])
        if match["value"] is not None:
            terms[key] = (match["value"],)
        else:
            terms[key] = tuple(_one_of(match["values"], part))
    return terms


def _one_of(listed: str, term: str) -> list[str]:
    values = []
    for item in listed.split(","):
        quoted = _QUOTED.fullmatch(item)
        if quoted is None:
            msg = f"one_of in {term!r} takes quoted strings separated by commas."
            raise ApiError.invalid(msg)
        values.append(quoted[1])
    return values


def _canonical(key: str) -> str:
    for prefix, names in (("resource.", _RESOURCE_LABELS), ("metric.", _METRIC_LABELS)):
        for spelling in ("labels.", "label."):
            if key.startswith(prefix + spelling):
                name = key.removeprefix(prefix + spelling)
                if name not in names:
                    msg = (
                        f"Unknown label {key!r} for {RESOURCE_TYPE}: known are {', '.join(names)}."
                    )
                    raise ApiError.invalid(msg)
                return f"{prefix}labels.{name}"
    if key in ("metric.type", "resource.type"):
        return key
    msg = f"Unknown filter key {key!r}."
    raise ApiError.invalid(msg)


def _single(terms: dict[str, tuple[str, ...]], key: str) -> str | None:
    values = terms.get(key, ())
    return values[0] if len(values) == 1 else None


def _interval(request: monitoring_v3.ListTimeSeriesRequest) -> tuple[float, float]:
    if "interval" not in request or "end_time" not in request.interval:
        msg = "interval.end_time is required."
        raise ApiError.invalid(msg)
    end = _seconds(request.interval.end_time)  # type: ignore[arg-type]
    start = (
        _seconds(request.interval.start_time)  # type: ignore[arg-type]
        if "start_time" in request.interval
        else end
    )
    if start > end:
        msg = "interval.start_time must not be later than interval.end_time."
        raise ApiError.invalid(msg)
    return end, start


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def _series(samples: Iterable[Served], project: str, locate: Locate) -> list[_Series]:
    by_key: dict[tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], list[Served]] = (
        defaultdict(list)
    )
    places: dict[str, tuple[str, str] | None] = {}
    for sample in samples:
        if sample.service not in places:
            places[sample.service] = locate(sample.service)
        place = places[sample.service]
        if place is None or place[0] != project:
            continue
        resource = (
            ("configuration_name", sample.service),
            ("location", place[1]),
            ("project_id", project),
            ("revision_name", sample.revision),
            ("service_name", sample.service),
        )
        metric = (("response_code", str(sample.status)), ("response_code_class", sample.code_class))
        by_key[(resource, metric)].append(sample)
    return [_Series(r, m, tuple(s)) for (r, m), s in by_key.items()]


def _matches(series: _Series, terms: dict[str, tuple[str, ...]], metric_type: str) -> bool:
    labels = {f"resource.labels.{k}": v for k, v in series.resource}
    labels.update({f"metric.labels.{k}": v for k, v in series.metric})
    labels["metric.type"] = metric_type
    labels["resource.type"] = RESOURCE_TYPE
    return all(labels.get(key) in values for key, values in terms.items())


def _group(
    series: Sequence[_Series], fields: Sequence[str], *, reduce: bool
) -> dict[tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], list[_Series]]:
    if not reduce:
        return {(s.resource, s.metric): [s] for s in series}
    wanted = [_canonical(f) for f in fields]
    groups: dict[tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], list[_Series]] = (
        defaultdict(list)
    )
    for s in series:
        resource = tuple((k, v) for k, v in s.resource if f"resource.labels.{k}" in wanted)
        metric = tuple((k, v) for k, v in s.metric if f"metric.labels.{k}" in wanted)
        groups[(resource, metric)].append(s)
    return groups


def _render(
    metric_type: str,
    labels: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]],
    members: Sequence[_Series],
    *,
    interval: tuple[float, float],
    period: float,
    headers_only: bool,
) -> monitoring_v3.TimeSeries | None:
    resource, metric = labels
    start, end = interval
    counting = metric_type == REQUEST_COUNT
    points: list[monitoring_v3.Point] = []
    k = 0
    while end - k * period > start:
        upper = end - k * period
        lower = upper - period
        inside = [x for s in members for x in s.samples if max(lower, start) < x.at <= upper]
        if inside:
            value = (
                monitoring_v3.TypedValue(int64_value=len(inside))
                if counting
                else monitoring_v3.TypedValue(
                    distribution_value=distribution([x.latency_ms for x in inside])
                )
            )
            points.append(
                monitoring_v3.Point(
                    interval=monitoring_v3.TimeInterval(
                        start_time=_stamp(lower), end_time=_stamp(upper)
                    ),
                    value=value,
                )
            )
        k += 1
    if not points:
        return None
    return monitoring_v3.TimeSeries(
        metric={"type": metric_type, "labels": dict(metric)},
        resource={"type": RESOURCE_TYPE, "labels": dict(resource)},
        metric_kind=metric_pb2.MetricDescriptor.DELTA,
        value_type=(
            metric_pb2.MetricDescriptor.INT64
            if counting
            else metric_pb2.MetricDescriptor.DISTRIBUTION
        ),
        unit="1" if counting else "ms",
        points=[] if headers_only else points,
    )


def _stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def distribution(values: Sequence[float]) -> distribution_pb2.Distribution:
    """A Distribution of ``values`` with :data:`LATENCY_BUCKETS`."""
    count = len(values)
    mean = math.fsum(values) / count if count else 0.0
    options = LATENCY_BUCKETS.exponential_buckets
    counts = [0] * (options.num_finite_buckets + 2)
    for value in values:
        if value < options.scale:
            index = 0
        else:
            index = int(math.log(value / options.scale) / math.log(options.growth_factor)) + 1
            index = min(index, options.num_finite_buckets + 1)
        counts[index] += 1
    while counts and counts[-1] == 0:
        counts.pop()
    return distribution_pb2.Distribution(
        count=count,
        mean=mean,
        sum_of_squared_deviation=math.fsum((v - mean) ** 2 for v in values),
        bucket_options=LATENCY_BUCKETS,
        bucket_counts=counts,
    )
