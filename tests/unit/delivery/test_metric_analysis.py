"""Metric analysis, pure parts: percentiles from histograms, the judgement of a window, the
step's gate and bake, the runner's reports, transactions' checks and the records."""

from __future__ import annotations

import dataclasses
import io
import math
import re
from pathlib import Path

import anyio
import pytest
from clarity_delivery import build_plan, load_settings
from clarity_delivery._apierrors import map_client_error
from clarity_delivery._errors import (
    ConfigError,
    CredentialsError,
    DeployError,
    PermissionDenied,
    ServiceUnreachable,
)
from clarity_delivery.analysis import (
    Analysis,
    AnalysisRunner,
    Histogram,
    Measurement,
    MetricsMeasurement,
    ProbeResult,
    RevisionStats,
    Round,
    RoundResult,
    Subject,
    Verdict,
    Window,
    assess,
    judge,
)
from clarity_delivery.analysis.monitoring import monitoring_client
from clarity_delivery.analysis.transactions import SYNTHETIC_PREFIX, transaction_for
from clarity_delivery.ledger import DeploymentRecord, RevisionFigures, StepRecord
from clarity_delivery.progress import Reporter
from clarity_delivery.render import markdown_summary
from clarity_delivery.settings import HealthCheck, MetricAnalysis, TransactionCheck
from google.api import distribution_pb2
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials

from clarity_common.samples import BATCH_ID_PATTERN, SYNTHETIC_ID_PREFIX, USER_ID_PATTERN
from tests.unit.delivery.images import pinned

pytestmark = pytest.mark.unit

SETTINGS = Path(__file__).resolve().parents[3] / "terraform" / "environments"
PROD = load_settings("prod", SETTINGS)


def _prod_limits() -> MetricAnalysis:
    limits = PROD.rollout.metrics
    assert limits is not None
    return limits


LIMITS = _prod_limits()
Distribution = distribution_pb2.Distribution
Options = Distribution.BucketOptions


# ------------------------------------------------------------------ histograms


def test_linear_buckets_and_interpolation_inside_a_bucket() -> None:
    # Buckets: (-inf, 0), [0, 10), [10, 20), [20, 30), [30, +inf).
    dist = Distribution(
        count=10,
        bucket_options=Options(
            linear_buckets=Options.Linear(num_finite_buckets=3, width=10, offset=0)
        ),
        bucket_counts=[0, 5, 4, 0, 1],
    )
    histogram = Histogram.from_distribution(dist)
    assert histogram is not None
    assert histogram.bounds == (0.0, 10.0, 20.0, 30.0)
    assert histogram.percentile(50) == 10.0  # the 5th value closes the first finite bucket
    assert histogram.percentile(70) == pytest.approx(15.0)  # halfway through [10, 20)
    assert histogram.percentile(99) == 30.0  # overflow, without a range: its lower edge


def test_exponential_buckets_short_counts_are_padded_and_range_closes_the_ends() -> None:
    # scale 1, growth 2: (-inf,1), [1,2), [2,4), [4,8), [8,16), [16,+inf)
    dist = Distribution(
        count=4,
        range=Distribution.Range(min=0.5, max=40),
        bucket_options=Options(
            exponential_buckets=Options.Exponential(num_finite_buckets=4, growth_factor=2, scale=1)
        ),
        bucket_counts=[1, 0, 2],  # "fewer than N values: the rest are 0"
    )
    histogram = Histogram.from_distribution(dist)
    assert histogram is not None
    assert histogram.counts == (1, 0, 2, 0, 0, 0)
    # Rank 0.75 of 3 falls in the underflow bucket, closed below by the range's min 0.5.
    assert histogram.percentile(25) == pytest.approx(0.5 + 0.5 * 0.75)
    assert histogram.percentile(100) == pytest.approx(4.0)


