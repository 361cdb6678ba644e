"""The library's decisions where a plausible mistake would go unnoticed by the broad rollout tests.

Each test pins one choice that a mutation of the code flips: which earlier release ``--to
previous`` means (never one restored because a later service failed), that a named rollback
skips a failed revision and takes the newest good one, that revision names stay unique
past the second attempt, that a write whose answer was lost is recognised, and that a concurrent
writer is stopped by the etag itself. They run against the Cloud Run double with its fixture app
as every revision (the backend's contract, no emulators), through the real CLI; those whose
subject is which release or name is chosen, not a write in flight, with 50 ms operations.
"""

from __future__ import annotations

import pytest
from clarity_delivery import _state as st
from google.cloud import run_v2
from google.protobuf import field_mask_pb2

from tests.delivery.stage import PROJECT, REGION, SERVICES, Stage, events
from tests.doubles_tests.helpers import FAST_POLL

pytestmark = [pytest.mark.delivery, pytest.mark.timeout(180)]

ML = SERVICES["ml-service"]


def stable_of(stage: Stage, service: str) -> str:
    (revision,) = [r for r, p in stage.traffic(service).items() if p == 100]
    return revision


def deploy(stage: Stage, version: str, commit: str, fault: str | None = None) -> int:
    images = [
        f"--image={svc}={stage.image(svc, version + '-' + commit, fault if svc == 'ml-service' else None)}"
        for svc in SERVICES
    ]
    return stage.cli(
        "deploy", "--env", "dev", "--version", version, "--commit", commit,
        "--allow-image-override", *images,
    )  # fmt: skip


def updates(stage: Stage) -> list[int]:
    return [r.status for r in stage.double.api_log if r.rpc == "UpdateService"]


