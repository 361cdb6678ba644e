"""What the CLI says and does when things go wrong after the happy path: a rollback that cannot
restore traffic, revisions that stopped answering, an API that refuses or does not know the
service, and the output options an operator reaches for. Against the Cloud Run double with the
fixture app as every revision, through the real CLI."""

from __future__ import annotations

import json

import pytest
from clarity_delivery import _state as st

from tests.delivery.stage import SERVICES, Stage

pytestmark = [pytest.mark.delivery, pytest.mark.timeout(180)]

ML = SERVICES["ml-service"]


def stable_of(stage: Stage, service: str) -> str:
    (revision,) = [r for r, p in stage.traffic(service).items() if p == 100]
    return revision


def test_a_rollback_that_cannot_restore_traffic_says_how_to_do_it_by_hand(
    fixture_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    """The candidate fails verification; the write that would restore traffic is refused."""
    writes = 0

    def second_write_is_denied() -> None:
        nonlocal writes
        writes += 1
        if writes == 2:  # the candidate created and tagged in one write, then the restore
            fixture_stage.double.deny("run.services.update")

    fixture_stage.double.before_next("UpdateService", second_write_is_denied, times=2)
    image = fixture_stage.image("ml-service", "1.1.0", "health-500")
    code = fixture_stage.cli(
        "deploy", "--env", "dev", "--version", "1.1.0", "--service", "ml-service",
        "--allow-image-override",
        f"--image=ml-service={image}",
    )  # fmt: skip
    assert code == 5
    out, err = capfd.readouterr()
    assert f"could not restore traffic of {ML}" in err
    assert f"gcloud run services update-traffic {ML}" in err
    assert "could not record rollout" in out  # bookkeeping failed too, and changed nothing
    (record,) = fixture_stage.records()
    assert record["outcome"] == "failed"


def test_a_rollback_to_revisions_that_stopped_answering_fails_its_health_checks(
    fixture_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    base = {svc: stable_of(fixture_stage, svc) for svc in SERVICES}
    assert fixture_stage.deploy("1.1.0") == 0
    for revision in base.values():
        fixture_stage.double.kill_revision(revision)
    assert fixture_stage.cli("rollback", "--env", "dev", "--to", "0.9.0") == 1
    assert "rolled back to 0.9.0, but health checks fail" in capfd.readouterr().err
    assert {svc: stable_of(fixture_stage, svc) for svc in SERVICES} == base
    assert fixture_stage.records()[-1]["outcome"] == "failed"


def test_health_check_fails_when_a_service_stops_answering(
    fixture_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    assert fixture_stage.cli("health-check", "--env", "dev") == 0
    fixture_stage.double.kill_revision(stable_of(fixture_stage, "ml-service"))
    assert fixture_stage.cli("health-check", "--env", "dev") == 1
    assert "health checks failed: ml-service" in capfd.readouterr().err


def test_health_check_against_given_urls_needs_no_api(fixture_stage: Stage) -> None:
    urls = [f"--url={svc}={fixture_stage.service(svc).uri}" for svc in SERVICES]
    before = len(fixture_stage.double.api_log)
    assert fixture_stage.cli("health-check", "--env", "dev", *urls) == 0
    assert len(fixture_stage.double.api_log) == before


def test_rollback_to_previous_with_no_earlier_release_changes_nothing(
    fixture_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    before = {svc: fixture_stage.traffic(svc) for svc in SERVICES}
    assert fixture_stage.cli("rollback", "--env", "dev", "--to", "previous") == 2
    assert "no previous healthy revision to roll back to" in capfd.readouterr().err
    assert {svc: fixture_stage.traffic(svc) for svc in SERVICES} == before


@pytest.mark.parametrize(
    ("status", "times", "expected"),
    [
        # google-auth refreshes the token and retries twice on 401 before giving up.
        (401, 3, (4, "the credentials were rejected or could not be refreshed")),
        (404, 1, (2, "does not exist in project clarity-e2e")),
        (400, 1, (1, "could not read service")),
    ],
)
def test_api_refusals_map_to_their_exit_codes(
    fixture_stage: Stage,
    capfd: pytest.CaptureFixture[str],
    status: int,
    times: int,
    expected: tuple[int, str],
) -> None:
    code, message = expected
    fixture_stage.double.fail_next("GetService", status=status, times=times)
    assert fixture_stage.cli("status", "--env", "dev") == code
    assert message in capfd.readouterr().err


def test_debug_shows_the_traceback_of_an_expected_failure(
    fixture_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    assert fixture_stage.cli("rollback", "--env", "dev", "--to", "7.7.7", "--debug") == 2
    err = capfd.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "VersionNotFound" in err


def test_a_release_without_a_commit_and_text_progress(
    fixture_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    image = fixture_stage.image("ml-service", "1.1.0")
    argv = ["deploy", "--env", "dev", "--version", "1.1.0", "--service", "ml-service",
            "--allow-image-override", f"--image=ml-service={image}"]  # fmt: skip

    assert fixture_stage.cli(*argv, output="text") == 0
    assert stable_of(fixture_stage, "ml-service") == f"{ML}-1-1-0"  # no commit in the name
    revision = fixture_stage.double.revision(f"{ML}-1-1-0")
    assert st.COMMIT_ANNOTATION not in revision.annotations
    out = capfd.readouterr().out
    assert " is stable at 100%" in out  # one readable line per event, not JSON
    assert not out.lstrip().startswith("{")


def test_report_from_the_services_as_a_table(
    fixture_stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fixture_stage.deploy("1.1.0") == 0
    capsys.readouterr()
    assert fixture_stage.cli("report", "--env", "dev") == 0
    out = capsys.readouterr().out
    header, row, targets, _, last, *steps = out.strip().splitlines()
    assert header.split()[:3] == ["environment", "rollouts", "success"]
    assert row.split()[:3] == ["dev", "1", "100.0%"]
    assert row.split()[-3:] == ["-", "-", "-"]  # no rollback yet: no rollback times, no MTTR
    assert targets.startswith("targets: success > 99%")
    # Then the environment's last rollout, step by step, with what decided each step.
    assert last.startswith("last rollout in dev: 1.1.0 succeeded (")
    assert [s.split(":")[0].split() for s in steps] == [
        [svc, f"{percent}%"] for svc in SERVICES for percent in (0, 25, 50, 100)
    ]
    assert all(s.endswith("decided by probes") for s in steps)
    assert json.loads(fixture_stage.ledger.read_text().splitlines()[0])["outcome"] == "succeeded"