def test_explicit_buckets_merge_and_empty() -> None:
    options = Options(explicit_buckets=Options.Explicit(bounds=[10, 100, 1000]))
    a = Histogram.from_distribution(
        Distribution(count=2, bucket_options=options, bucket_counts=[0, 2])
    )
    b = Histogram.from_distribution(
        Distribution(count=2, bucket_options=options, bucket_counts=[0, 0, 2])
    )
    assert a is not None
    assert b is not None
    merged = a.merged(b)
    assert merged.counts == (0, 2, 2, 0)
    assert merged.percentile(50) == 100.0
    assert merged.percentile(95) == pytest.approx(100 + 900 * 0.9)
    assert Histogram(bounds=(1.0,), counts=(0, 0)).percentile(50) is None
    assert Histogram.from_distribution(Distribution(count=3, mean=5)) is None
    other = Histogram(bounds=(1.0, 2.0), counts=(0, 1, 0))
    with pytest.raises(ValueError, match="different bucket options"):
        a.merged(other)
    with pytest.raises(ValueError, match="bounds must increase"):
        Histogram(bounds=(2.0, 1.0), counts=(0, 0, 0))
    with pytest.raises(ValueError, match="3 bucket counts for 2 buckets"):
        Histogram.from_distribution(
            Distribution(
                bucket_options=Options(explicit_buckets=Options.Explicit(bounds=[1])),
                bucket_counts=[1, 1, 1],
            )
        )


# ------------------------------------------------------------------ judging a window


def stats(
    revision: str, requests: int, errors: int = 0, latency_ms: float | None = 10
) -> RevisionStats:
    """``requests`` all at ``latency_ms`` (one explicit bucket around it)."""
    histogram = None
    if latency_ms is not None:
        histogram = Histogram(
            bounds=(latency_ms * 0.99, latency_ms * 1.01), counts=(0, requests, 0)
        )
    return RevisionStats(revision=revision, requests=requests, errors=errors, latency=histogram)


def test_too_few_candidate_requests_is_inconclusive() -> None:
    verdict = judge(stats("new", 99, errors=99), stats("old", 1000), LIMITS)
    assert verdict.phase == "inconclusive"
    assert verdict.reasons == ("99 candidate requests, fewer than 100",)


def test_absolute_limits() -> None:
    verdict = judge(stats("new", 1000, errors=30, latency_ms=1600), None, LIMITS)
    assert verdict.phase == "failed"
    assert verdict.reasons[0] == "5xx ratio 3.0% over the limit 1.0%"
    assert any(
        r.startswith("p95 latency 16") and "over the limit 1500 ms" in r for r in verdict.reasons
    )
    assert not verdict.compared


def test_worse_than_stable_by_more_than_the_tolerance_fails() -> None:
    slower = judge(stats("new", 500, latency_ms=300), stats("old", 500, latency_ms=20), LIMITS)
    assert slower.phase == "failed"
    assert slower.compared
    assert any(r.startswith("p95 latency 30") and "vs stable 20 ms" in r for r in slower.reasons)
    errors = judge(stats("new", 1000, errors=9), stats("old", 1000, errors=0), LIMITS)
    assert errors.phase == "failed"  # 0.9 %: under the 1 % limit, but stable had none
    assert errors.reasons == (
        "5xx ratio 0.9% vs stable 0.0% (worse than stable by more than 50% + 0.5%)",
    )


def test_as_slow_as_a_slow_stable_revision_passes_and_noise_is_tolerated() -> None:
    assert (
        judge(stats("new", 500, latency_ms=400), stats("old", 500, latency_ms=390), LIMITS).phase
        == "successful"
    )
    # 2 ms against 1 ms is 100 % worse, but under the 50 ms noise floor.
    assert (
        judge(stats("new", 500, latency_ms=2), stats("old", 500, latency_ms=1), LIMITS).phase
        == "successful"
    )
    assert judge(stats("new", 1000, errors=4), stats("old", 1000), LIMITS).phase == "successful"


def test_a_stable_revision_with_too_few_requests_is_not_compared() -> None:
    verdict = judge(stats("new", 500, latency_ms=300), stats("old", 5, latency_ms=20), LIMITS)
    assert verdict.phase == "successful"
    assert not verdict.compared


# ------------------------------------------------------------------ the step's gate and bake

CHECK = HealthCheck(service="ml-service", path="/health")
OPENED = 1000.0


