"""Rollouts end to end: the real library and CLI against the Cloud Run double, whose revisions
are real backend processes talking to the real emulators."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any

import pytest
from clarity_delivery import _state as st
from clarity_delivery.cli import main

from tests.delivery.stage import SERVICES, Stage
from tests.support.processes import ManagedProcess, wait_for

pytestmark = [pytest.mark.delivery, pytest.mark.timeout(240)]


def stable_of(stage: Stage, service: str) -> str:
    traffic = stage.traffic(service)
    (revision,) = [r for r, p in traffic.items() if p == 100]
    return revision


def health(stage: Stage, service: str) -> dict[str, Any]:
    response = stage.get(service, "/health")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def shares(stage: Stage, service: str, revision: str) -> list[int]:
    """The candidate's share in each routing the service URL really went through, in order."""
    return [split.get(revision, 0) for split in stage.double.routing_history(SERVICES[service])]


def test_canary_rolls_both_services_out_step_by_step(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = stage.workdir / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    base = {svc: stable_of(stage, svc) for svc in SERVICES}
    assert stage.deploy("1.1.0") == 0
    markdown = summary.read_text()
    assert markdown.startswith("### ✅ rollout 1.1.0 → dev: succeeded")
    assert "| ml-service | 25% | 3 | 0 |" in markdown
    assert "| api-gateway | 100% | 3 | 0 |" in markdown
    for svc, name in SERVICES.items():
        candidate = f"{name}-1-1-0-c0ffee1"
        assert stage.traffic(svc) == {candidate: 100}
        tags = st.tagged_revisions(stage.service(svc))
        assert tags == {"stable": candidate, "previous": base[svc]}
        assert health(stage, svc)["revision"] == candidate
        assert health(stage, svc)["version"] == "1.1.0"
        assert st.ROLLOUT_ANNOTATION not in stage.service(svc).annotations
        assert st.history_of(stage.service(svc))[-1].outcome == "succeeded"
        # The canary really passed through each step, in order.
        assert shares(stage, svc, candidate) == [0, 25, 50, 100]
    (record,) = stage.records()
    assert record["outcome"] == "succeeded"
    assert [(s["service"], s["percent"]) for s in record["steps"]] == [
        ("ml-service", 0),
        ("ml-service", 25),
        ("ml-service", 50),
        ("ml-service", 100),
        ("api-gateway", 0),
        ("api-gateway", 25),
        ("api-gateway", 50),
        ("api-gateway", 100),
    ]
    # Probes carried an ID token minted for the service's custom audience.
    assert stage.double.last_token_audience in {
        audience for s in SERVICES for audience in stage.service(s).custom_audiences
    }


def test_blue_green_switches_once_and_keeps_blue(stage: Stage) -> None:
    base = stable_of(stage, "api-gateway")
    assert (
        stage.deploy("1.1.0", extra=("--strategy", "blue-green", "--service", "api-gateway")) == 0
    )
    green = "clarity-api-gateway-1-1-0-c0ffee1"
    assert stage.traffic("api-gateway") == {green: 100}
    assert st.tagged_revisions(stage.service("api-gateway")) == {"stable": green, "blue": base}
    assert shares(stage, "api-gateway", green) == [0, 100]  # verified at 0 %, then one switch
    (record,) = stage.records()
    assert [s["percent"] for s in record["steps"]] == [0, 100]
    assert record["steps"][0]["rounds"] == 3


def test_candidate_that_crashes_at_start_aborts_with_traffic_untouched(stage: Stage) -> None:
    before = {svc: stage.traffic(svc) for svc in SERVICES}
    assert stage.deploy("1.1.0", faults={"ml-service": "crash-on-start"}) == 1
    assert {svc: stage.traffic(svc) for svc in SERVICES} == before
    ml = stage.service("ml-service")
    assert st.ROLLOUT_ANNOTATION not in ml.annotations
    assert st.history_of(ml)[-1].outcome == "aborted"
    (record,) = stage.records()
    assert record["outcome"] == "aborted"
    assert "never became Ready" in str(record["error"])
    # The gateway was never touched.
    assert shares(stage, "api-gateway", "clarity-api-gateway-1-1-0-c0ffee1") == [0]


def test_candidate_failing_health_is_rolled_back_before_it_takes_traffic(
    stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    base = stable_of(stage, "ml-service")
    assert stage.deploy("1.1.0", faults={"ml-service": "health-500"}) == 1
    assert stage.traffic("ml-service")[base] == 100
    candidate = "clarity-ml-service-1-1-0-c0ffee1"
    assert set(shares(stage, "ml-service", candidate)) == {0}
    assert st.history_of(stage.service("ml-service"))[-1].outcome == "rolled_back"
    err = capfd.readouterr().err
    assert "candidate failed verification before taking traffic" in err
    assert "answered 500, expected 200" in err


def test_candidate_failing_at_a_later_step_is_rolled_back(stage: Stage) -> None:
    base = stable_of(stage, "ml-service")
    # 1 verification round + 3 rounds at 25 % pass; /health fails from the 50 % step on.
    assert stage.deploy("1.1.0", faults={"ml-service": "health-500-after=4"}) == 1
    assert stage.traffic("ml-service")[base] == 100
    assert st.tagged_revisions(stage.service("ml-service"))["stable"] == base
    (record,) = stage.records()
    assert record["outcome"] == "rolled_back"
    steps = [(s["percent"], s["failed_rounds"]) for s in record["steps"]]
    assert steps == [(0, 0), (25, 0), (50, 2)]
    assert 0 < float(record["time_to_rollback_seconds"]) < 10
    assert shares(stage, "ml-service", "clarity-ml-service-1-1-0-c0ffee1") == [0, 25, 50, 0]


def test_a_later_service_failing_rolls_the_earlier_one_back_too(stage: Stage) -> None:
    base = {svc: stable_of(stage, svc) for svc in SERVICES}
    assert stage.deploy("1.1.0", faults={"api-gateway": "health-500-after=2"}) == 1
    assert {svc: stable_of(stage, svc) for svc in SERVICES} == base
    assert health(stage, "ml-service")["revision"] == base["ml-service"]
    (record,) = stage.records()
    assert record["outcome"] == "rolled_back"
    assert "api-gateway" in str(record["error"])
    assert st.history_of(stage.service("ml-service"))[-1].outcome == "rolled_back"


def test_manual_rollback_to_a_named_version_and_to_previous(quick_stage: Stage) -> None:
    stage = quick_stage
    base = {svc: stable_of(stage, svc) for svc in SERVICES}
    assert stage.deploy("1.1.0") == 0
    assert stage.deploy("1.2.0") == 0
    started = time.monotonic()
    assert stage.cli("rollback", "--env", "dev", "--to", "1.1.0") == 0
    elapsed = time.monotonic() - started
    for svc, name in SERVICES.items():
        assert stable_of(stage, svc) == f"{name}-1-1-0-c0ffee1"
        assert health(stage, svc)["version"] == "1.1.0"
    assert elapsed < 10
    assert stage.cli("rollback", "--env", "dev", "--to", "previous") == 0
    for svc, name in SERVICES.items():
        assert stable_of(stage, svc) == f"{name}-1-2-0-c0ffee1"
    assert stage.cli("rollback", "--env", "dev", "--to", "0.9.0") == 0
    assert {svc: stable_of(stage, svc) for svc in SERVICES} == base
    kinds = [(r["kind"], r["version"], r["outcome"]) for r in stage.records()]
    assert kinds[-3:] == [
        ("rollback", "1.1.0", "succeeded"),
        ("rollback", "previous", "succeeded"),
        ("rollback", "0.9.0", "succeeded"),
    ]


def test_rollback_to_an_unknown_version_changes_nothing(
    stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    before = {svc: stage.traffic(svc) for svc in SERVICES}
    assert stage.cli("rollback", "--env", "dev", "--to", "7.7.7") == 2
    assert (
        "no Ready revision of clarity-api-gateway carries version 7.7.7" in capfd.readouterr().err
    )
    assert {svc: stage.traffic(svc) for svc in SERVICES} == before
    assert not any(r.rpc == "UpdateService" for r in stage.double.api_log)


def test_permission_denied_names_the_role_and_changes_nothing(
    stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    before = stage.service("ml-service")
    stage.double.deny("run.services.update")
    assert stage.deploy("1.1.0") == 4
    err = capfd.readouterr().err
    assert "lacks permission run.services.update" in err
    assert "roles/run.developer" in err
    after = stage.service("ml-service")
    assert after.etag == before.etag
    assert after.template.revision == before.template.revision
    assert stage.records() == []


def test_transient_api_errors_are_retried(stage: Stage) -> None:
    stage.double.fail_next("UpdateService", status=503, times=2)
    stage.double.fail_next("GetService", status=429, times=1)
    assert stage.deploy("1.1.0", extra=("--service", "ml-service")) == 0
    assert stable_of(stage, "ml-service") == "clarity-ml-service-1-1-0-c0ffee1"


def test_unreachable_api_is_a_clear_error(stage: Stage, capfd: pytest.CaptureFixture[str]) -> None:
    code = main_with_endpoint(stage, "http://127.0.0.1:9")
    assert code == 6
    assert "did not answer after 5 attempts" in capfd.readouterr().err


def main_with_endpoint(stage: Stage, endpoint: str) -> int:
    args = stage.base_args()
    args[args.index("--api-endpoint") + 1] = endpoint
    return main(["status", "--env", "dev", *args])


def test_two_deploys_at_once_end_in_one_clean_conflict(stage: Stage) -> None:
    procs = []
    for version in ("1.1.0", "1.2.0"):
        images = [f"--image={s}={stage.image(s, version)}" for s in SERVICES]
        argv = stage.subprocess_argv("deploy", *stage.deploy_args(version, images))
        procs.append(
            subprocess.Popen(
                argv,
                env=stage.subprocess_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = [(p.wait(timeout=180), p.communicate()[1]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 3], results
    loser_err = next(err for code, err in results if code == 3)
    # Which guard stops the loser depends on the interleaving: the winner's lease ("another
    # rollout") or, when both read the service before either wrote, the winner's write to it.
    assert "another rollout" in loser_err or "someone else changed" in loser_err, loser_err
    winner = "1.1.0" if results[0][0] == 0 else "1.2.0"
    for svc in SERVICES:
        assert health(stage, svc)["version"] == winner
        assert st.ROLLOUT_ANNOTATION not in stage.service(svc).annotations


def test_a_deployer_killed_mid_rollout_is_resolved_by_the_next_run(stage: Stage) -> None:
    write_slow = stage.settings_dir / "dev" / "settings.json"
    data = json.loads(write_slow.read_text())
    data["rollout"]["analysis_interval_seconds"] = 2
    write_slow.write_text(json.dumps(data))
    base = stable_of(stage, "ml-service")
    images = [f"--image={s}={stage.image(s, '1.1.0')}" for s in SERVICES]
    deployer = ManagedProcess(
        stage.subprocess_argv("deploy", *stage.deploy_args("1.1.0", images)),
        env=stage.subprocess_env(),
        log_path=stage.workdir / "deployer.log",
    ).start()
    try:
        wait_for(
            lambda: stage.traffic("ml-service").get("clarity-ml-service-1-1-0-c0ffee1") == 25,
            timeout=90,
            what="the canary to reach 25 %",
        )
    finally:
        os.killpg(deployer.pid, signal.SIGKILL)  # no cleanup code of the deployer runs
        deployer.stop()
    split = stage.traffic("ml-service")
    assert split[base] == 75
    assert st.ROLLOUT_ANNOTATION in stage.service("ml-service").annotations
    # status notices the dead owner and returns the traffic to stable.
    assert stage.cli("status", "--env", "dev") == 0
    assert stage.traffic("ml-service")[base] == 100
    assert st.ROLLOUT_ANNOTATION not in stage.service("ml-service").annotations
    assert st.history_of(stage.service("ml-service"))[-1].outcome == "interrupted"
    data["rollout"]["analysis_interval_seconds"] = 0.2
    write_slow.write_text(json.dumps(data))
    assert stage.deploy("1.1.0") == 0  # the retried release gets a fresh revision name
    assert stable_of(stage, "ml-service") == "clarity-ml-service-1-1-0-c0ffee1-r2"


def test_a_failed_canary_keeps_the_previous_revision_tagged_for_rollback(
    quick_stage: Stage,
) -> None:
    stage = quick_stage
    base = {svc: stable_of(stage, svc) for svc in SERVICES}
    assert stage.deploy("1.1.0") == 0
    assert stage.deploy("1.2.0", faults={"ml-service": "health-500-after=4"}) == 1
    ml = stage.service("ml-service")
    assert st.tagged_revisions(ml) == {
        "stable": "clarity-ml-service-1-1-0-c0ffee1",
        "previous": base["ml-service"],
    }
    assert stage.cli("rollback", "--env", "dev", "--to", "previous") == 0
    assert {svc: stable_of(stage, svc) for svc in SERVICES} == base


def test_records_kept_on_the_services_feed_the_report(
    quick_stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    stage = quick_stage
    assert stage.deploy("1.1.0") == 0
    assert stage.deploy("1.2.0", faults={"api-gateway": "health-500"}) == 1
    assert stage.cli("rollback", "--env", "dev", "--to", "0.9.0") == 0
    stage.ledger.unlink()  # what a CI container leaves behind: nothing
    capsys.readouterr()
    assert stage.cli("report", "--env", "dev", "--json") == 0
    (dev,) = json.loads(capsys.readouterr().out)
    assert dev["environment"] == "dev"
    assert (dev["rollouts"], dev["succeeded"], dev["rollbacks"]) == (2, 1, 1)
    assert dev["success_rate"] == 0.5
    assert dev["mttr_seconds"] > 0
    records = st.ledger_of(stage.service("ml-service"))
    assert [(r.kind, r.version, r.outcome) for r in records] == [
        ("rollout", "1.1.0", "succeeded"),
        ("rollout", "1.2.0", "rolled_back"),
        ("rollback", "0.9.0", "succeeded"),
    ]
