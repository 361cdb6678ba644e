"""The dashboard and the alert policies read metrics that exist, through labels that exist.

Every filter of terraform/modules/observability/dashboard.json and of each environment's alert
policies must name a metric type, either from tests/terraform/data/metric-descriptors.json
(transcribed from Google's metrics list, which the file cites) or one of the log-based metrics
this configuration defines; a resource type that metric is written against; and only labels
that metric or that resource has. Group-by fields are checked the same way, and aligners and
reducers against the metric's kind and value type. The log-based metrics read exactly the
deployment entry fields terraform/README.md promises the delivery library writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.terraform._terraform import ENVIRONMENTS, MODULES_DIR, TERRAFORM_DIR, Graph

pytestmark = pytest.mark.terraform

DASHBOARD = MODULES_DIR / "observability" / "dashboard.json"
DESCRIPTORS = json.loads((Path(__file__).parent / "data" / "metric-descriptors.json").read_text())
#: The monitored resource the delivery library writes its entries against (README contract).
LOG_RESOURCE = "global"
_TERM = re.compile(
    r"^(?P<negated>NOT )?(?P<key>metric\.type|resource\.type|(?:metric|resource)\.labels?\.\w+)"
    r" = (?P<value>\"[^\"]*\"|(?:one_of|starts_with|ends_with)\(\"[^)]*\"\))$"
)
_PERCENTILE = re.compile(r"^(?:ALIGN|REDUCE)_PERCENTILE_\d+$")


@dataclass(frozen=True)
class Descriptor:
    """What Cloud Monitoring knows of one metric type."""

    kind: str
    value: str
    resources: tuple[str, ...]
    labels: frozenset[str]


def descriptors(graph: Graph) -> dict[str, Descriptor]:
    """Google's metrics from the checked-in list, and the log-based metrics graph defines."""
    found = {
        name: Descriptor(d["kind"], d["value"], tuple(d["resources"]), frozenset(d["labels"]))
        for name, d in DESCRIPTORS["metrics"].items()
    }
    for metric in graph.resources("google_logging_metric"):
        descriptor = metric["metric_descriptor"]
        found[f"logging.googleapis.com/user/{metric['name']}"] = Descriptor(
            descriptor["metric_kind"],
            descriptor["value_type"],
            (LOG_RESOURCE,),
            frozenset(metric["label_extractors"]),
        )
    return found


def _label(field: str) -> tuple[str, str] | None:
    """('metric', 'state') from metric.label.state or metric.labels.state."""
    match = re.fullmatch(r"(metric|resource)\.labels?\.(\w+)", field)
    return (match[1], match[2]) if match else None


def problems(
    metrics: Mapping[str, Descriptor], filter_: str, aggregation: Mapping[str, Any] | None
) -> list[str]:
    """What is wrong with one filter and its aggregation; empty when nothing is."""
    found: list[str] = []
    terms: dict[str, str] = {}
    labels: list[tuple[str, str]] = []
    for text in filter_.split(" AND "):
        match = _TERM.match(text)
        if match is None:
            found.append(f"cannot read the term {text!r}")
            continue
        terms.setdefault(match["key"], match["value"].strip('"'))
        label = _label(match["key"])
        if label:
            labels.append(label)
    metric_type, resource_type = terms.get("metric.type"), terms.get("resource.type")
    descriptor = metrics.get(metric_type or "")
    if descriptor is None:
        return [*found, f"unknown metric type {metric_type!r}"]
    if resource_type not in descriptor.resources:
        found.append(
            f"{metric_type} is written against {descriptor.resources}, not {resource_type!r}"
        )
        return found
    for field in (aggregation or {}).get("groupByFields", []):
        label = _label(field)
        if label is None:
            found.append(f"cannot group by {field!r}")
        else:
            labels.append(label)
    resource_labels = set(DESCRIPTORS["resources"][resource_type])
    for owner, name in labels:
        known = descriptor.labels if owner == "metric" else resource_labels
        if name not in known:
            found.append(f"{metric_type} ({resource_type}) has no {owner} label {name!r}")
    aligner = (aggregation or {}).get("perSeriesAligner", "")
    reducer = (aggregation or {}).get("crossSeriesReducer", "")
    if aligner in {"ALIGN_RATE", "ALIGN_DELTA", "ALIGN_SUM"} and descriptor.kind == "GAUGE":
        found.append(f"{aligner} needs a DELTA or CUMULATIVE metric; {metric_type} is a GAUGE")
    if descriptor.value == "DISTRIBUTION":
        if aligner not in {"ALIGN_DELTA", ""} and not _PERCENTILE.match(aligner):
            found.append(f"{aligner} does not apply to the distribution {metric_type}")
    elif _PERCENTILE.match(aligner) or _PERCENTILE.match(reducer):
        found.append(f"percentiles need a distribution; {metric_type} is {descriptor.value}")
    return found