def probes(ok: bool = True) -> RoundResult:
    result = ProbeResult(
        check=CHECK,
        url="u",
        ok=ok,
        status=200 if ok else 500,
        revision="new",
        latency=0.01,
        detail="ok" if ok else "answered 500, expected 200",
    )
    return RoundResult(at=0.0, results=(result,))


def window_read(start: float, candidate: int, *, errors: int = 0) -> MetricsMeasurement:
    cand, base = stats("new", candidate, errors=errors), stats("old", 3 * candidate)
    return MetricsMeasurement(
        at=0.0,
        start=start,
        end=start + 60,
        candidate=cand,
        baseline=base,
        judgement=judge(cand, base, LIMITS),
    )


def gated(**changes: object) -> Window:
    window = Window(policy=PROD.rollout, gate=LIMITS, opened=OPENED)
    return dataclasses.replace(window, **changes)  # type: ignore[arg-type]


def rounds(*metrics: MetricsMeasurement) -> list[Measurement]:
    return [Round((probes(), m)) for m in metrics]


def test_a_step_waits_for_a_window_of_its_own_traffic() -> None:
    # Three healthy probe rounds, but the windows read so far began before the step.
    early = rounds(*(window_read(OPENED - 100, 500) for _ in range(3)))
    assert assess(early, gated(), now=OPENED + 100).phase == "pending"
    own = [*early, *rounds(window_read(OPENED + 1, 500))]
    verdict = assess(own, gated(), now=OPENED + 245)
    assert (verdict.phase, verdict.decided_by) == ("passed", "metrics")
    evidence = verdict.metric_evidence()
    assert evidence is not None
    assert evidence.candidate.requests == 500


def test_a_window_that_begins_as_the_step_opens_is_the_steps_own() -> None:
    # The first window of the step's own traffic starts at the very moment the step opened.
    at_opening = rounds(*(window_read(OPENED, 500) for _ in range(3)))
    verdict = assess(at_opening, gated(), now=OPENED + 100)
    assert (verdict.phase, verdict.decided_by) == ("passed", "metrics")
    a_moment_before = rounds(*(window_read(OPENED - 0.001, 500) for _ in range(3)))
    assert assess(a_moment_before, gated(), now=OPENED + 100).phase == "pending"


def test_without_enough_requests_the_step_extends_then_the_probes_decide() -> None:
    # Windows of 60 s: the first wholly in the step ends at +61, the extension reaches +120.
    thin = rounds(*(window_read(OPENED + 1 + 20 * n, 12) for n in range(3)))
    assert [m.end - OPENED for m in thin[-1].measurements[1:]] == [101]  # type: ignore[attr-defined]
    assert assess(thin, gated(), now=OPENED + 400).phase == "pending"
    verdict = assess([*thin, *rounds(window_read(OPENED + 60, 12))], gated(), now=OPENED + 400)
    assert (verdict.phase, verdict.decided_by) == ("passed", "probes (too few requests)")


def test_a_failing_metrics_window_fails_the_round_and_the_step_does_not_pass_on_it() -> None:
    good = rounds(window_read(OPENED + 1, 500), window_read(OPENED + 2, 500))
    bad = rounds(window_read(OPENED + 3, 500, errors=40))
    assert assess([*good, *bad], gated(), now=OPENED + 400).phase == "pending"
    verdict = assess([*good, *bad, *bad], gated(), now=OPENED + 400)
    assert (verdict.phase, verdict.decided_by) == ("failed", "metrics")
    assert verdict.reasons()[0] == "5xx ratio 8.0% over the limit 1.0%"
    assert verdict.metric_evidence() is not None


def test_the_bake_holds_until_its_time_has_come() -> None:
    window = Window(policy=PROD.rollout, mode="bake", hold_until=OPENED + 480)
    taken = rounds(*(window_read(OPENED, 500) for _ in range(3)))
    assert assess(taken, window, now=OPENED + 479).phase == "pending"
    assert assess(taken, window, now=OPENED + 480).decided_by == "probes"


def test_inconclusive_metrics_do_not_count_against_healthy_probes() -> None:
    taken = Round((probes(), window_read(OPENED, 3)))
    assert taken.phase == "successful"
    assert Round((window_read(OPENED, 3),)).phase == "inconclusive"
    assert Round((probes(ok=False), window_read(OPENED, 3))).phase == "failed"


