"""What the CLI says and does when things go wrong after the happy path: a rollback that cannot
restore traffic, revisions that stopped answering, an API that refuses or does not know the
service, and the output options an operator reaches for. Against the Cloud Run double with the
fixture app as every revision, through the real CLI."""

from __future__ import annotations

import pytest
from clarity_delivery import _state as st

from tests.delivery.stage import SERVICES, Stage, events, kinds

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
    fixture_stage.double.deny("logging.logEntries.create")
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
    (record,) = fixture_stage.records()
    assert record["outcome"] == "failed"
    # Bookkeeping failed too (the service and Cloud Logging), said so in error events, and
    # changed nothing.
    (unrecorded,) = [e for e in events(out) if e["message"].startswith("could not record")]
    assert unrecorded["kind"] == "error"
    assert unrecorded["message"].startswith(f"could not record rollout {record['id']} on {ML}: ")
    (unlogged,) = [e for e in events(out) if e["message"].startswith("could not log")]
    assert unlogged["kind"] == "error"
    assert unlogged["message"].startswith(
        f"could not log rollout {record['id']} to Cloud Logging: "
    )
    assert "logging.logEntries.create" in unlogged["message"]
    assert events(out)[-1]["outcome"] == "failed"


def test_a_rollback_to_revisions_that_stopped_answering_fails_its_health_checks(
    quick_fixture_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    stage = quick_fixture_stage  # what it checks takes no operation in flight
    base = {svc: stable_of(stage, svc) for svc in SERVICES}
    assert stage.deploy("1.1.0") == 0
    for revision in base.values():
        stage.double.kill_revision(revision)
    assert stage.cli("rollback", "--env", "dev", "--to", "0.9.0") == 1
    assert "rolled back to 0.9.0, but health checks fail" in capfd.readouterr().err
    assert {svc: stable_of(stage, svc) for svc in SERVICES} == base
    assert stage.records()[-1]["outcome"] == "failed"


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
    quick_fixture_stage: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    stage = quick_fixture_stage  # what it checks takes no operation in flight
    image = stage.image("ml-service", "1.1.0")
    argv = ["deploy", "--env", "dev", "--version", "1.1.0", "--service", "ml-service",
            "--allow-image-override", f"--image=ml-service={image}"]  # fmt: skip

    assert stage.cli(*argv, output="text") == 0
    assert stable_of(stage, "ml-service") == f"{ML}-1-1-0"  # no commit in the name
    revision = stage.double.revision(f"{ML}-1-1-0")
    assert st.COMMIT_ANNOTATION not in revision.annotations
    out = capfd.readouterr().out
    assert " is stable at 100%" in out  # one readable line per event, not JSON
    assert not out.lstrip().startswith("{")


def test_a_release_its_redeploy_and_its_rollback_as_the_operator_sees_them(
    quick_fixture_stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole life of a release through the CLI, each run's progress events, records and
    revision history checked: they are what log pipelines, ``report`` and ``rollback --to
    previous`` read."""
    stage = quick_fixture_stage
    base = {svc: stable_of(stage, svc) for svc in SERVICES}
    new = {svc: f"{SERVICES[svc]}-1-1-0-c0ffee1" for svc in SERVICES}

    # The release: per service the candidate, its pre-traffic check, three canary steps.
    assert stage.deploy("1.1.0") == 0
    out = capsys.readouterr().out
    steps = ["traffic", "probe", "probe", "probe", "analysis"] * 3
    per_service = ["step", "ready", "probe", "analysis", *steps, "done"]
    assert kinds(out) == ["plan", "override", "override", *per_service * 2, "done", "prune"]
    moves = [(e["service"], e["percent"]) for e in events(out) if e["kind"] == "traffic"]
    assert moves == [(svc, p) for svc in SERVICES for p in (25, 50, 100)]
    *_, released, pruned = events(out)
    assert released["outcome"] == "succeeded"
    assert released["message"].startswith("release 1.1.0 is stable in dev (")
    assert pruned["deleted"] == []
    (record,) = stage.records()
    plan, *overrides = [e for e in events(out) if e["kind"] in {"plan", "override"}]
    assert (plan["rollout"], plan["environment"]) == (record["id"], "dev")
    assert plan["message"].startswith("Release 1.1.0 (c0ffee1) to dev [clarity-e2e/us-central1]")
    assert [o["rollout"] for o in overrides] == [record["id"]] * 2
    *stable, _ = [e for e in events(out) if e["kind"] == "done"]
    assert [(e["service"], e["revision"]) for e in stable] == list(new.items())
    assert record["images"] == {svc: f"local/{svc}:1.1.0" for svc in SERVICES}
    assert record["ended_at"] >= record["started_at"]
    assert {k: record[k] for k in ("kind", "outcome", "version", "commit", "strategy")} == {
        "kind": "rollout", "outcome": "succeeded", "version": "1.1.0", "commit": "c0ffee1",
        "strategy": "canary",
    }  # fmt: skip
    assert record["services"] == list(SERVICES)
    assert record["error"] is None
    assert record["time_to_rollback_seconds"] is None
    assert [
        (s["service"], s["percent"], s["kind"], s["rounds"], s["failed_rounds"], s["decided_by"])
        for s in record["steps"]
    ] == [
        (svc, percent, "step", 1 if percent == 0 else 3, 0, "probes")
        for svc in SERVICES
        for percent in (0, 25, 50, 100)
    ]
    for svc in SERVICES:
        assert [(h.version, h.revision, h.outcome) for h in st.history_of(stage.service(svc))] == [
            ("1.1.0", new[svc], "succeeded")
        ]
        assert [r.id for r in st.ledger_of(stage.service(svc))] == [record["id"]]

    # ``report`` reads the services, not the ledger file.
    assert stage.cli("report", "--env", "dev") == 0
    out = capsys.readouterr().out
    header, row, targets, _, last, *report_steps = out.strip().splitlines()
    assert header.split()[:3] == ["environment", "rollouts", "success"]
    assert row.split()[:3] == ["dev", "1", "100.0%"]
    assert row.split()[-3:] == ["-", "-", "-"]  # no rollback yet: no rollback times, no MTTR
    assert targets.startswith("targets: success > 99%")
    # Then the environment's last rollout, step by step, with what decided each step.
    assert last.startswith("last rollout in dev: 1.1.0 succeeded (")
    assert [s.split(":")[0].split() for s in report_steps] == [
        [svc, f"{percent}%"] for svc in SERVICES for percent in (0, 25, 50, 100)
    ]
    assert all(s.endswith("decided by probes") for s in report_steps)

    # The same release again: it serves already, so nothing is written or recorded.
    assert stage.deploy("1.1.0") == 0
    out = capsys.readouterr().out
    assert kinds(out) == ["plan", "override", "override", "done"]
    done = events(out)[-1]
    assert done["outcome"] == "unchanged"
    serving = ", ".join(f"{svc}: {new[svc]}" for svc in SERVICES)
    assert (
        done["message"] == f"release 1.1.0 already serves every service: {serving}; nothing to do"
    )
    assert len(stage.records()) == 1

    # Back to the previous release: consumers first, one write each, then the health checks.
    assert stage.cli("rollback", "--env", "dev", "--to", "previous") == 0
    out = capsys.readouterr().out
    assert kinds(out) == ["plan", "traffic", "traffic", "probe", "probe", "done"]
    order = list(reversed(SERVICES))
    plan, *moved = [e for e in events(out) if e["kind"] in {"plan", "traffic"}]
    assert plan["message"] == "rollback of " + ", ".join(
        f"{svc} → {base[svc]} (0.9.0)" for svc in order
    )
    assert [(e["service"], e["message"]) for e in moved] == [
        (svc, f"{svc}: 100% → {base[svc]} (version 0.9.0)") for svc in order
    ]
    assert events(out)[-1]["message"].startswith("rollback to previous done in ")
    rollout, rollback = stage.records()
    assert {k: rollback[k] for k in ("kind", "outcome", "version", "strategy", "steps")} == {
        "kind": "rollback", "outcome": "succeeded", "version": "previous",
        "strategy": "rollback", "steps": [],
    }  # fmt: skip
    assert rollback["services"] == list(SERVICES)
    assert 0 < rollback["time_to_rollback_seconds"] <= rollback["duration_seconds"]
    for svc in SERVICES:
        service = stage.service(svc)
        assert [(h.version, h.revision, h.outcome) for h in st.history_of(service)] == [
            ("1.1.0", new[svc], "succeeded"),
            ("0.9.0", base[svc], "restored"),
        ]
        assert [r.id for r in st.ledger_of(service)] == [rollout["id"], rollback["id"]]
        assert stage.traffic(svc)[base[svc]] == 100
        # What served before stays tagged, for an instant switch back.
        assert st.tagged_revisions(service)["previous"] == new[svc]

    # Rolling back to what serves is no rollback, and is not recorded as one.
    assert stage.cli("rollback", "--env", "dev", "--to", "0.9.0") == 0
    out = capsys.readouterr().out
    assert kinds(out) == ["done"]
    served = ", ".join(f"{svc}: {base[svc]}" for svc in order)
    assert events(out)[0]["message"] == f"every service already serves 0.9.0 ({served})"
    assert len(stage.records()) == 2