def _queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(widget title, filter, aggregation) for every query of every chart."""
    for tile in dashboard["mosaicLayout"]["tiles"]:
        widget = tile["widget"]
        for data_set in widget["xyChart"]["dataSets"]:
            query = data_set["timeSeriesQuery"]
            if "timeSeriesFilter" in query:
                series = query["timeSeriesFilter"]
                yield widget["title"], series["filter"], series["aggregation"]
            else:
                for part in ("numerator", "denominator"):
                    series = query["timeSeriesFilterRatio"][part]
                    yield widget["title"], series["filter"], series["aggregation"]


def _metric_type(filter_: str) -> str:
    match = re.search(r'metric\.type = "([^"]+)"', filter_)
    assert match is not None, filter_
    return match[1]


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


# ------------------------------------------------------------------ the dashboard


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_dashboard_filter_names_metrics_and_labels_that_exist(
    graphs: dict[str, Graph], env: str
) -> None:
    metrics = descriptors(graphs[env])
    (dashboard,) = graphs[env].resources("google_monitoring_dashboard")
    deployed = json.loads(dashboard["dashboard_json"])
    assert deployed["displayName"] == f"Clarity Loop ({env})"
    assert {k: v for k, v in deployed.items() if k != "displayName"} == {
        k: v for k, v in _dashboard().items() if k != "displayName"
    }, "only the title is templated per environment"
    found = [
        f"{title}: {problem}"
        for title, filter_, aggregation in _queries(deployed)
        for problem in problems(metrics, filter_, aggregation)
    ]
    assert found == []


def test_the_dashboard_shows_what_the_design_asks_for() -> None:
    used = {_metric_type(filter_) for _, filter_, _ in _queries(_dashboard())}
    assert used == set(DESCRIPTORS["metrics"]) | {
        "logging.googleapis.com/user/clarity-deployments",
        "logging.googleapis.com/user/clarity-deployment-duration",
        "logging.googleapis.com/user/clarity-time-to-rollback",
    }, "every descriptor listed is used, and nothing else"
    groupings = {
        field
        for _, _, aggregation in _queries(_dashboard())
        for field in aggregation.get("groupByFields", [])
    }
    # Per service and per revision (canary and blue-green splits), outcomes by kind.
    assert {
        "resource.label.service_name",
        "resource.label.revision_name",
        "metric.label.outcome",
    } <= groupings
    latency = [
        aggregation["crossSeriesReducer"]
        for title, filter_, aggregation in _queries(_dashboard())
        if "request_latencies" in filter_ and "revision" in title
    ]
    assert latency == ["REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_99"]


def test_tiles_fit_the_grid_without_overlapping() -> None:
    layout = _dashboard()["mosaicLayout"]
    cells: set[tuple[int, int]] = set()
    for tile in layout["tiles"]:
        assert tile["xPos"] + tile["width"] <= layout["columns"], tile["widget"]["title"]
        area = {
            (x, y)
            for x in range(tile["xPos"], tile["xPos"] + tile["width"])
            for y in range(tile["yPos"], tile["yPos"] + tile["height"])
        }
        assert not area & cells, f"{tile['widget']['title']} overlaps another tile"
        cells |= area


def test_a_wrong_metric_resource_label_or_aligner_is_reported(graphs: dict[str, Graph]) -> None:
    metrics = descriptors(graphs["prod"])
    run = (
        'metric.type = "run.googleapis.com/request_count" AND resource.type = "cloud_run_revision"'
    )
    rate = {"perSeriesAligner": "ALIGN_RATE"}
    assert problems(metrics, run, rate) == []
    assert problems(metrics, run.replace("request_count", "request_counts"), rate) == [
        "unknown metric type 'run.googleapis.com/request_counts'"
    ]
    assert problems(metrics, run.replace("cloud_run_revision", "gce_instance"), rate) == [
        "run.googleapis.com/request_count is written against ('cloud_run_revision',), "
        "not 'gce_instance'"
    ]
    assert problems(metrics, f'{run} AND metric.label.status = "500"', rate) == [
        "run.googleapis.com/request_count (cloud_run_revision) has no metric label 'status'"
    ]
    assert problems(metrics, run, {**rate, "groupByFields": ["resource.label.service"]}) == [
        "run.googleapis.com/request_count (cloud_run_revision) has no resource label 'service'"
    ]
    assert problems(metrics, run, {"perSeriesAligner": "ALIGN_PERCENTILE_99"}) == [
        "percentiles need a distribution; run.googleapis.com/request_count is INT64"
    ]
    gauge = run.replace("request_count", "container/instance_count")
    assert problems(metrics, gauge, rate) == [
        "ALIGN_RATE needs a DELTA or CUMULATIVE metric; "
        "run.googleapis.com/container/instance_count is a GAUGE"
    ]
    assert problems(metrics, f"{run} AND metric.labels.response_code > 499", rate) == [
        "cannot read the term 'metric.labels.response_code > 499'"
    ]


# ------------------------------------------------------------------ alert policies


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_alert_policy_filter_names_metrics_and_labels_that_exist(
    graphs: dict[str, Graph], env: str
) -> None:
    metrics = descriptors(graphs[env])
    found = []
    for policy in graphs[env].resources("google_monitoring_alert_policy"):
        threshold = policy["conditions"]["condition_threshold"]
        for filter_key, aggregation_key in (
            ("filter", "aggregations"),
            ("denominator_filter", "denominator_aggregations"),
        ):
            if threshold.get(filter_key):
                aggregation = threshold.get(aggregation_key) or {}
                camel = {
                    "perSeriesAligner": aggregation.get("per_series_aligner", ""),
                    "crossSeriesReducer": aggregation.get("cross_series_reducer", ""),
                    "groupByFields": aggregation.get("group_by_fields") or [],
                }
                found += [
                    f"{policy['display_name']}: {problem}"
                    for problem in problems(metrics, threshold[filter_key], camel)
                ]
    assert found == []


def test_deployment_alerts_fire_on_failed_rollouts_and_failed_rollbacks(
    graphs: dict[str, Graph],
) -> None:
    policies = {
        policy["display_name"]: policy
        for policy in graphs["prod"].resources("google_monitoring_alert_policy")
    }
    rollout = policies["Deployment rolled back or failed"]["conditions"]["condition_threshold"]
    rollback = policies["Rollback failed"]["conditions"]["condition_threshold"]
    assert 'metric.label.kind = "rollout"' in rollout["filter"]
    assert 'one_of("rolled_back", "aborted", "failed")' in rollout["filter"]
    assert (
        'metric.label.kind = "rollback" AND metric.label.outcome = "failed"' in (rollback["filter"])
    )
    for threshold in (rollout, rollback):
        assert (threshold["comparison"], threshold["threshold_value"]) == ("COMPARISON_GT", 0)
        assert threshold["duration"] == "0s", "one entry fires the alert at once"
    assert policies["Rollback failed"]["severity"] == "CRITICAL"
    channel = graphs["prod"].by_id(
        policies["Rollback failed"]["notification_channels"][0]
    )  # the environment's channel
    assert channel["__tfmeta"]["label"] == "google_monitoring_notification_channel"


# ------------------------------------------------------------------ the entry contract


def _contract_fields() -> set[str]:
    """The `jsonPayload` fields terraform/README.md's contract table lists."""
    readme = (TERRAFORM_DIR / "README.md").read_text()
    section = readme.split("### Deployment events in Cloud Logging", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))


def test_the_log_based_metrics_read_only_fields_the_contract_promises(
    graphs: dict[str, Graph],
) -> None:
    contract = _contract_fields()
    assert {
        "environment",
        "version",
        "commit",
        "services",
        "outcome",
        "kind",
        "duration_seconds",
        "time_to_rollback_seconds",
    } <= contract
    for metric in graphs["staging"].resources("google_logging_metric"):
        read = set(re.findall(r"jsonPayload\.(\w+)", json.dumps(metric)))
        assert read <= contract, f"{metric['name']} reads {sorted(read - contract)}"
        assert (
            'logName="projects/clarity-loop-staging/logs/clarity-deployments"' in (metric["filter"])
        )
    assert "`clarity-deployments`" in (TERRAFORM_DIR / "README.md").read_text()
