"""What the :class:`~clarity_delivery.rollout.Deployer` refuses before a release changes anything,
and how a retry of an Admin API call reaches the progress output.

The refusals come before any call: the Admin API and Cloud Monitoring endpoints here are a
closed port, tried once, so a refusal that came too late fails the test instead of passing it.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import anyio
import pytest
from clarity_delivery import ConfigError, build_plan, load_settings
from clarity_delivery._cloudrun import CloudRunApi, RetryNotice, RetryPolicy
from clarity_delivery.analysis import MonitoringApi, Prober
from clarity_delivery.analysis.monitoring import monitoring_client
from clarity_delivery.plan import ReleasePlan
from clarity_delivery.progress import Reporter
from clarity_delivery.rollout import Deployer
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from tests.unit.delivery.images import pinned

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

SETTINGS = Path(__file__).resolve().parents[3] / "terraform" / "environments"
CLOSED = "http://127.0.0.1:9"


class Tokens:
    def token(self, audience: str) -> str:
        return "token-for-" + audience


def _deployer(
    stream: io.StringIO, monitoring: MonitoringApi | None = None
) -> tuple[Deployer, CloudRunApi]:
    credentials = AnonymousCredentials()
    options = ClientOptions(api_endpoint=CLOSED)
    api = CloudRunApi(
        run_v2.ServicesClient(transport="rest", credentials=credentials, client_options=options),
        run_v2.RevisionsClient(transport="rest", credentials=credentials, client_options=options),
        retry=RetryPolicy(attempts=1),
    )
    reporter = Reporter(stream, json_lines=True)
    return Deployer(api, Prober(Tokens()), reporter, monitoring=monitoring), api


def _monitoring(*, default_endpoint: bool) -> MonitoringApi:
    client = monitoring_client(AnonymousCredentials(), CLOSED)
    return MonitoringApi(client, default_endpoint=default_endpoint, deadline=1.0)


def _staging_plan(window_seconds: float = 60) -> ReleasePlan:
    staging = load_settings("staging", SETTINGS)
    plan = build_plan(staging, version="1.0.0", images=pinned(staging))
    assert plan.policy.metrics is not None
    metrics = dataclasses.replace(plan.policy.metrics, window_seconds=window_seconds)
    return dataclasses.replace(plan, policy=dataclasses.replace(plan.policy, metrics=metrics))


def test_metric_analysis_without_a_monitoring_client_is_refused_before_anything() -> None:
    stream = io.StringIO()
    with pytest.raises(ConfigError) as refused:
        anyio.run(_deployer(stream)[0].deploy, _staging_plan())
    assert refused.value.cause == (
        "staging turns metric analysis on, but no Cloud Monitoring client was given"
    )
    assert stream.getvalue() == ""  # not even the plan: nothing started


def test_a_window_cloud_monitoring_cannot_align_is_refused_before_anything() -> None:
    stream = io.StringIO()
    deployer, _ = _deployer(stream, _monitoring(default_endpoint=True))
    with pytest.raises(ConfigError) as refused:
        anyio.run(deployer.deploy, _staging_plan(window_seconds=30))
    assert refused.value.cause == (
        "staging: rollout.metric_analysis.window_seconds is 30, but Cloud Monitoring aligns at "
        "least 60s: raise it to 60 or more (shorter windows only work against a local "
        "Monitoring double, --monitoring-endpoint)"
    )
    assert stream.getvalue() == ""


def test_each_retry_of_an_api_call_is_a_progress_event() -> None:
    stream = io.StringIO()
    _, api = _deployer(stream)  # the Deployer wires its retry reporting into the client
    notice = RetryNotice(
        what="read service svc", error="503 down", attempt=2, attempts=5, wait_seconds=1.23456
    )
    assert api.on_retry is not None
    api.on_retry(notice)
    (event,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {k: v for k, v in event.items() if k != "ts"} == {
        "kind": "retry",
        "message": "read service svc: 503 down; attempt 2 of 5 failed, retrying in 1.2s",
        "attempt": 2,
        "attempts": 5,
        "wait_seconds": 1.235,
        "error": "503 down",
    }