def test_the_evidence_is_the_last_failed_window_else_the_last_conclusive_else_the_last_read() -> (
    None
):
    good = [window_read(OPENED + n, 500) for n in (1, 3, 5)]
    bad = [window_read(OPENED + n, 500, errors=40) for n in (2, 4, 6)]
    thin = [window_read(OPENED + n, 3) for n in (7, 8, 9)]
    mixed = rounds(*sorted([*good, *bad, *thin], key=lambda m: m.start))
    assert Verdict("failed", tuple(mixed)).metric_evidence() is bad[-1]
    assert Verdict("passed", tuple(rounds(*good, *thin))).metric_evidence() is good[-1]
    assert Verdict("pending", tuple(rounds(*thin))).metric_evidence() is thin[-1]
    assert Verdict("pending", tuple(rounds())).metric_evidence() is None


def test_a_step_failed_by_its_probes_says_so_though_metrics_were_read() -> None:
    failing = [Round((probes(ok=False), window_read(OPENED + n, 500))) for n in range(1, 4)]
    verdict = assess(failing, gated(), now=OPENED + 400)
    assert (verdict.phase, verdict.decided_by) == ("failed", "probes")


def test_before_traffic_the_first_healthy_round_passes_on_the_probes() -> None:
    taken = [Round((probes(ok=False),)), Round((probes(),))]
    verdict = assess(taken, Window(policy=PROD.rollout, mode="until_healthy"))
    assert (verdict.phase, verdict.decided_by) == ("passed", "probes")
    assert verdict.measurements == tuple(taken)
    assert verdict.failed_rounds == 1


def test_a_pending_verdict_keeps_its_rounds_as_evidence() -> None:
    taken = rounds(window_read(OPENED + 1, 500))
    assert assess(taken, gated(), now=OPENED + 10).measurements == tuple(taken)
    held = Window(policy=PROD.rollout, mode="bake", hold_until=OPENED + 480)
    full = rounds(*(window_read(OPENED, 500) for _ in range(3)))
    verdict = assess(full, held, now=OPENED + 10)
    assert (verdict.phase, verdict.measurements) == ("pending", tuple(full))


def test_a_held_step_passes_when_its_clock_is_checked_again_without_a_new_round() -> None:
    analysis = Analysis(Window(policy=PROD.rollout, mode="bake", hold_until=OPENED + 480))
    for measurement in rounds(*(window_read(OPENED, 500) for _ in range(3))):
        analysis.record(measurement, now=OPENED + 10)
    held = analysis.verdict
    analysis.wait(OPENED + 480)
    after = analysis.verdict
    assert (held.phase, after.phase, after.decided_by) == ("pending", "passed", "probes")


def test_a_round_describes_each_measurement_in_turn() -> None:
    window = window_read(OPENED, 500)
    assert Round((probes(), window)).describe() == f"{probes().describe()}; {window.describe()}"


# ------------------------------------------------------------------ the runner


class Windows:
    """A metrics provider at the seam: prepared windows, for steps with traffic only."""

    name = "windows"

    def __init__(self, measurements: list[MetricsMeasurement]) -> None:
        self._measurements = measurements

    async def is_online(self) -> bool:
        return True

    def applies(self, subject: Subject) -> bool:
        return subject.percent > 0

    async def measure(self, subject: Subject, since: float) -> Measurement:
        del subject, since
        return self._measurements.pop(0)


class Probes:
    name = "http"

    async def is_online(self) -> bool:
        return True

    def applies(self, subject: Subject) -> bool:
        return subject.percent >= 0

    async def measure(self, subject: Subject, since: float) -> Measurement:
        del subject, since
        return probes()


