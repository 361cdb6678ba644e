"""Single faults during a rollout, each reproduced against the double with realistic operation
latency: every one ends with production on the previous stable revision or the release
completed, the rollout state cleared, a record, and a last line that says which."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from clarity_delivery import _state as st
from clarity_delivery._cloudrun import CloudRunApi, ServicePath
from clarity_delivery._errors import ConcurrentRollout, RevisionNameTaken
from clarity_delivery.traffic import TrafficChange
from google.cloud import run_v2
from google.oauth2 import service_account

from tests.delivery.stage import DEPLOYER, PROJECT, REGION, SERVICES, Stage, events, open_stage
from tests.doubles.cloud_run import Call
from tests.doubles.oauth import TokenEndpoint
from tests.support.emulators import Emulators
from tests.support.processes import ManagedProcess, wait_for

pytestmark = [pytest.mark.delivery, pytest.mark.timeout(240)]

ML = SERVICES["ml-service"]
CANDIDATE = f"{ML}-1-1-0-c0ffee1"
TO_25 = Call("UpdateService", body=r'"percent": 25\b')


def stable_of(stage: Stage, service: str) -> str:
    (revision,) = [r for r, p in stage.traffic(service).items() if p == 100]
    return revision


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def assert_restored(stage: Stage, service: str, base: str) -> None:
    """All traffic on ``base``, no rollout state, no candidate tag."""
    assert stage.traffic(service) == {base: 100}
    live = stage.service(service)
    assert st.ROLLOUT_ANNOTATION not in live.annotations
    assert set(st.tagged_revisions(live)) <= {"stable", "previous", "blue"}
    assert st.tagged_revisions(live)["stable"] == base


@pytest.fixture
def slow_stage(
    tmp_path: Path, token_endpoint: TokenEndpoint, emulators: Emulators
) -> Iterator[Stage]:
    """Operations of 1.5 s, the timing under which a single 429 turned into a false conflict."""
    with open_stage(
        tmp_path, token_endpoint, emulators, operation_delay=1.5, analysis_interval_seconds=1
    ) as world:
        yield world


def test_one_429_while_a_traffic_operation_runs_is_retried_not_a_conflict(
    slow_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    stage = slow_stage
    stage.double.fail_next(r"/operations/", status=429, after=TO_25)
    assert stage.deploy("1.1.0", extra=("--service", "ml-service")) == 0, capfd.readouterr().err
    assert stable_of(stage, "ml-service") == CANDIDATE
    assert st.ROLLOUT_ANNOTATION not in stage.service("ml-service").annotations
    assert any(r.status == 429 for r in stage.double.api_log)


def test_retries_running_out_at_25_percent_restore_the_stable_revision(
    stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    base = stable_of(stage, "ml-service")
    stage.double.fail_next(TO_25, status=503, times=5)
    assert stage.deploy("1.1.0") == 6
    assert_restored(stage, "ml-service", base)
    (record,) = stage.records()
    assert record["outcome"] == "failed"
    line = last_line(capfd.readouterr().err)
    assert "did not answer" in line
    assert f"{base} serves 100%" in line
    assert "clarity-deploy status" in line


def test_a_credentials_failure_mid_rollout_restores_and_is_recorded(
    stage: Stage, token_endpoint: TokenEndpoint, capfd: pytest.CaptureFixture[str]
) -> None:
    """The deployer loses its token creator grant on itself once its lease is written: the
    candidate's first probe cannot get an ID token (403 from IAM Credentials), the access
    tokens it already has still work, so the rollout restores, records and exits 4."""
    base = stable_of(stage, "ml-service")
    deployer = stage.terraform.account(DEPLOYER)
    policy = token_endpoint.policy
    assert policy is not None
    (creator,) = [
        g
        for g in policy.grants
        if g.role == "roles/iam.serviceAccountOpenIdTokenCreator" and deployer in g.member
    ]

    def revoke_once_the_lease_is_written() -> None:
        wait_for(
            lambda: st.ROLLOUT_ANNOTATION in stage.service("ml-service").annotations,
            timeout=60,
            what="the rollout to write its lease",
        )
        token_endpoint.policy = policy.without(creator)

    watcher = threading.Thread(target=revoke_once_the_lease_is_written)
    watcher.start()
    code = stage.deploy("1.1.0", extra=("--service", "ml-service"))
    watcher.join(timeout=60)
    assert code == 4
    assert_restored(stage, "ml-service", base)
    (record,) = stage.records()
    assert record["outcome"] == "failed"
    assert "ID token" in str(record["error"])
    assert f"{base} serves 100%" in last_line(capfd.readouterr().err)


def test_a_deployer_dead_on_another_runner_holds_traffic_only_for_its_lease(
    tmp_path: Path,
    token_endpoint: TokenEndpoint,
    emulators: Emulators,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lease = 5.0
    with open_stage(
        tmp_path,
        token_endpoint,
        emulators,
        lease_seconds=lease,
        analysis_interval_seconds=1,
        steps=[25, 100],
    ) as stage:
        base = stable_of(stage, "ml-service")
        images = [f"--image={s}={stage.image(s, '1.1.0')}" for s in SERVICES]
        argv = stage.subprocess_argv("deploy", *stage.deploy_args("1.1.0", images))
        deployer = ManagedProcess(
            argv,
            env={**stage.subprocess_env(), "CLARITY_DEPLOYER_HOST": "runner-a"},
            log_path=tmp_path / "deployer.log",
        ).start()
        try:
            wait_for(
                lambda: stage.traffic("ml-service").get(CANDIDATE) == 25,
                timeout=120,
                what="the canary to reach 25 %",
            )
        finally:
            os.killpg(deployer.pid, signal.SIGKILL)  # no cleanup code of the deployer runs
            deployer.stop()
        killed_at = time.time()
        state = st.RolloutState.from_service(stage.service("ml-service"))
        assert state is not None
        assert state.owner.startswith("runner-a:")
        assert state.lease_seconds <= lease

        monkeypatch.setenv("CLARITY_DEPLOYER_HOST", "runner-b")
        capsys.readouterr()
        assert stage.cli("status", "--env", "dev") == 0
        out = capsys.readouterr().out
        assert "by runner-a:" in out
        assert "lease: expires in" in out
        assert "next deploy: refused (exit 3) until the lease expires" in out
        assert "next rollback: takes it over at once" in out
        assert stage.traffic("ml-service")[CANDIDATE] == 25  # a live lease is left alone

        time.sleep(max(0.0, state.heartbeat + state.lease_seconds - time.time()) + 0.5)
        assert time.time() - killed_at < lease + 5
        # The rerun (of ml-service, which the dead one was releasing) resolves it, then releases.
        assert stage.deploy("1.1.0", extra=("--service", "ml-service")) == 0
        assert st.history_of(stage.service("ml-service"))[-2].outcome == "interrupted"
        assert stable_of(stage, "ml-service") == f"{CANDIDATE}-r2"
        assert base != f"{CANDIDATE}-r2"


def test_a_manual_rollback_takes_over_a_live_rollout_at_once(
    tmp_path: Path,
    token_endpoint: TokenEndpoint,
    emulators: Emulators,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with open_stage(
        tmp_path, token_endpoint, emulators, analysis_interval_seconds=1, steps=[25, 100]
    ) as stage:
        base = stable_of(stage, "ml-service")
        images = [f"--image={s}={stage.image(s, '1.1.0')}" for s in SERVICES]
        argv = stage.subprocess_argv("deploy", *stage.deploy_args("1.1.0", images))
        deployer = ManagedProcess(
            argv,
            env={**stage.subprocess_env(), "CLARITY_DEPLOYER_HOST": "runner-a"},
            log_path=tmp_path / "deployer.log",
        ).start()
        try:
            wait_for(
                lambda: stage.traffic("ml-service").get(CANDIDATE) == 25,
                timeout=120,
                what="the canary to reach 25 %",
            )
            monkeypatch.setenv("CLARITY_DEPLOYER_HOST", "runner-b")
            assert stage.cli("rollback", "--env", "dev", "--to", "0.9.0") == 0
            assert stage.traffic("ml-service") == {base: 100}
            assert "taking over rollout" in capfd.readouterr().out
            code = deployer.wait(timeout=120)
        finally:
            deployer.stop()
        log = (tmp_path / "deployer.log").read_text()
        assert code == 3, log
        assert "took over" in log
        assert stage.traffic("ml-service") == {base: 100}
        assert st.ROLLOUT_ANNOTATION not in stage.service("ml-service").annotations
        outcomes = [(h.revision, h.outcome) for h in st.history_of(stage.service("ml-service"))]
        assert outcomes[-2:] == [(CANDIDATE, "interrupted"), (base, "restored")]


def test_the_lease_is_renewed_while_a_long_analysis_runs(
    tmp_path: Path, token_endpoint: TokenEndpoint, emulators: Emulators
) -> None:
    lease = 6.0
    with open_stage(
        tmp_path,
        token_endpoint,
        emulators,
        lease_seconds=lease,
        analysis_interval_seconds=2.5,
        steps=[100],
    ) as stage:
        seen: list[tuple[float, float, float]] = []  # (now, heartbeat, lease)
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                state = st.RolloutState.from_service(stage.service("ml-service"))
                if state is not None:
                    seen.append((time.time(), state.heartbeat, state.lease_seconds))
                time.sleep(0.1)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            assert stage.deploy("1.1.0", extra=("--service", "ml-service")) == 0
        finally:
            done.set()
            watcher.join(timeout=10)
        # 1 verification round, then 3 rounds 2.5 s apart at 100 %: longer than the lease.
        assert seen[-1][0] - seen[0][0] > lease
        # The lease written with the candidate also covers its creation; every renewal is short.
        renewed = [lease_s for _, beat, lease_s in seen if beat != seen[0][1]]
        assert renewed
        assert all(lease_s <= lease for lease_s in renewed)
        stale = [(now - beat, lease_s) for now, beat, lease_s in seen if now - beat >= lease_s]
        assert not stale, seen
        assert len({beat for _, beat, _ in seen}) >= 4  # renewed between the traffic writes


def test_images_outside_the_registry_or_not_pinned_are_refused_before_any_write(
    stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    for image in (
        "docker.io/someone/ml-service:latest",
        f"{REGION}-docker.pkg.dev/{PROJECT}/clarity/ml-service:1.1.0",
    ):
        code = stage.cli(
            "deploy",
            "--env",
            "dev",
            "--version",
            "1.1.0",
            f"--image=ml-service={image}",
            "--service",
            "ml-service",
        )
        assert code == 2
        assert "pinned by digest" in last_line(capfd.readouterr().err)
    assert not any(r.rpc == "UpdateService" for r in stage.double.api_log)


def test_each_retry_is_a_progress_event(stage: Stage, capfd: pytest.CaptureFixture[str]) -> None:
    stage.double.fail_next("UpdateService", status=503, times=2)
    assert stage.deploy("1.1.0", extra=("--service", "ml-service")) == 0
    retries = [e for e in events(capfd.readouterr().out) if e["kind"] == "retry"]
    assert [(e["attempt"], e["attempts"]) for e in retries] == [(1, 5), (2, 5)]
    assert "503" in retries[0]["message"]
    assert "attempt 1 of 5" in retries[0]["message"]
    assert all(e["wait_seconds"] > 0 for e in retries)


def test_rolling_back_to_or_deploying_what_already_serves_changes_and_records_nothing(
    quick_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    stage = quick_stage  # nothing is in flight when it decides there is nothing to do
    assert stage.deploy("1.1.0") == 0
    records = len(stage.records())
    writes = sum(1 for r in stage.double.api_log if r.rpc == "UpdateService")
    capfd.readouterr()
    assert stage.cli("rollback", "--env", "dev", "--to", "1.1.0") == 0
    assert "already serve" in last_line(capfd.readouterr().out)
    # A deploy run again after the one that released it (say, its CI job was cancelled while
    # it wrote its record): nothing to do.
    assert stage.deploy("1.1.0") == 0
    assert last_line(capfd.readouterr().out).endswith("already: nothing to do")
    assert sum(1 for r in stage.double.api_log if r.rpc == "UpdateService") == writes
    assert len(stage.records()) == records


def test_an_operation_error_is_permanent_and_never_reported_as_applied(
    stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    base = stable_of(stage, "ml-service")
    missing = (
        f"Revision '{CANDIDATE}' does not exist or is deleted. Update all traffic to route to "
        "currently available revisions."
    )
    stage.double.fail_operation(TO_25, code="INTERNAL", message=missing)
    assert stage.deploy("1.1.0") == 1
    assert_restored(stage, "ml-service", base)
    # Not retried: the candidate's creation, the write to 25 % (its operation failed), the
    # restore, and the record on each of the two services. A retry would add writes.
    assert [r.rpc for r in stage.double.api_log].count("UpdateService") == 5
    err = capfd.readouterr().err
    assert "does not exist or is deleted" in err
    (record,) = stage.records()
    assert record["outcome"] == "failed"


def test_an_etag_that_moves_after_each_operation_does_not_stop_a_rollout(stage: Stage) -> None:
    stage.double.restamp_etag = True
    assert stage.deploy("1.1.0") == 0
    for svc, name in SERVICES.items():
        assert stable_of(stage, svc) == f"{name}-1-1-0-c0ffee1"


def test_a_taken_revision_name_is_not_reported_as_a_concurrent_rollout(stage: Stage) -> None:
    credentials = service_account.Credentials.from_service_account_file(
        str(stage.terraform_credentials), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    api = CloudRunApi.connect(credentials, endpoint=stage.double.endpoint)
    path = ServicePath(PROJECT, REGION, ML)
    service = stage.service("ml-service")
    template = run_v2.RevisionTemplate.deserialize(
        run_v2.RevisionTemplate.serialize(service.template)
    )
    template.revision = st.short_name(service.latest_ready_revision)  # taken...
    template.containers[0].image = "local/ml-service:9.9.9"  # ...by another configuration
    split = st.current_split(service)
    assert split is not None
    change = TrafficChange(split, None, template=template)

    async def write() -> None:
        await api.update_service(path, service, change, timeout=30)

    with pytest.raises(RevisionNameTaken, match="already exists with a different configuration"):
        anyio.run(write)
    assert not issubclass(RevisionNameTaken, ConcurrentRollout)
    assert stage.double.api_log[-1].status == 409