def test_rollback_to_previous_picks_the_newest_earlier_release(
    quick_fixture_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    stage = quick_fixture_stage
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        assert stage.deploy(version) == 0
    # 1.4.0 releases ml-service, then fails in api-gateway: ml-service is restored too, and its
    # 1.4.0 revision, the newest, is no release to go back to.
    capfd.readouterr()
    assert stage.deploy("1.4.0", faults={"api-gateway": "health-500"}) == 1
    serving = {svc: f"{name}-1-3-0-c0ffee1" for svc, name in SERVICES.items()}
    out, err = capfd.readouterr()
    _, unwound, back, restoring, restored = [
        e["message"] for e in events(out) if e["kind"] == "rollback"
    ]
    assert unwound.startswith("api-gateway: candidate failed verification before taking ")
    assert unwound.endswith(f"; restoring {serving['api-gateway']}")
    assert back == f"api-gateway: {serving['api-gateway']} serves 100% again"
    assert restoring == (
        f"ml-service: restoring {serving['ml-service']} because a later service failed"
    )
    assert restored.startswith(f"{serving['ml-service']} serves 100% of {ML} again (api-gat")
    done = events(out)[-1]
    assert (done["kind"], done["outcome"]) == ("done", "rolled_back")
    assert done["message"] == "release 1.4.0 to dev: rolled_back"
    assert err.rstrip().endswith(
        "is recorded as failed. Production: "
        + "; ".join(f"{serving[svc]} serves 100% of {SERVICES[svc]} again" for svc in SERVICES)
        + ". Fix the release and deploy a new version."
    )
    failed = stage.records()[-1]
    assert (failed["version"], failed["outcome"]) == ("1.4.0", "rolled_back")
    assert 0 < failed["time_to_rollback_seconds"] <= failed["duration_seconds"]
    assert {svc: stable_of(stage, svc) for svc in SERVICES} == serving
    assert stage.cli("rollback", "--env", "dev", "--to", "previous") == 0
    for svc, name in SERVICES.items():
        assert stable_of(stage, svc) == f"{name}-1-2-0-c0ffee1"
    # A dry run of the clean-up names what it would delete, and deletes none of it.
    capfd.readouterr()
    previews = []
    for _ in range(2):
        assert stage.cli("prune", "--env", "dev", "--keep", "1", "--dry-run") == 0
        previews.append([e for e in events(capfd.readouterr().out) if e["kind"] == "prune"])
    would = [e["message"] for e in previews[0] if "would delete" in e["message"]]
    assert would
    assert [e["message"] for e in previews[1]] == [e["message"] for e in previews[0]]


def test_a_named_rollback_skips_a_revision_whose_release_failed(
    quick_fixture_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    good, bad = f"{ML}-1-1-0-ddddddd", f"{ML}-1-1-0-bbbbbbb"
    # Two good builds of 1.1.0: the newer one is what ``--to 1.1.0`` means (the library sorts
    # the revisions newest first itself rather than rely on the order of the API's pages).
    assert deploy(quick_fixture_stage, "1.1.0", "aaaaaaa") == 0
    assert deploy(quick_fixture_stage, "1.1.0", "ddddddd") == 0
    # A rebuild of 1.1.0 that fails: its revision is newer, Ready, carries 1.1.0, and failed.
    capfd.readouterr()
    assert deploy(quick_fixture_stage, "1.1.0", "bbbbbbb", fault="health-500") == 1
    # The error says what production looks like: the first service back, the other untouched.
    err = capfd.readouterr().err.rstrip()
    assert err.endswith(
        f"{bad} is recorded as failed. Production: {good} serves 100% of {ML} again; "
        f"{SERVICES['api-gateway']} was not touched. Fix the release and deploy a new version."
    )
    failed = quick_fixture_stage.records()[-1]
    assert failed["outcome"] == "rolled_back"
    assert failed["error"].startswith("ml-service: candidate failed verification before taking")
    history = st.history_of(quick_fixture_stage.service("ml-service"))
    assert (history[-1].revision, history[-1].outcome) == (bad, "rolled_back")
    assert deploy(quick_fixture_stage, "1.2.0", "ccccccc") == 0
    assert quick_fixture_stage.cli("rollback", "--env", "dev", "--to", "1.1.0") == 0
    assert stable_of(quick_fixture_stage, "ml-service") == good


def test_revision_names_stay_unique_after_two_failed_attempts(quick_fixture_stage: Stage) -> None:
    first = f"{ML}-1-1-0-c0ffee1"
    for _ in range(2):
        assert deploy(quick_fixture_stage, "1.1.0", "c0ffee1", fault="crash-on-start") == 1
    assert deploy(quick_fixture_stage, "1.1.0", "c0ffee1") == 0
    assert stable_of(quick_fixture_stage, "ml-service") == f"{first}-r3"
    names = {r.rsplit("/", 1)[-1] for r in quick_fixture_stage.double.revision_processes()}
    assert {first, f"{first}-r2", f"{first}-r3"} <= names


def test_a_candidate_write_that_landed_while_its_answer_was_lost_is_recognised(
    fixture_stage: Stage,
) -> None:
    """The retry meets our own new etag (409): the service already carries the candidate, so the
    rollout goes on instead of reporting another rollout."""
    fixture_stage.double.lose_answer("UpdateService", status=503)
    assert fixture_stage.deploy("1.1.0", extra=("--service", "ml-service")) == 0
    assert updates(fixture_stage)[:3] == [503, 409, 200]
    assert stable_of(fixture_stage, "ml-service") == f"{ML}-1-1-0-c0ffee1"


def test_a_traffic_write_that_landed_while_its_answer_was_lost_is_recognised(
    fixture_stage: Stage,
) -> None:
    base = stable_of(fixture_stage, "ml-service")
    assert fixture_stage.deploy("1.1.0") == 0
    before = len(updates(fixture_stage))
    fixture_stage.double.lose_answer("UpdateService", status=503)
    assert fixture_stage.cli("rollback", "--env", "dev", "--to", "0.9.0") == 0
    assert updates(fixture_stage)[before : before + 3] == [503, 409, 200]
    assert stable_of(fixture_stage, "ml-service") == base


def test_a_concurrent_writer_is_refused_by_the_etag_not_only_by_the_rollout_annotation(
    fixture_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    """Someone moves the traffic between the rollout's read and its first write, without any
    rollout annotation: only the etag the rollout sends can notice. (A change of a field no
    rollout owns, a label, moves the etag too but is no conflict: the write is made again on
    the fresh service; the fault matrix's concurrent writer.)"""
    client = fixture_stage.terraform_client()
    name = f"projects/{PROJECT}/locations/{REGION}/services/{ML}"
    before = fixture_stage.traffic("ml-service")
    (stable,) = before

    def another_writer() -> None:
        service = client.get_service(name=name)
        service.traffic = [
            run_v2.TrafficTarget(
                type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                revision=stable,
                percent=100,
                tag="hold",
            )
        ]
        mask = field_mask_pb2.FieldMask(paths=["traffic"])
        client.update_service(service=service, update_mask=mask).result(
            timeout=30, polling=FAST_POLL
        )

    fixture_stage.double.before_next("UpdateService", another_writer)
    assert fixture_stage.deploy("1.1.0", extra=("--service", "ml-service")) == 3
    assert f"someone else changed the traffic of {ML}" in capfd.readouterr().err
    service = fixture_stage.service("ml-service")
    assert st.tagged_revisions(service)["hold"] == stable
    assert st.ROLLOUT_ANNOTATION not in service.annotations
    assert fixture_stage.traffic("ml-service") == before
    # The rollout is recorded as a conflict in the ledger file, and on no service: the service
    # belongs to whoever changed it.
    assert [r["outcome"] for r in fixture_stage.records()] == ["conflict"]
    assert st.ledger_of(service) == []
    assert f"{ML}-1-1-0-c0ffee1" not in {
        r.rsplit("/", 1)[-1] for r in fixture_stage.double.revision_processes()
    }