def run(
    percent: int, windows: list[MetricsMeasurement], clock: list[float]
) -> tuple[list[dict[str, object]], str]:
    plan = build_plan(PROD, version="1.0.0", images=pinned(PROD))
    subject = Subject(
        service=plan.services[0],
        candidate="new",
        baseline="old",
        url="u",
        audience="a",
        percent=percent,
        metrics=LIMITS,
    )
    ticks = iter(clock)

    async def sleep(seconds: float) -> None:
        del seconds

    reporter = Reporter(io.StringIO(), json_lines=True)
    runner = AnalysisRunner(
        [Probes(), Windows(windows)], reporter, sleep=sleep, clock=lambda: next(ticks)
    )
    window = Window(policy=PROD.rollout, gate=LIMITS if percent else None)
    verdict = anyio.run(runner.analyse, subject, window)
    return reporter.events, verdict.phase


def test_the_runner_reads_metrics_only_where_the_candidate_takes_traffic() -> None:
    events, phase = run(0, [], [OPENED, OPENED + 1, OPENED + 2, OPENED + 3])
    assert phase == "passed"
    assert "metrics" not in str(events)


def test_the_runner_reports_which_evidence_decided() -> None:
    clock = [OPENED, *(OPENED + 10 * n for n in range(1, 40))]
    events, phase = run(100, [window_read(OPENED + 1 + 10 * n, 12) for n in range(40)], clock)
    assert phase == "passed"
    decision = events[-1]
    assert decision["kind"] == "analysis"
    assert decision["decided_by"] == "probes (too few requests)"
    assert "decided by probes: too few requests for metric analysis after 300s" in str(
        decision["message"]
    )
    # The rounds beyond the planned three say what they wait for.
    fourth = str(events[3]["message"])
    assert "round 4 (waiting for metrics) healthy" in fourth
    assert "(12 candidate requests, fewer than 100)" in fourth
    assert decision["candidate"] == "12 req, 0.0% 5xx, p95 10 ms, p99 10 ms"


# ------------------------------------------------------------------ transactions


def test_the_ingestion_transaction_is_synthetic_and_fresh_each_time() -> None:
    check = TransactionCheck(service="api-gateway", kind="ingest-synthetic-batch", path="/x")
    first, second = transaction_for(check), transaction_for(check)
    assert first.body["batch_id"] != second.body["batch_id"]
    assert SYNTHETIC_PREFIX == SYNTHETIC_ID_PREFIX
    assert str(first.body["user_id"]).startswith(SYNTHETIC_ID_PREFIX)
    assert str(first.body["batch_id"]).startswith(SYNTHETIC_ID_PREFIX)
    assert re.match(USER_ID_PATTERN, first.body["user_id"])
    assert re.match(BATCH_ID_PATTERN, first.body["batch_id"])
    good = {"batch_id": first.body["batch_id"], "samples": 2, "message_id": "7", "duplicate": False}
    assert first.problem(check.kind, 201, good) is None
    assert first.problem(check.kind, 200, {**good, "duplicate": True}) is None
    assert first.problem(check.kind, 500, {"detail": "x"}) == "answered 500, expected 201 or 200"
    assert "no message_id" in str(first.problem(check.kind, 201, {**good, "message_id": ""}))
    assert "answered batch_id" in str(first.problem(check.kind, 201, {**good, "batch_id": "other"}))


def test_the_analysis_transaction_checks_shape_and_the_known_answer() -> None:
    check = TransactionCheck(service="ml-service", kind="analyze-fixed-payload", path="/v1/analyze")
    tx = transaction_for(check)
    summary = {
        "user_id": tx.body["user_id"],
        "method": "rules-v1",
        "sample_count": 3,
        "days": [{"date": "2026-01-05", "steps": 2000}],
        "averages": {},
        "flags": [],
    }
    assert tx.problem(check.kind, 200, summary) is None
    assert (
        tx.problem(check.kind, 200, {**summary, "flags": None}) == "the summary has no list 'flags'"
    )
    wrong = {**summary, "days": [{"date": "2026-01-05", "steps": 1999}]}
    assert "does not hold the 2000 steps" in str(tx.problem(check.kind, 200, wrong))
    assert tx.problem(check.kind, 200, ["not", "an", "object"]) == "the answer is not a JSON object"


# ------------------------------------------------------------------ records


