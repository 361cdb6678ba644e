"""The pure parts of a rollout: strategies' steps, verdicts over measurements, rollback targets."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import anyio
import pytest
from clarity_delivery import ConfigError, VersionNotFound, build_plan, load_settings
from clarity_delivery import _state as st
from clarity_delivery._cloudrun import ServicePath
from clarity_delivery._context import RolloutContext
from clarity_delivery.analysis import (
    Analysis,
    AnalysisRunner,
    Measurement,
    ProbeResult,
    Round,
    RoundResult,
    Subject,
    Unmeasured,
    Verdict,
    Window,
    assess,
)
from clarity_delivery.ledger import DeploymentRecord
from clarity_delivery.plan import TrafficSplit, TrafficTarget
from clarity_delivery.progress import Reporter
from clarity_delivery.rollback import find_target, held_revisions
from clarity_delivery.settings import HealthCheck, RolloutPolicy
from clarity_delivery.strategies import (
    PRE_TRAFFIC_FAILURE,
    STRATEGIES,
    BlueGreen,
    Canary,
    strategy_for,
)
from google.cloud import run_v2

pytestmark = pytest.mark.unit

SETTINGS = Path(__file__).resolve().parents[3] / "terraform" / "environments"
CHECK = HealthCheck(service="ml-service", path="/health")


def _ctx(strategy: str = "canary", held: dict[str, str] | None = None) -> RolloutContext:
    settings = load_settings("staging", SETTINGS)
    plan = build_plan(
        settings,
        version="1.4.0",
        commit="abcdef1",
        strategy=strategy,  # type: ignore[arg-type]
        images={k: f"{settings.image_repository(k)}@sha256:{'ab' * 32}" for k in settings.services},
    )
    svc = plan.services[0]
    return RolloutContext(
        plan=plan,
        svc=svc,
        path=ServicePath("p", "us-central1", svc.name),
        stable="old",
        candidate="new",
        held=held or {},
        record=DeploymentRecord(
            id="r",
            kind="rollout",
            environment="staging",
            version="1.4.0",
            commit="abcdef1",
            services=[svc.key],
            strategy=strategy,
            started_at=0.0,
        ),
    )


# ------------------------------------------------------------------ strategies


def test_canary_verifies_at_zero_then_walks_the_policy_steps_keeping_held_revisions() -> None:
    ctx = _ctx(held={"previous": "older"})
    steps = list(Canary().steps(ctx))
    assert [(s.percent, s.analysis) for s in steps] == [
        (0, "until_healthy"),
        (0, "performance"),  # staging's performance gate, before any traffic
        (10, "full"),
        (50, "full"),
        (100, "full"),
        (100, "bake"),
    ]
    assert steps[0].split is None
    assert steps[0].failure == PRE_TRAFFIC_FAILURE
    gate = steps.pop(1)
    assert gate.split is None
    assert gate.failure == "candidate failed the performance gate before taking traffic"
    assert gate.announce == (
        "ml-service: load test of new against old, 60s at 20 requests a second, alternately"
    )
    assert steps[1].split == TrafficSplit(
        (
            TrafficTarget("old", 90, "stable"),
            TrafficTarget("new", 10, "candidate"),
            TrafficTarget("older", 0, "previous"),
        )
    )
    assert steps[2].announce == (
        "ml-service: step 2/3: old=50% (stable), new=50% (candidate), older=0% (previous)"
    )
    assert steps[2].failure == "health analysis failed at 50%"
    # The bake leaves traffic where the last step put it, the old revision still tagged.
    assert steps[4].split is None
    assert steps[4].failure == "analysis failed while baking at 100%"
    assert steps[4].announce == (
        "ml-service: baking new at 100% for 120s of traffic; old kept tagged 'stable'"
    )


def test_blue_green_analyses_green_fully_then_switches_once() -> None:
    ctx = _ctx("blue-green", held={"blue": "older", "previous": "oldest"})
    pre, gate, switch, bake = BlueGreen().steps(ctx)
    assert (pre.split, pre.percent, pre.analysis) == (None, 0, "full")
    assert (gate.split, gate.percent, gate.analysis) == (None, 0, "performance")
    assert (bake.split, bake.percent, bake.analysis) == (None, 100, "bake")
    assert "old kept tagged 'blue'" in bake.announce
    assert switch.split == TrafficSplit(
        (
            TrafficTarget("new", 100, "green"),
            TrafficTarget("old", 0, "blue"),  # the stable revision replaces the older blue
            TrafficTarget("oldest", 0, "previous"),
        )
    )
    assert switch.failure == "health analysis failed after the switch"
    assert "switched 100% to green new; blue old kept at 0%" in switch.announce


@pytest.mark.parametrize(("name", "tag"), [("canary", "previous"), ("blue-green", "blue")])
def test_promotion_makes_the_candidate_stable_and_tags_the_old_one(name: str, tag: str) -> None:
    strategy = strategy_for(name)
    assert strategy.promoted(_ctx(name, held={"previous": "older"})) == TrafficSplit(
        (TrafficTarget("new", 100, "stable"), TrafficTarget("old", 0, tag))
    )
    assert strategy.previous_tag == tag


def test_every_settings_strategy_has_a_module_and_an_unknown_one_is_refused() -> None:
    assert set(STRATEGIES) == {"canary", "blue-green"}
    with pytest.raises(ConfigError, match="unknown rollout strategy 'ab'"):
        strategy_for("ab")


# ------------------------------------------------------------------ verdicts


def _policy(probes: int = 3, threshold: int = 2) -> RolloutPolicy:
    return RolloutPolicy(
        strategy="canary",
        steps=(100,),
        analysis_interval_seconds=0,
        probes_per_step=probes,
        failure_threshold=threshold,
        ready_timeout_seconds=10,
        require_approval=False,
    )


def _ok(at: float = 0.0) -> RoundResult:
    return _result(ok=True, at=at)


def _bad(at: float = 0.0) -> RoundResult:
    return _result(ok=False, at=at)


def _result(*, ok: bool, at: float) -> RoundResult:
    probe = ProbeResult(
        check=CHECK,
        url="u",
        ok=ok,
        status=200 if ok else 500,
        revision="new",
        latency=0.002,
        detail="ok" if ok else "answered 500, expected 200",
    )
    return RoundResult(at=at, results=(probe,))


def _gone(at: float = 0.0) -> Unmeasured:
    return Unmeasured(provider="cloud-monitoring", at=at, reason="backend did not answer")


def test_a_full_window_passes_after_its_rounds_and_fails_at_the_threshold() -> None:
    window = Window(policy=_policy(probes=3, threshold=2))
    assert assess([_ok(), _bad()], window).phase == "pending"
    assert assess([_ok(), _bad(), _ok()], window).phase == "passed"
    failed = assess([_bad(1.0), _ok(), _bad(3.0)], window)
    assert failed.phase == "failed"
    assert (failed.failed_rounds, failed.first_failure_at) == (2, 1.0)
    assert failed.reasons() == ["GET /health failed: answered 500, expected 200"]


def test_could_not_measure_is_an_error_not_a_failure_and_does_not_fill_the_window() -> None:
    window = Window(policy=_policy(probes=3, threshold=2))
    # An unmeasured round is measured again: three healthy rounds are still needed.
    assert assess([_ok(), _gone(), _ok()], window).phase == "pending"
    assert assess([_ok(), _gone(), _ok(), _ok()], window).phase == "passed"
    verdict = assess([_gone(1.0), _ok(), _gone(2.0)], window)
    assert verdict.phase == "error"
    assert not verdict.passed
    assert (verdict.failed_rounds, verdict.unmeasured_rounds) == (0, 2)
    assert verdict.reasons() == ["cloud-monitoring could not measure: backend did not answer"]
    assert verdict.first_failure_at == 1.0


def test_before_traffic_the_first_healthy_round_passes_and_only_a_window_of_failures_fails() -> (
    None
):
    window = Window(policy=_policy(probes=3, threshold=1), mode="until_healthy")
    assert window.failure_threshold == 3
    assert assess([_bad(), _ok()], window).phase == "passed"
    assert assess([_bad(), _bad()], window).phase == "pending"
    assert assess([_bad(), _bad(), _bad()], window).phase == "failed"


def test_analysis_accumulates_until_decided_and_then_ignores_rounds() -> None:
    analysis = Analysis(Window(policy=_policy(probes=2, threshold=1), mode="until_healthy"))
    analysis.record(_bad())
    assert not analysis.done
    analysis.record(_ok())
    analysis.record(_bad())
    assert analysis.verdict.passed
    assert len(analysis.rounds) == 2


def test_a_round_of_several_providers_takes_the_worst_phase() -> None:
    assert Round((_ok(), _ok())).phase == "successful"
    assert Round((_ok(1.0), _gone(0.5))).phase == "error"
    mixed = Round((_gone(), _bad(), _ok()))
    assert mixed.phase == "failed"
    assert mixed.failures() == [
        "cloud-monitoring could not measure: backend did not answer",
        "GET /health failed: answered 500, expected 200",
    ]
    assert Round((_ok(2.0), _ok(1.0))).at == 1.0
    assert "GET /health → 200 in 2 ms (revision new)" in Round((_ok(),)).describe()


# ------------------------------------------------------------------ rollback targets


def _revision(name: str, version: str, *, ready: bool = True) -> run_v2.Revision:
    state = (
        run_v2.Condition.State.CONDITION_SUCCEEDED
        if ready
        else run_v2.Condition.State.CONDITION_FAILED
    )
    return run_v2.Revision(
        name=f"projects/p/locations/r/services/s/revisions/{name}",
        annotations={st.VERSION_ANNOTATION: version},
        conditions=[run_v2.Condition(type_="Ready", state=state)],
    )


def _service(stable: str, history: list[tuple[str, str, str]], **tags: str) -> run_v2.Service:
    service = run_v2.Service(name="projects/p/locations/r/services/s")
    st.apply_split(service, TrafficSplit.single(stable, keep=tags))
    for version, revision, outcome in history:
        entry = st.HistoryEntry(version=version, revision=revision, outcome=outcome, at=0.0)
        service.annotations[st.HISTORY_ANNOTATION] = st.with_history(service, entry)
    return service


REVISIONS = [
    _revision("s-1-2-0", "1.2.0"),
    _revision("s-1-1-0-r2", "1.1.0"),
    _revision("s-1-1-0", "1.1.0"),
    _revision("s-1-0-0", "1.0.0", ready=False),
]


def test_previous_is_the_last_good_revision_in_the_history() -> None:
    service = _service(
        "s-1-2-0",
        [("1.1.0", "s-1-1-0", "succeeded"), ("1.2.0", "s-1-2-0", "succeeded")],
    )
    found = find_target(service, REVISIONS, key="k", name="s", to="previous", current="s-1-2-0")
    assert found == ("s-1-1-0", "1.1.0")


def test_previous_falls_back_to_the_tagged_revision() -> None:
    service = _service("s-1-2-0", [], blue="s-1-1-0")
    found = find_target(service, REVISIONS, key="k", name="s", to="previous", current="s-1-2-0")
    assert found == ("s-1-1-0", "1.1.0")
    with pytest.raises(VersionNotFound, match="no previous healthy revision"):
        find_target(
            _service("s-1-2-0", []), REVISIONS, key="k", name="s", to="previous", current="s-1-2-0"
        )


def test_a_version_skips_revisions_recorded_as_failed_and_names_the_known_ones() -> None:
    service = _service("s-1-2-0", [("1.1.0", "s-1-1-0-r2", "rolled_back")])
    found = find_target(service, REVISIONS, key="k", name="s", to="1.1.0", current="s-1-2-0")
    assert found == ("s-1-1-0", "1.1.0")
    with pytest.raises(VersionNotFound, match=r"versions available: 1\.1\.0, 1\.2\.0\)"):
        find_target(service, REVISIONS, key="k", name="s", to="1.0.0", current="s-1-2-0")


def test_previous_is_never_a_revision_released_then_restored_when_its_release_failed() -> None:
    """1.2.0 released this service, then failed in a later one: this service was restored to
    1.1.0 and 1.2.0's revision recorded as rolled back after its success. Going back from
    1.1.0 means 1.0.0, not the newer half-release (nor its tag)."""
    revisions = [_revision("s-1-2-0", "1.2.0"), *REVISIONS[1:3], _revision("s-1-0-0", "1.0.0")]
    service = _service(
        "s-1-1-0",
        [
            ("1.0.0", "s-1-0-0", "succeeded"),
            ("1.1.0", "s-1-1-0", "succeeded"),
            ("1.2.0", "s-1-2-0", "succeeded"),
            ("1.2.0", "s-1-2-0", "rolled_back"),
        ],
        previous="s-1-2-0",
    )
    found = find_target(service, revisions, key="k", name="s", to="previous", current="s-1-1-0")
    assert found == ("s-1-0-0", "1.0.0")
    tagged_only = _service("s-1-1-0", [("1.2.0", "s-1-2-0", "rolled_back")], blue="s-1-2-0")
    with pytest.raises(VersionNotFound, match="no previous healthy revision"):
        find_target(tagged_only, revisions, key="k", name="s", to="previous", current="s-1-1-0")


def test_a_version_whose_every_revision_failed_says_so() -> None:
    service = _service(
        "s-1-2-0", [("1.1.0", "s-1-1-0-r2", "rolled_back"), ("1.1.0", "s-1-1-0", "aborted")]
    )
    with pytest.raises(VersionNotFound) as refused:
        find_target(service, REVISIONS, key="k", name="s", to="1.1.0", current="s-1-2-0")
    assert str(refused.value) == (
        "k: every Ready revision of s that carries version 1.1.0 is recorded as failed "
        "(versions available: 1.2.0). Nothing was changed."
    )
    with pytest.raises(VersionNotFound, match=r"no Ready revision of s carries version 1\.0\.0"):
        find_target(service, REVISIONS, key="k", name="s", to="1.0.0", current="s-1-2-0")


def test_held_revisions_are_the_tagged_ones_other_than_stable() -> None:
    service = _service("s-1-2-0", [], previous="s-1-1-0", blue="s-1-2-0", other="s-1-0-0")
    assert held_revisions(service, "s-1-2-0") == {"previous": "s-1-1-0"}


def test_the_context_pins_traffic_to_stable_with_the_held_revisions_tagged() -> None:
    ctx = dataclasses.replace(_ctx(), held={"previous": "older"})
    assert ctx.pinned() == TrafficSplit(
        (TrafficTarget("old", 100, "stable"), TrafficTarget("older", 0, "previous"))
    )
    assert ctx.held_targets(without="previous") == ()


# ------------------------------------------------------------------ the runner


class Scripted:
    """A provider at the seam: hands out prepared measurements, or is offline."""

    name = "scripted"

    def __init__(self, measurements: list[Measurement], *, online: bool = True) -> None:
        self._measurements = measurements
        self._online = online
        self.seen: list[tuple[str, str, float]] = []

    async def is_online(self) -> bool:
        return self._online

    def applies(self, subject: Subject) -> bool:
        return subject.percent >= 0

    async def measure(self, subject: Subject, since: float) -> Measurement:
        self.seen.append((subject.candidate, subject.baseline, since))
        return self._measurements.pop(0)


def _subject() -> Subject:
    ctx = _ctx()
    return Subject(
        service=ctx.svc,
        candidate="new",
        baseline="old",
        url="https://new---svc",
        audience="https://svc",
        percent=25,
    )


def _run(
    providers: list[Scripted], window: Window
) -> tuple[Verdict, list[float], list[dict[str, object]]]:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    reporter = Reporter(io.StringIO(), json_lines=True)
    runner = AnalysisRunner(providers, reporter, sleep=sleep)
    verdict = anyio.run(runner.analyse, _subject(), window)
    return verdict, sleeps, reporter.events


def test_the_runner_measures_at_the_interval_until_the_verdict_and_reports_each_round() -> None:
    provider = Scripted([_ok(), _bad(), _bad(), _ok()])
    policy = dataclasses.replace(_policy(probes=3, threshold=2), analysis_interval_seconds=7)
    verdict, sleeps, events = _run([provider], Window(policy=policy))
    assert verdict.phase == "failed"
    assert len(verdict.measurements) == 3
    assert sleeps == [7, 7]
    assert [(c, b) for c, b, _ in provider.seen] == [("new", "old")] * 3
    assert len({since for _, _, since in provider.seen}) == 1  # one window per step
    assert [e["kind"] for e in events] == ["probe", "probe-failed", "probe-failed", "analysis"]
    assert events[-1]["message"] == "ml-service @25%: failed, decided by probes"
    assert events[1]["message"] == (
        "ml-service @25%: round 2/3 failed: GET /health failed: answered 500, expected 200"
    )


def test_an_offline_provider_makes_rounds_unmeasured_and_the_verdict_an_error() -> None:
    online = Scripted([_ok(), _ok()])
    offline = Scripted([], online=False)
    verdict, _, events = _run([online, offline], Window(policy=_policy(probes=3, threshold=2)))
    assert verdict.phase == "error"
    assert verdict.reasons() == ["scripted could not measure: offline"]
    assert {e["kind"] for e in events} == {"unmeasured", "analysis"}


def test_a_runner_needs_a_provider() -> None:
    with pytest.raises(ValueError, match="at least one provider"):
        AnalysisRunner([], Reporter(io.StringIO(), json_lines=True))