def test_step_figures_round_trip_through_the_ledger_and_show_in_the_summary() -> None:
    step = StepRecord(
        service="api-gateway",
        percent=25,
        started_at=1.0,
        duration_seconds=4.2,
        rounds=6,
        failed_rounds=2,
        candidate=RevisionFigures(requests=412, error_ratio=0.0312, p95_ms=14, p99_ms=30),
        stable=RevisionFigures(requests=1236, error_ratio=0.0, p95_ms=12, p99_ms=25),
        decided_by="metrics",
    )
    bake = StepRecord(
        service="api-gateway",
        percent=100,
        started_at=9.0,
        duration_seconds=3,
        rounds=4,
        failed_rounds=0,
        kind="bake",
    )
    record = DeploymentRecord(
        id="r",
        kind="rollout",
        environment="staging",
        version="1.0.0",
        commit="",
        services=["api-gateway"],
        strategy="canary",
        started_at=0.0,
        ended_at=10.0,
        outcome="rolled_back",
        steps=[step, bake],
    )
    again = DeploymentRecord.from_json(record.to_json())
    assert again.steps == [step, bake]
    markdown = markdown_summary(again)
    assert (
        "| api-gateway | 25% | 6 | 2 | 4.2s | 412 req, 3.1% 5xx, p95 14 ms, p99 30 ms "
        "| 1236 req, 0.0% 5xx, p95 12 ms, p99 25 ms | metrics |"
    ) in markdown
    assert "| api-gateway | 100% (bake) | 4 | 0 | 3.0s | - | - | - |" in markdown
    # Records written before these fields existed still load.
    old = record.to_json().replace(', "candidate": null', "")
    assert DeploymentRecord.from_json(old).steps[1].candidate is None


def test_limits_reject_nonsense_percentiles() -> None:
    with pytest.raises(ValueError, match=r"lies in \(0, 100\]"):
        Histogram(bounds=(1.0,), counts=(1, 0)).percentile(0)
    assert math.isclose(stats("r", 10).error_ratio, 0.0)
    assert isinstance(LIMITS, MetricAnalysis)


def test_tails_and_windows_across_a_traffic_shift_are_not_compared() -> None:
    # 60 requests each: p50 compared, p95 and p99 not (fewer than 5 requests above them).
    limits = dataclasses.replace(LIMITS, min_requests=50)
    slower = judge(stats("new", 60, latency_ms=300), stats("old", 60, latency_ms=10), limits)
    assert [r.split(" ")[0] for r in slower.reasons] == ["p50"]
    across = judge(
        stats("new", 500, latency_ms=300),
        stats("old", 500, latency_ms=10),
        LIMITS,
        comparable=False,
    )
    assert (across.phase, across.compared) == ("successful", False)


def test_the_monitoring_endpoint_is_plain_only_on_loopback() -> None:
    credentials = AnonymousCredentials()
    with pytest.raises(ConfigError, match="plain http is only allowed on a loopback address"):
        monitoring_client(credentials, "http://monitoring.example:8080")
    local = monitoring_client(credentials, "http://127.0.0.1:9")
    assert local.api_endpoint == "127.0.0.1:9"
    assert monitoring_client(credentials, "monitoring.example:443").api_endpoint == (
        "monitoring.example:443"
    )


def _monitoring_error(exc: BaseException, project: str) -> DeployError:
    return map_client_error(
        exc,
        what="read Cloud Run's request metrics from Cloud Monitoring",
        api="Cloud Monitoring",
        project=project,
        permission="monitoring.timeSeries.list",
    )


def test_monitoring_errors_enter_the_delivery_error_tree() -> None:
    denied = _monitoring_error(gexc.PermissionDenied("Permission denied"), "clarity-loop-prod")
    assert isinstance(denied, PermissionDenied)
    assert "lacks permission monitoring.timeSeries.list on project clarity-loop-prod" in (
        denied.message
    )
    assert "roles/monitoring.viewer (on the project)" in denied.message
    down = _monitoring_error(gexc.ServiceUnavailable("down"), "p")
    assert isinstance(down, ServiceUnreachable)
    assert "Cloud Monitoring did not answer" in down.message
    assert isinstance(_monitoring_error(gexc.Unauthenticated("no"), "p"), CredentialsError)
    assert type(_monitoring_error(ValueError("odd"), "p")) is DeployError
